//! Telegrams the institution starts: its session commands and notices, each resent (the
//! same telegram, the same sequence number) until the gateway acknowledges it; and the
//! scenario's schedules.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fep_codec::spec::{CommandEffect, MessageSpec, NoticeSpec, Opener};
use fep_codec::Record;
use tokio::sync::oneshot;

use super::books::{Day, SALT_NOTICE};
use super::scenario::command_index;
use super::telegrams::{message_for, norm, started_record};
use super::{conn, lock, Shared};
use crate::sim::draw::derived_rng;

/// What is being delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Notice,
    Command(CommandEffect),
}

/// A telegram waiting for its acknowledgement.
struct Waiter {
    id: u64,
    kind: Kind,
    /// The acknowledgement's key.
    ack: Vec<String>,
    /// Fields the acknowledgement echoes, with the values sent.
    echo: Vec<(String, String)>,
    tx: oneshot::Sender<()>,
}

/// Telegrams waiting for their acknowledgement.
#[derive(Default)]
pub(super) struct Waiters {
    next: u64,
    list: Vec<Waiter>,
}

/// Settles the acknowledgement `spec` of a waiting notice or command. True when `spec` is
/// an acknowledgement the family defines (a late or repeated one included).
pub(super) fn settle(shared: &Shared, spec: &MessageSpec, record: &Record) -> bool {
    let mut w = lock(&shared.waiters);
    let found = w.list.iter().position(|x| {
        x.ack == spec.key
            && x.echo
                .iter()
                .all(|(p, v)| record.get(p).map(norm).as_deref() == Some(v.as_str()))
    });
    if let Some(i) = found {
        let x = w.list.remove(i);
        // The deliverer may have given up meanwhile; nothing is lost then.
        let _ = x.tx.send(());
        return true;
    }
    let family = &shared.family;
    spec.response.is_none()
        && (family.notices().iter().any(|n| n.ack == spec.key)
            || family
                .session()
                .commands
                .iter()
                .any(|c| c.answer.ack == spec.key))
}

/// The fields an acknowledgement must echo: the rule's `dedup` fields, else the family's
/// correlation, else its sequence field — those of them the acknowledgement copies (none
/// copied: the acknowledgement's key alone settles the oldest waiting telegram).
fn echo_fields(shared: &Shared, rule: &NoticeSpec) -> Vec<String> {
    let corr = shared.family.correlation();
    let wanted: Vec<String> = if !rule.dedup.is_empty() {
        rule.dedup.clone()
    } else if !corr.is_empty() {
        corr.to_vec()
    } else {
        shared
            .family
            .sequence()
            .map(|s| vec![s.field.clone()])
            .unwrap_or_default()
    };
    wanted
        .into_iter()
        .filter(|p| rule.copy_all || rule.copy.contains(p))
        .collect()
}

/// Sends `telegram` until its acknowledgement arrives (or `max_resends` resends went
/// unanswered, or the simulator stops). True when acknowledged.
async fn deliver(
    shared: &Arc<Shared>,
    msg: &MessageSpec,
    telegram: Bytes,
    rule: &NoticeSpec,
    kind: Kind,
) -> bool {
    let sent = match msg.layout.decode_record(&telegram) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "own telegram does not decode");
            return false;
        }
    };
    let ack = rule.ack.clone();
    let echo = echo_fields(shared, rule)
        .into_iter()
        .map(|p| {
            let v = sent.get(&p).map(norm).unwrap_or_default();
            (p, v)
        })
        .collect();
    let (tx, mut rx) = oneshot::channel();
    let id = {
        let mut w = lock(&shared.waiters);
        w.next += 1;
        let id = w.next;
        w.list.push(Waiter {
            id,
            kind,
            ack,
            echo,
            tx,
        });
        id
    };
    let (wait, max) = match kind {
        Kind::Notice => (
            shared.scenario.notices.ack_timeout_ms,
            shared.scenario.notices.max_resends,
        ),
        Kind::Command(_) => (
            shared.scenario.session.ack_timeout_ms,
            shared.scenario.session.max_resends,
        ),
    };
    let wait = Duration::from_millis(wait.max(1));
    let mut went_out = false;
    let mut attempts: u32 = 0;
    let acked = loop {
        if conn::send_out(shared, telegram.clone()).await {
            let first = !went_out;
            went_out = true;
            shared.stat(|s| match (kind, first) {
                (Kind::Notice, true) => s.notices_sent += 1,
                (Kind::Notice, false) => s.notices_resent += 1,
                (Kind::Command(_), true) => s.commands_sent += 1,
                (Kind::Command(_), false) => s.commands_resent += 1,
            });
        }
        tokio::select! {
            r = &mut rx => break r.is_ok(),
            _ = shared.token.cancelled() => break false,
            // The resend interval: the scenario's ack timeout, not a synchronisation.
            _ = tokio::time::sleep(wait) => {}
        }
        attempts = attempts.saturating_add(1);
        if max.is_some_and(|m| attempts > m) {
            break false;
        }
    };
    if acked {
        shared.stat(|s| match kind {
            Kind::Notice => s.notices_acked += 1,
            Kind::Command(_) => s.commands_acked += 1,
        });
        if let Kind::Command(effect) = kind {
            let mut books = lock(&shared.books);
            match effect {
                CommandEffect::Open => books.day = Day::Open,
                CommandEffect::StopNew => books.day = Day::StopNew,
                CommandEffect::Close => books.day = Day::Closed,
                CommandEffect::None => {}
            }
        }
    } else {
        lock(&shared.waiters).list.retain(|x| x.id != id);
        if !shared.token.is_cancelled() {
            shared.stat(|s| match kind {
                Kind::Notice => s.notices_given_up += 1,
                Kind::Command(_) => s.commands_given_up += 1,
            });
        }
    }
    acked
}

/// Sends session command `i` of the family until acknowledged.
pub(super) async fn command(shared: &Arc<Shared>, i: usize) {
    let family = &shared.family;
    let Some(c) = family.session().commands.get(i) else {
        return;
    };
    let Some(msg) = message_for(family, &c.answer.key, &c.answer.when) else {
        return;
    };
    let r = started_record(
        family,
        msg,
        &shared.plan.stamp,
        shared.next_seq(),
        shared.now(),
        None,
    );
    match family.encode(&msg.name, &r) {
        Ok(t) => {
            let kind = Kind::Command(c.effect);
            deliver(shared, msg, t.into(), &c.answer, kind).await;
        }
        Err(e) => tracing::warn!(error = %e, command = %msg.key_str(), "cannot encode"),
    }
}

/// Sends one notice of rule `i` until acknowledged.
async fn notice(shared: &Arc<Shared>, i: usize) {
    let family = &shared.family;
    let Some(n) = family.notices().get(i) else {
        return;
    };
    let Some(msg) = message_for(family, &n.key, &n.when) else {
        return;
    };
    let seq = shared.next_seq();
    let mut rng = derived_rng(shared.seed, SALT_NOTICE, seq);
    let p = &shared.scenario.notices;
    let amounts = Some((&mut rng, p.amount_min, p.amount_max));
    let r = started_record(family, msg, &shared.plan.stamp, seq, shared.now(), amounts);
    match family.encode(&msg.name, &r) {
        Ok(t) => {
            deliver(shared, msg, t.into(), n, Kind::Notice).await;
        }
        Err(e) => tracing::warn!(error = %e, notice = %msg.key_str(), "cannot encode"),
    }
}

/// When the family has the institution open the day: sends the `open` command now unless
/// the day is open or an open command is already on its way.
pub(super) fn maybe_open(shared: &Arc<Shared>) {
    let family = &shared.family;
    if family.session().opened_by != Opener::Institution || !shared.scenario.session.open {
        return;
    }
    if matches!(lock(&shared.books).day, Day::Open | Day::StopNew) {
        return;
    }
    let Some(i) = command_index(family, "open") else {
        return;
    };
    if shared.opening.swap(true, Ordering::AcqRel) {
        return;
    }
    let s = shared.clone();
    shared.spawn(async move {
        command(&s, i).await;
        s.opening.store(false, Ordering::Release);
    });
}

/// Starts the notice stream and the scheduled commands.
pub(super) fn start_schedules(shared: &Arc<Shared>) {
    if let Some(ms) = shared.scenario.notices.interval_ms {
        let s = shared.clone();
        shared.spawn(notice_loop(s, Duration::from_millis(ms.max(1))));
    }
    for &(i, after, every) in &shared.plan.schedule {
        let s = shared.clone();
        shared.spawn(async move {
            let mut next = after;
            loop {
                tokio::select! {
                    _ = s.token.cancelled() => break,
                    // The scenario's schedule, not a synchronisation.
                    _ = tokio::time::sleep(next) => {}
                }
                command(&s, i).await;
                match every {
                    Some(e) => next = e,
                    None => break,
                }
            }
        });
    }
}

/// Starts one notice every `every` while the day is open and the gateway reachable.
async fn notice_loop(shared: Arc<Shared>, every: Duration) {
    let rules = shared.plan.notices.clone();
    if rules.is_empty() {
        return;
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut turn = 0usize;
    loop {
        tokio::select! {
            _ = shared.token.cancelled() => break,
            _ = tick.tick() => {}
        }
        let open = matches!(lock(&shared.books).day, Day::Open | Day::StopNew);
        let pending = lock(&shared.waiters)
            .list
            .iter()
            .filter(|w| w.kind == Kind::Notice)
            .count();
        if !open || pending >= shared.scenario.notices.max_pending || !shared.route_available() {
            continue;
        }
        let i = rules[turn % rules.len()];
        turn = turn.wrapping_add(1);
        let s = shared.clone();
        shared.spawn(async move { notice(&s, i).await });
    }
}
