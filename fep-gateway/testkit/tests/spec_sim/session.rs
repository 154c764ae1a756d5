//! Scenarios: parsing, scheduled and on-demand commands, heartbeats.

use std::sync::Arc;

use fep_codec::spec::Family;
use fep_codec::{Record, Value};
use fep_gateway::clock::SystemClock;
use fep_testkit::spec_sim::{Day, Scenario, ScheduledCommand, SpecSim, SpecSimOptions};
use tokio::net::TcpListener;

use super::support::*;

#[tokio::test]
async fn scenarios_parse_strictly() {
    let s = Scenario::from_toml_str(
        r#"
        latency_ms = { min = 5, max = 20 }
        [outcomes]
        declined = 0.1
        unknown = 0.05
        [notices]
        interval_ms = 1000
        [[commands]]
        command = "stop_new"
        after_ms = 60000
        [connections]
        per_telegram_listen = true
        "#,
    )
    .expect("parses");
    assert_eq!(s.latency_ms.max, 20);
    assert_eq!(s.commands[0].command, "stop_new");
    assert!(Scenario::from_toml_str("typo = 1").is_err());
    assert!(Scenario::from_toml_str("[outcomes]\ndeclined = 0.7\nunknown = 0.7").is_err());
    // What does not fit the family is refused at start: a command it does not have, a code
    // wider than its response-code field, a stamp on a field no message has.
    let mut unknown_command = Scenario::default();
    unknown_command.commands.push(ScheduledCommand {
        command: "9999/9999".into(),
        after_ms: 0,
        every_ms: None,
    });
    let mut wide_code = Scenario::default();
    wide_code.codes.duplicate = Some("12345".into());
    let mut bad_stamp = Scenario::default();
    bad_stamp.stamp.insert("header.nowhere".into(), "1".into());
    for (what, bad) in [
        ("9999/9999", unknown_command),
        ("12345", wide_code),
        ("header.nowhere", bad_stamp),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let started = SpecSim::start_on(
            listener,
            kibnet(),
            bad,
            SpecSimOptions::default(),
            Arc::new(SystemClock),
        );
        let err = started.expect_err(what).to_string();
        assert!(err.contains(what), "{err}");
    }
}

/// Reads institution telegrams until one of each key in `keys` has arrived (resends of one
/// already read are skipped); returns them in `keys` order.
async fn collect(gw: &mut Peer, keys: &[&str]) -> Vec<bytes::Bytes> {
    let mut got: Vec<Option<bytes::Bytes>> = vec![None; keys.len()];
    while got.iter().any(Option::is_none) {
        let t = gw.recv().await;
        let key = gw.family.identify(&t).expect("identifies").key_str();
        let slot = keys
            .iter()
            .position(|k| *k == key)
            .unwrap_or_else(|| panic!("unexpected {key}"));
        got[slot].get_or_insert(t);
    }
    got.into_iter().flatten().collect()
}

#[tokio::test]
async fn a_scheduled_stop_new_refuses_new_payments_but_not_inquiries() {
    let f = kibnet();
    let mut scenario = Scenario::default();
    scenario.session.ack_timeout_ms = 200;
    scenario.codes.closed = Some("C01".into());
    scenario.commands.push(ScheduledCommand {
        command: "stop_new".into(),
        after_ms: 0,
        every_ms: None,
    });
    let sim = start(&f, scenario).await;
    let mut gw = Peer::connect(&f, sim.addr()).await;
    let got = collect(&mut gw, &["0800/2100", "0800/2300"]).await;
    gw.send(acknowledge(&f, &got[0])).await;
    sim.wait_for(WAIT, "개시 acknowledged", |s| s.commands_acked == 1)
        .await
        .expect("open");
    assert_eq!(sim.day(), Day::Open);
    gw.send(acknowledge(&f, &got[1])).await;
    sim.wait_for(WAIT, "종료예고 acknowledged", |s| s.commands_acked == 2)
        .await
        .expect("stop_new");
    assert_eq!(sim.day(), Day::StopNew);
    let (_, r) = gw.ask(payment(&f, 5)).await;
    assert_eq!(text(&r, "header.resp_code"), "C01");
    let (_, r) = gw.ask(result_inquiry(&f, 6, 5)).await;
    assert_eq!(text(&r, "header.resp_code"), "000");
    assert_eq!(sim.stats().refused_closed, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_command_is_sent_on_demand_and_telegrams_are_recorded() {
    let f = kibnet();
    let mut scenario = Scenario::default();
    scenario.session.open = false;
    scenario.record = true;
    let sim = start(&f, scenario).await;
    assert!(sim.send_command("9999/0000").is_err());
    let mut gw = Peer::connect(&f, sim.addr()).await;
    gw.ask(payment(&f, 8)).await;
    sim.send_command("0800/2700").expect("a TEST-CALL");
    let call = gw.recv().await;
    assert_eq!(
        f.identify(&call).expect("identifies").key_str(),
        "0800/2700"
    );
    gw.send(acknowledge(&f, &call)).await;
    sim.wait_for(WAIT, "the test call acknowledged", |s| {
        s.commands_acked == 1
    })
    .await
    .expect("acked");
    let seen: Vec<String> = sim.seen().into_iter().map(|s| s.name).collect();
    assert_eq!(seen, ["PaymentRequest", "TestCallResponse"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn hecto_heartbeats_and_in_progress_codes_come_from_its_spec() {
    let f = Family::from_toml_str(fep_specs::HECTO_TOML).expect("hecto");
    let mut scenario = Scenario::default();
    scenario.outcomes.in_progress = 1.0;
    let sim = start(&f, scenario).await;
    let mut gw = Peer::connect(&f, sim.addr()).await;
    let hb = f.heartbeat().expect("hecto polls");
    let mut poll = Record::new();
    for (p, v) in &hb.request {
        poll.set(p, Value::Text(v.clone()));
    }
    poll.set("stamp", Value::Text("1123101500".into()));
    gw.send(hb.layout.encode_record(&poll).expect("poll")).await;
    let answer = gw.recv().await;
    assert!(hb.is_response(&answer), "{answer:?}");
    assert_eq!(&answer[10..], b"1123101500");
    assert_eq!(sim.stats().heartbeats, 1);

    let mut t = Record::new();
    t.set("header.send_date", Value::Text("20261123".into()));
    t.set("header.msg_no", Value::UInt(12));
    t.set("amount", Value::UInt(1000));
    let (name, r) = gw.ask(f.encode("2000/100", &t).expect("transfer")).await;
    assert_eq!(name, "TransferResponse");
    let rc = f.response_code().expect("codes");
    assert!(
        rc.in_progress.contains(&text(&r, "header.resp_code")),
        "{r:?}"
    );
    assert_eq!(sim.stats().in_progress, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_documented_scenarios_parse_and_fit_kibnet() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/new-institution.md"
    ))
    .expect("docs/new-institution.md");
    // The simulator's section: the page's other TOML blocks are families and fep.toml.
    let section = doc
        .split_once("Simulating the institution")
        .map_or("", |(_, rest)| rest);
    let blocks: Vec<&str> = section
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert!(blocks.len() >= 2, "the page shows its scenarios");
    for block in blocks {
        let s = Scenario::from_toml_str(block).unwrap_or_else(|e| panic!("{e}\n{block}"));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let sim = SpecSim::start_on(
            listener,
            kibnet(),
            s,
            SpecSimOptions::default(),
            Arc::new(SystemClock),
        )
        .unwrap_or_else(|e| panic!("{e}\n{block}"));
        sim.shutdown().await;
    }
}

/// A clock the test sets.
struct SetClock(std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

impl fep_gateway::clock::Clock for SetClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[tokio::test]
async fn own_telegrams_carry_the_date_and_a_number_that_restarts_each_day() {
    let f = kibnet();
    let kst = |s: &str| {
        let local = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").expect("time");
        fep_gateway::clock::in_zone(local, fep_gateway::clock::KST)
    };
    let clock = Arc::new(SetClock(std::sync::Mutex::new(kst("2026-11-23T23:59:58"))));
    let mut scenario = Scenario::default();
    scenario.session.open = false;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let sim = SpecSim::start_on(
        listener,
        f.clone(),
        scenario,
        SpecSimOptions::default(),
        clock.clone(),
    )
    .expect("start");
    let mut gw = Peer::connect(&f, sim.addr()).await;
    sim.wait_for(WAIT, "the connection", |s| s.connections == 1)
        .await
        .expect("accepted");
    let mut seen = Vec::new();
    for (at, command) in [
        ("2026-11-23T23:59:58", "0800/2700"),
        ("2026-11-23T23:59:59", "0800/2700"),
        ("2026-11-24T00:00:01", "0800/2700"),
    ] {
        *clock.0.lock().expect("clock") = kst(at);
        sim.send_command(command).expect("command");
        let t = gw.recv().await;
        let (_, r) = f.decode(&t).expect("decodes");
        seen.push((
            text(&r, "header.tx_date"),
            text(&r, "header.tx_time"),
            text(&r, "header.tx_seq"),
        ));
        gw.send(acknowledge(&f, &t)).await;
    }
    let want = [
        ("20261123", "235958", "1"),
        ("20261123", "235959", "2"),
        ("20261124", "000001", "1"),
    ]
    .map(|(d, t, n)| (d.to_owned(), t.to_owned(), n.to_owned()));
    assert_eq!(seen, want);
    assert_eq!(sim.stats().commands_resent, 0);
    sim.shutdown().await;
}
