//! The notice side of one native-protocol connection: its subscriptions, the notices they
//! receive and the Acks coming back. The connection task hands it Subscribe, Unsubscribe and
//! Ack, and polls it for the next Notice to write. Nothing here waits: joining and leaving a
//! group, acknowledging, are messages to the group's dispatcher, and notices are taken from
//! channels that the dispatchers fill without waiting either — so the connection keeps
//! reading (and answering Pings) whatever the backlog.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;

use super::{Group, Member, Notices};
use crate::protocol::{Message, Notice, Outcome, Response, Subscribe, Unsubscribe};

/// Subscriptions one connection may have open at once.
pub const MAX_SUBSCRIPTIONS: usize = 64;
/// Characters of a client-supplied name quoted back in a `detail`: the detail must fit its
/// wire type whatever the client sent.
const QUOTED: usize = 64;

/// One subscription: a member of its group per institution it covers.
struct Subscription {
    id: u64,
    /// Opened with a group field: its notices carry its id.
    tagged: bool,
    members: Vec<Member>,
}

/// The subscriptions of one connection.
pub(crate) struct Subscriptions {
    notices: Notices,
    subs: Vec<Subscription>,
    /// Notices written to the client and not acknowledged: notice id → its institution and
    /// the subscriptions that were sent it. Bounded: each member holds at most its window.
    held: HashMap<u64, (Arc<str>, Vec<u64>)>,
    /// Where polling starts (rotates, so no subscription starves the others).
    turn: usize,
}

fn response(id: u64, outcome: Outcome, detail: impl Into<String>) -> Message {
    Message::Response(Response {
        id,
        outcome,
        detail: detail.into(),
        telegram: Bytes::new(),
    })
}

/// A client-supplied name as quoted in a detail: at most [`QUOTED`] characters.
fn quoted(name: &str) -> String {
    let mut shown: String = name.chars().take(QUOTED).collect();
    if shown.len() < name.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}

impl Subscriptions {
    /// No subscription yet.
    pub(crate) fn new(notices: Notices) -> Subscriptions {
        Subscriptions {
            notices,
            subs: Vec::new(),
            held: HashMap::new(),
            turn: 0,
        }
    }

    /// Opens a subscription; the Response to send.
    pub(crate) fn subscribe(&mut self, s: Subscribe) -> Message {
        let rejected = |detail: String| response(s.id, Outcome::Rejected, detail);
        if self.subs.iter().any(|sub| sub.id == s.id) {
            return rejected(format!(
                "id {} is already an open subscription on this connection",
                s.id
            ));
        }
        if self.subs.len() >= MAX_SUBSCRIPTIONS {
            return rejected(format!(
                "at most {MAX_SUBSCRIPTIONS} subscriptions per connection"
            ));
        }
        let mut institutions: Vec<&str> = if s.institution == "*" {
            self.notices.institutions().collect()
        } else {
            self.notices
                .institutions()
                .filter(|i| *i == s.institution)
                .collect()
        };
        if institutions.is_empty() {
            return rejected(format!("unknown institution {}", quoted(&s.institution)));
        }
        institutions.sort_unstable();
        let group = match s.group.as_deref() {
            None | Some("") => Group::Broadcast,
            Some(name) => Group::Named(name),
        };
        let members: Result<Vec<Member>, _> = institutions
            .into_iter()
            .map(|i| self.notices.join(group, i))
            .collect();
        match members {
            Ok(members) => {
                self.subs.push(Subscription {
                    id: s.id,
                    tagged: s.group.is_some(),
                    members,
                });
                response(s.id, Outcome::Ok, "subscribed")
            }
            // The members that did join leave again as they are dropped.
            Err(e) => rejected(e.to_string()),
        }
    }

    /// Ends a subscription; the Response to send. What it was sent and not acknowledged
    /// goes to another member of its group.
    pub(crate) fn unsubscribe(&mut self, u: Unsubscribe) -> Message {
        let Some(at) = self.subs.iter().position(|s| s.id == u.subscription) else {
            return response(
                u.id,
                Outcome::Rejected,
                format!("no subscription {} on this connection", u.subscription),
            );
        };
        // Its members leave as they are dropped.
        self.subs.remove(at);
        self.held.retain(|_, (_, subs)| {
            subs.retain(|s| *s != u.subscription);
            !subs.is_empty()
        });
        response(u.id, Outcome::Ok, "unsubscribed")
    }

    /// An Ack: applies to every subscription of this connection that was sent the notice;
    /// an id it was not sent (or already acknowledged) is ignored.
    pub(crate) fn ack(&mut self, notice_id: u64) {
        let Some((institution, subs)) = self.held.remove(&notice_id) else {
            return;
        };
        for sub in self.subs.iter().filter(|s| subs.contains(&s.id)) {
            if let Some(member) = sub.members.iter().find(|m| *m.institution() == institution) {
                member.ack(notice_id);
            }
        }
    }

    /// The next notice to write to the client; pending while there is none (forever without
    /// a subscription).
    pub(crate) async fn next(&mut self) -> Notice {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Notice> {
        let slots: Vec<(usize, usize)> = self
            .subs
            .iter()
            .enumerate()
            .flat_map(|(s, sub)| (0..sub.members.len()).map(move |m| (s, m)))
            .collect();
        let mut stopped = Vec::new();
        let mut found = None;
        for k in 0..slots.len() {
            let (s, m) = slots[(self.turn + k) % slots.len()];
            match self.subs[s].members[m].poll_recv(cx) {
                Poll::Ready(Some(notice)) => {
                    self.turn = (self.turn + k + 1) % slots.len();
                    found = Some((s, m, notice));
                    break;
                }
                // Delivery stopped (shutdown): nothing more will come from it.
                Poll::Ready(None) => stopped.push((s, m)),
                Poll::Pending => {}
            }
        }
        for &(s, m) in stopped.iter().rev() {
            self.subs[s].members.remove(m);
        }
        let Some((s, m, stored)) = found else {
            return Poll::Pending;
        };
        // `stopped` only holds slots polled before `found`'s, but removing them may have
        // shifted its index: find its member again by position among the survivors.
        let shift = stopped
            .iter()
            .filter(|&&(ss, sm)| ss == s && sm < m)
            .count();
        let sub = &self.subs[s];
        let institution = sub.members[m - shift].institution().clone();
        let (_, holders) = self
            .held
            .entry(stored.id)
            .or_insert_with(|| (institution.clone(), Vec::new()));
        if !holders.contains(&sub.id) {
            holders.push(sub.id);
        }
        Poll::Ready(Notice {
            institution: institution.to_string(),
            notice_id: stored.id,
            telegram: stored.telegram,
            subscription: sub.tagged.then_some(sub.id),
        })
    }
}
