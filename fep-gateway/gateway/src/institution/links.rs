//! The links of one institution as its actor sees them: which connections are up, which can
//! send, and the writer queue of each (owned by the link task; the actor only queues).
//!
//! An outbound link has one connection at a time: a new one replaces the old. An inbound link
//! keeps every connection it accepted (`count` in the config), each with its own writer queue;
//! the link is down only when the last one closes.
//!
//! A `per_telegram` link's task reports one standing "connection" while it can work (inbound:
//! listening; outbound: not failing to connect), whose queue takes the telegrams to send. An
//! inbound one's telegrams each bring their own reply queue ([`Links::answer_on`]), held only
//! while the actor handles that telegram.

use std::net::SocketAddr;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{LinkState, LinkStatus};
use crate::domain::RejectReason;
use crate::settings::{Direction, LinkSettings, Mode, Role};

/// One connection of a link.
#[derive(Debug)]
struct Conn {
    id: u64,
    sender: mpsc::Sender<Bytes>,
}

/// One configured link.
#[derive(Debug)]
struct Link {
    name: String,
    direction: Direction,
    /// Inbound: every accepted connection is kept; outbound: a new one replaces the old.
    inbound: bool,
    /// The connections up, oldest first (empty while down).
    conns: Vec<Conn>,
    /// The connection the last frame on this link came in on.
    last_in: Option<u64>,
    /// Round robin over the connections.
    next: usize,
    can_send: bool,
    /// Inbound links: the bound address.
    listen: Option<SocketAddr>,
    /// One connection per telegram: answers never depend on the standing connection.
    per_telegram: bool,
    /// Per-telegram inbound: the connection of the telegram being handled.
    reply: Option<mpsc::Sender<Bytes>>,
}

/// A link whose last connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Closed {
    /// The link's name.
    pub name: String,
    /// Answers come back on the same connection (duplex): requests written to it will not be
    /// answered.
    pub duplex: bool,
}

/// All links of an institution; requests go round robin over the send links that are up.
#[derive(Debug)]
pub(crate) struct Links {
    links: Vec<Link>,
    next: usize,
}

impl Links {
    /// The configured links, all down.
    pub fn new(settings: &[LinkSettings]) -> Links {
        let links = settings
            .iter()
            .map(|l| Link {
                name: l.name.clone(),
                direction: l.direction,
                inbound: matches!(l.role, Role::Inbound { .. }),
                conns: Vec::new(),
                last_in: None,
                next: 0,
                can_send: false,
                listen: match &l.role {
                    Role::Inbound { listen, .. } => Some(*listen),
                    Role::Outbound { .. } => None,
                },
                per_telegram: matches!(l.mode, Mode::PerTelegram(_)),
                reply: None,
            })
            .collect();
        Links { links, next: 0 }
    }

    /// Inbound link `link` listens on `addr` (the real port when 0 was configured).
    pub fn listening(&mut self, link: usize, addr: SocketAddr) {
        if let Some(l) = self.links.get_mut(link) {
            l.listen = Some(addr);
        }
    }

    /// Connection `conn` of `link` is up; returns the link's name. On an inbound link it is
    /// one more connection; on an outbound link it replaces the previous one.
    pub fn up(
        &mut self,
        link: usize,
        conn: u64,
        sender: mpsc::Sender<Bytes>,
        can_send: bool,
    ) -> Option<&str> {
        let l = self.links.get_mut(link)?;
        if l.inbound {
            l.conns.retain(|c| c.id != conn);
        } else {
            l.conns.clear();
        }
        l.conns.push(Conn { id: conn, sender });
        l.can_send = can_send;
        Some(&l.name)
    }

    /// Connection `conn` of `link` closed; `Some` when it was the link's last connection, so
    /// the link is now down. `None` when the link stays up on other connections, when `conn`
    /// is not one of its connections (an older connection of an outbound link that has been
    /// replaced), or the link is unknown.
    pub fn down(&mut self, link: usize, conn: u64) -> Option<Closed> {
        let l = self.links.get_mut(link)?;
        let i = l.conns.iter().position(|c| c.id == conn)?;
        l.conns.remove(i);
        if l.last_in == Some(conn) {
            l.last_in = None;
        }
        if !l.conns.is_empty() {
            return None;
        }
        l.can_send = false;
        Some(Closed {
            name: l.name.clone(),
            // A per-telegram link's answers come on the telegrams' own connections, which the
            // standing one going down does not close.
            duplex: matches!(l.direction, Direction::Both) && !l.per_telegram,
        })
    }

    /// A frame came in on connection `conn` of `link`: what answers it goes back there.
    pub fn received(&mut self, link: usize, conn: u64) {
        if let Some(l) = self.links.get_mut(link) {
            l.last_in = Some(conn);
        }
    }

    /// A telegram came in on its own connection of per-telegram `link`: until
    /// [`Links::answered`], [`Links::reply_sender`] gives that connection's queue.
    pub fn answer_on(&mut self, link: usize, reply: mpsc::Sender<Bytes>) {
        if let Some(l) = self.links.get_mut(link) {
            l.reply = Some(reply);
        }
    }

    /// The telegram given to [`Links::answer_on`] is handled: its connection closes once the
    /// answers taken for it are written (this drops the actor's own handle on it).
    pub fn answered(&mut self, link: usize) {
        if let Some(l) = self.links.get_mut(link) {
            l.reply = None;
        }
    }

    /// Whether any send link is up.
    pub fn can_send(&self) -> bool {
        self.links.iter().any(|l| l.can_send)
    }

    /// Whether any link the institution's answers arrive on (`recv` or `both`) is up.
    pub fn can_recv(&self) -> bool {
        self.links
            .iter()
            .any(|l| !l.conns.is_empty() && l.direction.can_recv())
    }

    /// Queues a telegram on the next up send link (round robin over links, and over the
    /// connections of each); returns the link.
    pub fn write(&mut self, telegram: Bytes) -> Result<usize, RejectReason> {
        let n = self.links.len();
        let mut full = false;
        for i in 0..n {
            let idx = (self.next + i) % n;
            let link = &mut self.links[idx];
            if !link.can_send {
                continue;
            }
            let m = link.conns.len();
            for j in 0..m {
                let c = (link.next + j) % m;
                match link.conns[c].sender.try_send(telegram.clone()) {
                    Ok(()) => {
                        link.next = c + 1;
                        self.next = idx + 1;
                        return Ok(idx);
                    }
                    Err(mpsc::error::TrySendError::Full(_)) => full = true,
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                }
            }
        }
        Err(if full {
            RejectReason::SendLinksFull
        } else {
            RejectReason::Down
        })
    }

    /// Where to acknowledge the frame that just came in on `link`: the connection it came in
    /// on (see [`Links::received`]) if it is still up, else another connection of that link,
    /// else any up send link.
    pub fn reply_sender(&self, link: usize) -> Option<mpsc::Sender<Bytes>> {
        let own = self.links.get(link).and_then(|l| {
            if l.per_telegram {
                // Its standing connection carries no answers (inbound) or would open a new
                // connection for one (outbound): only the telegram's own connection will do.
                return l.reply.clone();
            }
            l.last_in
                .and_then(|id| l.conns.iter().find(|c| c.id == id))
                .or_else(|| l.conns.first())
                .map(|c| c.sender.clone())
        });
        own.or_else(|| {
            self.links
                .iter()
                .filter(|l| l.can_send)
                .find_map(|l| l.conns.first())
                .map(|c| c.sender.clone())
        })
    }

    /// The links as shown in status.
    pub fn statuses(&self) -> Vec<LinkStatus> {
        self.links
            .iter()
            .map(|l| LinkStatus {
                name: l.name.clone(),
                direction: l.direction,
                state: if l.conns.is_empty() {
                    LinkState::Down
                } else {
                    LinkState::Up
                },
                listen: l.listen,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Vec<LinkSettings> {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let link = |name: &str, direction| LinkSettings {
            name: name.into(),
            role: Role::Outbound { connect: addr },
            direction,
            mode: Mode::Persistent,
            tls: None,
        };
        vec![
            link("a", Direction::Send),
            link("b", Direction::Send),
            link("r", Direction::Recv),
        ]
    }

    #[test]
    fn writes_go_round_robin_over_up_send_links() {
        let mut links = Links::new(&settings());
        assert_eq!(links.write(Bytes::new()), Err(RejectReason::Down));
        let (a, mut a_rx) = mpsc::channel(8);
        let (b, mut b_rx) = mpsc::channel(8);
        let (r, _r_rx) = mpsc::channel(8);
        links.up(0, 1, a, true);
        links.up(1, 2, b, true);
        links.up(2, 3, r, false);
        let used: Vec<usize> = (0..4)
            .map(|_| links.write(Bytes::from_static(b"t")).unwrap())
            .collect();
        assert_eq!(used, [0, 1, 0, 1], "never the recv link");
        assert!(links.can_recv());
        assert_eq!(links.down(2, 3).map(|c| c.duplex), Some(false));
        assert!(!links.can_recv(), "only the recv link carries answers");
        assert!(links.can_send());
        assert_eq!((a_rx.len(), b_rx.len()), (2, 2));
        let _ = (a_rx.try_recv(), b_rx.try_recv());
    }

    #[test]
    fn a_full_link_is_skipped_and_reported_when_all_are_full() {
        let mut links = Links::new(&settings()[..1]);
        let (a, _a_rx) = mpsc::channel(1);
        links.up(0, 1, a, true);
        assert_eq!(links.write(Bytes::new()), Ok(0));
        assert_eq!(links.write(Bytes::new()), Err(RejectReason::SendLinksFull));
    }

    #[test]
    fn a_stale_down_does_not_clear_the_newer_connection() {
        let mut links = Links::new(&settings());
        let (old, _old_rx) = mpsc::channel(1);
        let (new, _new_rx) = mpsc::channel(1);
        links.up(0, 1, old, true);
        links.up(0, 2, new, true);
        assert_eq!(links.down(0, 1), None);
        assert!(links.can_send());
        assert_eq!(
            links.down(0, 2),
            Some(Closed {
                name: "a".into(),
                duplex: false,
            })
        );
        assert!(!links.can_send());
        assert_eq!(links.statuses()[0].state, LinkState::Down);
    }

    fn inbound(name: &str, direction: Direction) -> LinkSettings {
        LinkSettings {
            name: name.into(),
            role: Role::Inbound {
                listen: "127.0.0.1:0".parse().unwrap(),
                allowed_peers: Vec::new(),
            },
            direction,
            mode: Mode::Persistent,
            tls: None,
        }
    }

    #[test]
    fn an_inbound_link_keeps_every_accepted_connection() {
        let mut links = Links::new(&[inbound("in", Direction::Both)]);
        let (a, mut a_rx) = mpsc::channel(8);
        let (b, mut b_rx) = mpsc::channel(8);
        links.up(0, 1, a, true);
        links.up(0, 2, b, true);
        assert!(
            !a_rx.is_closed(),
            "the second connection leaves the first up"
        );
        // Writes go round robin over both connections.
        for _ in 0..4 {
            assert_eq!(links.write(Bytes::from_static(b"t")), Ok(0));
        }
        assert_eq!((a_rx.len(), b_rx.len()), (2, 2));
        // A notice's acknowledgement goes back on the connection it came in on.
        links.received(0, 2);
        let ack = links.reply_sender(0).unwrap();
        ack.try_send(Bytes::from_static(b"ack")).unwrap();
        assert_eq!(b_rx.len(), 3);
        links.received(0, 1);
        links
            .reply_sender(0)
            .unwrap()
            .try_send(Bytes::new())
            .unwrap();
        assert_eq!(a_rx.len(), 3);
        // One closing leaves the other: the link stays up.
        assert_eq!(links.down(0, 1), None);
        assert!(links.can_send() && links.can_recv());
        assert_eq!(links.statuses()[0].state, LinkState::Up);
        assert_eq!(links.write(Bytes::new()), Ok(0));
        assert_eq!(b_rx.len(), 4);
        // Its acknowledgements now go to the one left.
        links
            .reply_sender(0)
            .unwrap()
            .try_send(Bytes::new())
            .unwrap();
        assert_eq!(b_rx.len(), 5);
        assert_eq!(links.down(0, 1), None, "already gone");
        assert_eq!(
            links.down(0, 2),
            Some(Closed {
                name: "in".into(),
                duplex: true,
            })
        );
        assert!(!links.can_send() && !links.can_recv());
        assert_eq!(links.statuses()[0].state, LinkState::Down);
        let _ = (a_rx.try_recv(), b_rx.try_recv());
    }

    #[test]
    fn an_inbound_recv_link_acknowledges_on_its_own_connection() {
        let mut s = settings();
        s.truncate(1);
        s.push(inbound("r", Direction::Recv));
        let mut links = Links::new(&s);
        let (a, mut a_rx) = mpsc::channel(8);
        let (r1, mut r1_rx) = mpsc::channel(8);
        let (r2, mut r2_rx) = mpsc::channel(8);
        links.up(0, 1, a, true);
        links.up(1, 2, r1, false);
        links.up(1, 3, r2, false);
        links.received(1, 3);
        links
            .reply_sender(1)
            .unwrap()
            .try_send(Bytes::new())
            .unwrap();
        assert_eq!((a_rx.len(), r1_rx.len(), r2_rx.len()), (0, 0, 1));
        // Never a request on a recv link.
        assert_eq!(links.write(Bytes::new()), Ok(0));
        assert_eq!((a_rx.len(), r1_rx.len(), r2_rx.len()), (1, 0, 1));
        let _ = (a_rx.try_recv(), r1_rx.try_recv(), r2_rx.try_recv());
    }

    /// A per-telegram link: answers go only to the connection of the telegram being handled,
    /// whose queue the link lets go of once it is handled; the standing connection going down
    /// does not settle what was written (those answers come on their own connections).
    #[test]
    fn a_per_telegram_link_answers_only_on_the_telegrams_connection() {
        let mut inbound = crate::settings::LinkSettings::per_telegram_inbound_loopback();
        inbound.direction = Direction::Both;
        let addr = "127.0.0.1:9".parse().unwrap();
        let outbound = crate::settings::LinkSettings::per_telegram_outbound(addr);
        let mut links = Links::new(&[inbound, outbound]);
        let (standing, mut standing_rx) = mpsc::channel(8);
        let (send, _send_rx) = mpsc::channel(8);
        links.up(0, 1, standing, false);
        links.up(1, 2, send.clone(), true);
        assert!(links.can_recv() && links.can_send());
        let (reply, mut reply_rx) = mpsc::channel(8);
        links.answer_on(0, reply);
        links.received(0, 1);
        let ack = links.reply_sender(0).unwrap();
        ack.try_send(Bytes::from_static(b"ack")).unwrap();
        drop(ack);
        links.answered(0);
        assert_eq!(reply_rx.try_recv(), Ok(Bytes::from_static(b"ack")));
        assert!(
            reply_rx.is_closed(),
            "handled: the connection's queue is let go of"
        );
        assert!(standing_rx.try_recv().is_err(), "never the standing one");
        // With no telegram being handled, an answer goes to a send link, not the listener.
        let other = links.reply_sender(0).unwrap();
        assert!(other.same_channel(&send));
        assert_eq!(
            links.down(1, 2),
            Some(Closed {
                name: "send".into(),
                duplex: false,
            })
        );
    }
}
