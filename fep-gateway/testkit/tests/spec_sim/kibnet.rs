//! KIBNET (`specs/kibnet.toml`): requests, result inquiries, duplicates, the institution's
//! 개시 and notices.

use fep_testkit::spec_sim::{Day, Scenario};
use futures::StreamExt;
use tokio::time::timeout;

use super::support::*;

#[tokio::test]
async fn kibnet_payment_is_answered_with_its_correlation_echoed() {
    let f = kibnet();
    let sim = start(&f, Scenario::default()).await;
    let mut gw = Peer::connect(&f, sim.addr()).await;
    let (name, r) = gw.ask(payment(&f, 1234)).await;
    assert_eq!(name, "PaymentResponse");
    assert_eq!(text(&r, "header.msg_type"), "0210");
    assert_eq!(text(&r, "header.tx_code"), "1100");
    assert_eq!(text(&r, "header.tx_date"), DATE);
    assert_eq!(text(&r, "header.tx_seq"), "1234");
    assert_eq!(text(&r, "header.resp_code"), "000");
    // The institution's direction, inferred from the family's own `when` values.
    assert_eq!(text(&r, "header.sr_flag"), "6");
    assert_eq!(text(&r, "accounts.amount"), "50000");
    let s = sim.stats();
    assert_eq!((s.requests, s.ok), (1, 1));
    sim.shutdown().await;
}

#[tokio::test]
async fn kibnet_inquiry_reveals_the_true_outcome_of_an_unanswered_payment() {
    let f = kibnet();
    // KIBNET lists no unknown code: an unknown is a payment never answered, like a no-answer.
    // (unknown share, no-answer share, executed share, what the inquiry must reveal)
    for (unknown, no_answer, executed, revealed) in [(1.0, 0.0, 0.0, "999"), (0.0, 1.0, 1.0, "000")]
    {
        let mut scenario = Scenario::default();
        scenario.outcomes.unknown = unknown;
        scenario.outcomes.no_answer = no_answer;
        scenario.outcomes.unknown_executed = executed;
        let sim = start(&f, scenario).await;
        let mut gw = Peer::connect(&f, sim.addr()).await;
        gw.send(payment(&f, 41)).await;
        sim.wait_for(WAIT, "the payment left unanswered", |s| s.no_answer == 1)
            .await
            .expect("no answer");
        let truth = sim.true_outcome(DATE, "41").expect("recorded");
        assert_eq!(truth, revealed);
        let (name, r) = gw.ask(result_inquiry(&f, 42, 41)).await;
        assert_eq!(name, "ResultInquiryResponse");
        assert_eq!(text(&r, "header.resp_code"), "000");
        assert_eq!(text(&r, "header.tx_seq"), "42");
        assert_eq!(text(&r, "kib_resp"), truth);
        // A payment never received: no `not_found` code in KIBNET, so a refusal code.
        let (_, r) = gw.ask(result_inquiry(&f, 43, 777)).await;
        assert_eq!(text(&r, "kib_resp"), "999");
        assert_eq!(sim.stats().inquiries, 2);
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn kibnet_duplicate_sequence_is_refused_without_executing() {
    let f = kibnet();
    let mut scenario = Scenario::default();
    scenario.codes.duplicate = Some("D09".into());
    let sim = start(&f, scenario).await;
    let mut gw = Peer::connect(&f, sim.addr()).await;
    let (_, first) = gw.ask(payment(&f, 77)).await;
    assert_eq!(text(&first, "header.resp_code"), "000");
    let (_, again) = gw.ask(payment(&f, 77)).await;
    assert_eq!(text(&again, "header.resp_code"), "D09");
    assert_eq!(text(&again, "header.tx_seq"), "77");
    let s = sim.stats();
    assert_eq!((s.requests, s.ok, s.duplicates), (2, 1, 1));
    sim.shutdown().await;
}

#[tokio::test]
async fn kibnet_opens_the_day_and_sends_notices_until_acknowledged() {
    let f = kibnet();
    let mut scenario = Scenario::default();
    scenario.session.ack_timeout_ms = 200;
    scenario.notices.interval_ms = Some(50);
    scenario.notices.ack_timeout_ms = 200;
    scenario.notices.max_pending = 1;
    scenario.notices.keys = vec!["0200/5900".into()];
    let sim = start(&f, scenario).await;
    let inbound = inbound_for(&sim).await;
    let mut gw = accept(&f, &inbound).await;

    // 개시 is resent, the same telegram, until answered.
    let open = until_resent(&mut gw, "0800/2100").await;
    assert_eq!(sim.day(), Day::NotOpen);
    let (_, r) = f.decode(&open).expect("decodes");
    assert_eq!(text(&r, "header.sr_flag"), "6");
    assert_eq!(text(&r, "header.tx_date").len(), 8);
    gw.send(acknowledge(&f, &open)).await;
    sim.wait_for(WAIT, "the open command acknowledged", |s| {
        s.commands_acked == 1
    })
    .await
    .expect("acked");
    assert_eq!(sim.day(), Day::Open);
    assert!(sim.stats().commands_resent >= 1);

    // Then a notice, resent until acknowledged.
    let notice = until_resent(&mut gw, "0200/5900").await;
    let (_, n) = f.decode(&notice).expect("decodes");
    assert_ne!(text(&n, "accounts.amount"), "0", "a plausible amount");
    assert_ne!(text(&n, "header.tx_seq"), text(&r, "header.tx_seq"));
    gw.send(acknowledge(&f, &notice)).await;
    let s = sim
        .wait_for(WAIT, "the notice acknowledged", |s| s.notices_acked >= 1)
        .await
        .expect("acked");
    assert!(s.notices_resent >= 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn kibnet_per_telegram_connect_back_opens_one_connection_per_telegram() {
    let f = kibnet();
    let mut scenario = Scenario::default();
    scenario.session.ack_timeout_ms = 200;
    scenario.connections.per_telegram_connect_back = true;
    let sim = start(&f, scenario).await;
    let inbound = inbound_for(&sim).await;
    // First connection: read the 개시 and hang up without answering.
    let mut first = accept(&f, &inbound).await;
    let open = first.recv().await;
    drop(first);
    // The resend comes on a new connection; answer it there.
    let mut second = accept(&f, &inbound).await;
    let again = second.recv().await;
    assert_eq!(open, again, "the same telegram is resent");
    second.send(acknowledge(&f, &again)).await;
    sim.wait_for(WAIT, "the open command acknowledged", |s| {
        s.commands_acked == 1
    })
    .await
    .expect("acked");
    assert!(sim.stats().connections >= 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn per_telegram_listening_answers_one_telegram_then_closes() {
    let f = kibnet();
    let mut scenario = Scenario::default();
    scenario.connections.per_telegram_listen = true;
    let sim = start(&f, scenario).await;
    let mut gw = Peer::connect(&f, sim.addr()).await;
    let (_, r) = gw.ask(payment(&f, 9)).await;
    assert_eq!(text(&r, "header.resp_code"), "000");
    let end = timeout(WAIT, gw.conn.next()).await.expect("closed in time");
    assert!(end.is_none(), "the simulator closes after one telegram");
    sim.shutdown().await;
}

#[tokio::test]
async fn outcomes_are_drawn_per_sequence_number() {
    let f = kibnet();
    let mut scenario = Scenario::default();
    scenario.outcomes.declined = 0.5;
    let a = start(&f, scenario.clone()).await;
    let b = start(&f, scenario).await;
    let mut ga = Peer::connect(&f, a.addr()).await;
    let mut gb = Peer::connect(&f, b.addr()).await;
    let mut seen_a = Vec::new();
    for seq in 100..120 {
        let (_, r) = ga.ask(payment(&f, seq)).await;
        seen_a.push((seq, text(&r, "header.resp_code")));
    }
    // The other simulator gets them in reverse order: the same fates.
    let mut seen_b = Vec::new();
    for seq in (100..120).rev() {
        let (_, r) = gb.ask(payment(&f, seq)).await;
        seen_b.push((seq, text(&r, "header.resp_code")));
    }
    seen_b.reverse();
    assert_eq!(seen_a, seen_b);
    let declined = seen_a.iter().filter(|(_, c)| c != "000").count();
    assert!((1..20).contains(&declined), "{declined} of 20 declined");
    a.shutdown().await;
    b.shutdown().await;
}
