//! Delivery from the journal: groups share, broadcast subscribers each get all, progress
//! survives a restart, a flood is delivered in order with bounded holding, the rate is kept.

use std::time::Instant;

use tokio::sync::watch;

use super::*;

const WAIT: Duration = Duration::from_secs(10);

struct Setup {
    _dir: tempfile::TempDir,
    journal: Journal,
    shutdown: watch::Sender<bool>,
    notices: Notices,
}

fn setup(policy: DeliveryPolicy) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let (shutdown, rx) = watch::channel(false);
    let notices = Notices::start(journal.clone(), [("h".to_owned(), policy)], rx);
    Setup {
        _dir: dir,
        journal,
        shutdown,
        notices,
    }
}

fn window(concurrency: usize) -> DeliveryPolicy {
    DeliveryPolicy {
        concurrency,
        rate: None,
    }
}

/// Records `n` notices of "h"; their ids.
async fn record(journal: &Journal, n: usize) -> Vec<u64> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let key = ids.len().to_string() + &now_ms().to_string();
        ids.push(journal.record_notice("h", 1, &key, b"T").await.unwrap().id);
    }
    ids
}

async fn next(member: &mut Member) -> u64 {
    tokio::time::timeout(WAIT, member.recv())
        .await
        .expect("a notice within 10 s")
        .expect("delivery running")
        .id
}

#[tokio::test]
async fn members_of_a_group_share_the_notices_and_a_leaving_member_hands_back_what_it_held() {
    let s = setup(window(4));
    let mut a = s.notices.join(Group::Named("ledger"), "h").unwrap();
    let mut b = s.notices.join(Group::Named("ledger"), "h").unwrap();
    let ids = record(&s.journal, 20).await;
    // `a` takes its window and acknowledges nothing; `b` acknowledges what it gets.
    let mut held_by_a = Vec::new();
    for _ in 0..4 {
        held_by_a.push(next(&mut a).await);
    }
    let mut got_by_b = Vec::new();
    while got_by_b.len() < 16 {
        let id = next(&mut b).await;
        b.ack(id);
        got_by_b.push(id);
    }
    assert!(
        held_by_a.iter().all(|id| !got_by_b.contains(id)),
        "disjoint"
    );
    // `a` leaves: what it held goes to `b`, oldest first.
    drop(a);
    for &id in &held_by_a {
        assert_eq!(next(&mut b).await, id);
        b.ack(id);
    }
    let mut all: Vec<u64> = held_by_a.into_iter().chain(got_by_b).collect();
    all.sort_unstable();
    assert_eq!(all, ids, "every notice, each once");
}

#[tokio::test]
async fn broadcast_subscribers_each_get_every_notice_and_an_ack_counts_for_all() {
    let s = setup(window(8));
    let mut x = s.notices.join(Group::Broadcast, "h").unwrap();
    let mut y = s.notices.join(Group::Broadcast, "h").unwrap();
    let ids = record(&s.journal, 3).await;
    for &id in &ids {
        assert_eq!(next(&mut y).await, id);
        assert_eq!(next(&mut x).await, id);
        x.ack(id);
    }
    // Once x's acknowledgements are written, a new subscriber starts after them.
    let start = Instant::now();
    loop {
        let backlog = s.journal.notice_backlogs().await.unwrap();
        if backlog
            .iter()
            .any(|b| b.group == SUBSCRIBERS && b.undelivered == 0)
        {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "acknowledgements written: {backlog:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut z = s.notices.join(Group::Broadcast, "h").unwrap();
    let later = record(&s.journal, 1).await;
    assert_eq!(
        next(&mut z).await,
        later[0],
        "acknowledged by x for everyone"
    );
    assert_eq!(next(&mut y).await, later[0], "y still gets every new one");
}

#[tokio::test]
async fn a_group_continues_after_a_restart_where_it_acknowledged() {
    let s = setup(window(16));
    let ids = record(&s.journal, 5).await;
    let mut m = s.notices.join(Group::Named("ledger"), "h").unwrap();
    for (k, &id) in ids.iter().enumerate() {
        assert_eq!(next(&mut m).await, id);
        if k != 2 && k != 4 {
            m.ack(id);
        }
    }
    // Shutdown writes the acknowledgements received.
    s.shutdown.send(true).unwrap();
    s.notices.stopped(WAIT).await;
    assert!(m.recv().await.is_none(), "delivery stopped");
    let (_shutdown, rx) = watch::channel(false);
    let restarted = Notices::start(s.journal.clone(), [("h".to_owned(), window(16))], rx);
    let mut m = restarted.join(Group::Named("ledger"), "h").unwrap();
    assert_eq!(next(&mut m).await, ids[2]);
    assert_eq!(next(&mut m).await, ids[4]);
    // Nothing else: a new notice is the next one.
    let later = record(&s.journal, 1).await;
    assert_eq!(next(&mut m).await, later[0]);
}

#[tokio::test]
async fn a_flood_far_beyond_any_buffer_is_delivered_in_order_within_the_window() {
    let s = setup(window(8));
    let mut m = s.notices.join(Group::Webhook, "h").unwrap();
    let recording = {
        let journal = s.journal.clone();
        tokio::spawn(async move { record(&journal, 3000).await })
    };
    let mut got = Vec::new();
    while got.len() < 3000 {
        let id = next(&mut m).await;
        assert!(
            m.rx.len() < 8,
            "no more than the window ahead of the acknowledgements"
        );
        m.ack(id);
        got.push(id);
    }
    assert_eq!(got, recording.await.unwrap(), "all, in order, each once");
}

#[tokio::test]
async fn a_rate_limit_spaces_the_notices_out() {
    let s = setup(DeliveryPolicy {
        concurrency: 64,
        rate: NonZeroU32::new(20),
    });
    let ids = record(&s.journal, 30).await;
    let start = Instant::now();
    let mut m = s.notices.join(Group::Named("slow"), "h").unwrap();
    for &id in &ids {
        assert_eq!(next(&mut m).await, id);
        m.ack(id);
    }
    // 20 at once (the burst), then 10 more at 20/s: at least about half a second.
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn bad_groups_and_institutions_are_refused() {
    let s = setup(window(1));
    for bad in ["", "$webhook", "with space", &"x".repeat(129), "탭"] {
        assert!(
            matches!(
                s.notices.join(Group::Named(bad), "h"),
                Err(JoinError::BadGroup { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        s.notices.join(Group::Broadcast, "nope"),
        Err(JoinError::UnknownInstitution(_))
    ));
    assert!(s.notices.join(Group::Named("a.b-c_d:1"), "h").is_ok());
}
