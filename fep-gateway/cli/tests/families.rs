//! Families other than Hecto through the real `fep` binary against the spec-driven simulator,
//! with nothing but their TOML: KIBNET (the institution opens the day, per-telegram lines both
//! ways, 0210 answers, unknowns resolved by 0200/6013, notices acknowledged only once
//! journaled) and a third family invented here. Every wait is bounded and on observable state.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use fep_client::protocol::Outcome;
use fep_client::Client;
use fep_codec::spec::Family;
use fep_codec::{Record, Value};
use fep_testkit::spec_sim::{Scenario, SpecSim, SpecSimHandle, SpecSimOptions};
// A third family nobody wrote Rust for: `fep-gateway/testkit/src/tiny.toml`.
use fep_testkit::samples::TINY_FAMILY as TINY;
use tokio::io::AsyncWriteExt;

use support::{tempdir, until, Fep};

const WAIT: Duration = Duration::from_secs(20);

fn kibnet_spec() -> String {
    format!("{}/../../specs/kibnet.toml", env!("CARGO_MANIFEST_DIR"))
}

/// A config with one institution `name` on `spec`, sending one telegram per connection to
/// `sim` and receiving on a per-telegram listener the gateway binds.
fn per_telegram_config(
    data: &Path,
    name: &str,
    spec: &str,
    sim: SocketAddr,
    header: &str,
) -> String {
    format!(
        r#"[server]
native_listen = "127.0.0.1:0"
http_listen = "127.0.0.1:0"
data_dir = "{data}"

[[institution]]
name = "{name}"
spec = "{spec}"
request_timeout = "1s"

[institution.unknown]
inquiry_delay = "200ms"
inquiry_interval = "200ms"
inquiry_max_attempts = 20

[institution.header]
{header}

[[institution.links]]
name = "send"
role = "outbound"
direction = "both"
connect = "{sim}"
mode = "per_telegram"

[[institution.links]]
name = "recv"
role = "inbound"
direction = "recv"
listen = "127.0.0.1:0"
allowed_peers = ["127.0.0.1"]
mode = "per_telegram"
"#,
        data = data.display()
    )
}

async fn start_sim(family: Family, scenario: &str, seed: u64) -> SpecSimHandle {
    let scenario = Scenario::from_toml_str(scenario).expect("scenario");
    SpecSim::start(
        family,
        scenario,
        SpecSimOptions {
            seed,
            ..SpecSimOptions::default()
        },
    )
    .await
    .expect("simulator")
}

/// The journal's transactions of `institution`: (day, number, outcome, resolution).
fn transactions(data: &Path, institution: &str) -> Vec<(u32, u32, String, Option<String>)> {
    let db = rusqlite::Connection::open(data.join("journal.db")).unwrap();
    let mut q = db
        .prepare(
            "SELECT day, msg_no, outcome, resolved FROM transactions WHERE institution = ?1 \
             ORDER BY id",
        )
        .unwrap();
    q.query_map([institution], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn journaled_notices(data: &Path, institution: &str) -> u64 {
    let db = rusqlite::Connection::open(data.join("journal.db")).unwrap();
    db.query_row(
        "SELECT COUNT(*) FROM notices WHERE institution = ?1",
        [institution],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
    .unwrap_or(0)
}

/// Waits until every unknown transaction of `institution` is resolved, then checks each
/// resolution against what the institution really did (its sequence numbers `width` digits,
/// `success` its success code).
async fn unknowns_resolved_truthfully(
    data: &Path,
    institution: &str,
    sim: &SpecSimHandle,
    width: usize,
    success: &str,
) {
    until(WAIT, "every unknown resolved by the result inquiry", || {
        transactions(data, institution)
            .iter()
            .filter(|t| t.2 == "unknown")
            .all(|t| t.3.is_some())
    })
    .await;
    for (day, no, outcome, resolved) in transactions(data, institution) {
        if outcome != "unknown" {
            continue;
        }
        let truth = sim
            .true_outcome(&day.to_string(), &format!("{no:0width$}"))
            .expect("the institution saw the request");
        let want = if truth == success { "ok" } else { "declined" };
        assert_eq!(resolved.as_deref(), Some(want), "{day}/{no}: truth {truth}");
    }
}

/// Sends a request and returns its outcome and detail.
async fn request(client: &Client, institution: &str, telegram: Bytes) -> (Outcome, String) {
    let reply = client
        .request(institution, telegram, Duration::from_secs(5))
        .await
        .expect("the gateway answers");
    (reply.outcome, reply.detail)
}

/// A 지급이체 (0200/1100) as a caller builds it: the gateway stamps header, number and date.
fn payment(f: &Family, amount: u64) -> Bytes {
    let mut r = Record::new();
    r.set("accounts.amount", Value::UInt(u128::from(amount)));
    r.set("accounts.wd_account", Value::Text("1002003004005".into()));
    f.encode("PaymentRequest", &r).expect("encodes").into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kibnet_through_the_gateway_from_its_toml_alone() {
    let family = Family::load(kibnet_spec()).unwrap();
    // A quarter of the payments go unanswered (half of those executed anyway); notices of
    // every kind every 100 ms; one connection per telegram both ways, as EFMS does.
    let sim = start_sim(
        family.clone(),
        r#"
record = true
[outcomes]
no_answer = 0.25
unknown_executed = 0.5
[latency_ms]
min = 1
max = 5
[notices]
interval_ms = 100
ack_timeout_ms = 500
[connections]
per_telegram_listen = true
per_telegram_connect_back = true
"#,
        11,
    )
    .await;
    let dir = tempdir();
    let data = dir.path().join("data");
    let header = "\"header.handling_org\" = \"20031709\"\n\"header.cs_org\" = \"20031709\"";
    let fep = Fep::start(
        dir.path(),
        &per_telegram_config(&data, "kibnet", &kibnet_spec(), sim.addr(), header),
        &[],
    );
    let client = Client::connect(fep.native).await.unwrap();

    // Nothing goes before EFMS opens the day; the caller hears why.
    let (outcome, detail) = request(&client, "kibnet", payment(&family, 1)).await;
    assert_eq!(outcome, Outcome::Rejected, "{detail}");
    assert!(detail.contains("open the business day"), "{detail}");
    assert_eq!(
        fep.institution_status("kibnet")["session"],
        "waiting_for_open"
    );

    // EFMS connects in (one connection per telegram) and sends 개시 0800/2100.
    sim.connect_back(fep.listen_addr("kibnet", "recv")).unwrap();
    sim.wait_for(WAIT, "개시 acknowledged", |s| s.commands_acked >= 1)
        .await
        .unwrap();
    fep.wait_signed_on("kibnet").await;

    // Payments: every one answered; the unanswered ones unknown, then resolved by 6013.
    let mut outcomes = Vec::new();
    for i in 0..24 {
        outcomes.push(request(&client, "kibnet", payment(&family, 10_000 + i)).await);
    }
    let count = |o: Outcome| outcomes.iter().filter(|(x, _)| *x == o).count();
    assert_eq!(count(Outcome::Rejected), 0, "{outcomes:?}");
    assert!(count(Outcome::Ok) > 0, "{outcomes:?}");
    let unknown = count(Outcome::Unknown);
    assert!(unknown > 0, "the seed leaves some unanswered: {outcomes:?}");
    unknowns_resolved_truthfully(&data, "kibnet", &sim, 7, "000").await;
    let inquiries = sim.seen().iter().filter(|s| s.key == "0200/6013").count();
    assert!(
        inquiries >= unknown,
        "{inquiries} inquiries for {unknown} unknowns"
    );

    // Notices: each acknowledged only once journaled — the journal holds at least as many as
    // the institution saw acknowledged.
    sim.wait_for(WAIT, "notices acknowledged", |s| s.notices_acked >= 6)
        .await
        .unwrap();
    let acked = sim.stats().notices_acked;
    assert!(
        journaled_notices(&data, "kibnet") >= acked,
        "acknowledged {acked} notices, journaled {}",
        journaled_notices(&data, "kibnet")
    );

    // Garbage on the inbound line: that connection is closed, the next notices still flow.
    let mut junk = tokio::net::TcpStream::connect(fep.listen_addr("kibnet", "recv"))
        .await
        .unwrap();
    junk.write_all(b"XXXXnot a telegram at all").await.unwrap();
    let before = sim.stats().notices_acked;
    sim.wait_for(WAIT, "notices after the garbage", |s| {
        s.notices_acked >= before + 3
    })
    .await
    .unwrap();

    // 종료예고: new payments refused by the gateway itself, nothing sent.
    let sent_before = sim.stats().requests;
    sim.send_command("stop_new").unwrap();
    sim.wait_for(WAIT, "종료예고 acknowledged", |s| s.commands_acked >= 2)
        .await
        .unwrap();
    let (outcome, detail) = request(&client, "kibnet", payment(&family, 5)).await;
    assert_eq!(outcome, Outcome::Rejected, "{detail}");
    assert!(detail.contains("closing the business day"), "{detail}");
    assert_eq!(fep.institution_status("kibnet")["session"], "closing");
    assert_eq!(sim.stats().requests, sent_before, "nothing reached EFMS");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_written_only_in_toml_runs_through_gateway_and_simulator() {
    let dir = tempdir();
    let spec = dir.path().join("tiny.toml");
    std::fs::write(&spec, TINY).unwrap();
    let family = Family::load(&spec).unwrap();
    let sim = start_sim(
        family.clone(),
        r#"
[outcomes]
no_answer = 0.3
unknown_executed = 0.5
[notices]
interval_ms = 100
ack_timeout_ms = 500
"#,
        5,
    )
    .await;
    let data = dir.path().join("data");
    // One persistent duplex line this time (the family's framing from its spec).
    let config = format!(
        r#"[server]
native_listen = "127.0.0.1:0"
http_listen = "127.0.0.1:0"
data_dir = "{}"

[[institution]]
name = "tiny"
spec = "{}"
request_timeout = "1s"

[institution.unknown]
inquiry_delay = "200ms"
inquiry_interval = "200ms"
inquiry_max_attempts = 20

[institution.header]
"header.refno" = "ACME"

[[institution.links]]
name = "duplex"
role = "outbound"
direction = "both"
connect = "{}"
"#,
        data.display(),
        spec.display(),
        sim.addr()
    );
    let fep = Fep::start(dir.path(), &config, &[]);
    fep.wait_signed_on("tiny").await;
    let client = Client::connect(fep.native).await.unwrap();
    let mut outcomes = Vec::new();
    for i in 0..20u64 {
        let mut r = Record::new();
        r.set("amount", Value::UInt(u128::from(100 + i)));
        let t: Bytes = family.encode("Pay", &r).unwrap().into();
        outcomes.push(request(&client, "tiny", t).await);
    }
    let count = |o: Outcome| outcomes.iter().filter(|(x, _)| *x == o).count();
    assert!(count(Outcome::Ok) > 0, "{outcomes:?}");
    assert!(count(Outcome::Unknown) > 0, "{outcomes:?}");
    assert_eq!(count(Outcome::Rejected), 0, "{outcomes:?}");
    unknowns_resolved_truthfully(&data, "tiny", &sim, 10, "OK").await;
    sim.wait_for(WAIT, "notices acknowledged", |s| s.notices_acked >= 3)
        .await
        .unwrap();
    assert!(journaled_notices(&data, "tiny") >= sim.stats().notices_acked);
    sim.shutdown().await;
}
