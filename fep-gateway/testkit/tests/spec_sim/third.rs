//! A third family written only in TOML: one dispatch key, a 2-byte binary length prefix,
//! responses +10, opened by the gateway.

use fep_codec::spec::Family;
use fep_codec::{Record, Value};
use fep_testkit::spec_sim::{Day, Scenario};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::support::*;

/// A family nobody has seen: one dispatch key, a 2-byte binary length, responses +10,
/// opened by the gateway's sign-on, its own codes.
const THIRD: &str = r#"
[family]
name = "third"
charset = "ascii"

[framing]
length = "binary"
width = 2
includes_self = false
max = 1000

[dispatch]
header = "Head"
keys = ["code"]

[[structs]]
name = "Head"
len = 24
fields = [
  { name = "code", type = "N",  len = 4, offset = 0, text = true },
  { name = "day",  type = "N",  len = 6, offset = 4, text = true },
  { name = "seq",  type = "N",  len = 8, offset = 10 },
  { name = "rc",   type = "AN", len = 2, offset = 18 },
  { name = "pad",  type = "AN", len = 4, offset = 20 },
]

[[structs]]
name = "Pay"
len = 44
fields = [
  { name = "head",    struct = "Head", offset = 0 },
  { name = "account", type = "AN", len = 10, offset = 24 },
  { name = "amount",  type = "N",  len = 10, offset = 34 },
]

[[structs]]
name = "Ask"
len = 34
fields = [
  { name = "head",     struct = "Head", offset = 0 },
  { name = "orig_seq", type = "N",  len = 8, offset = 24 },
  { name = "outcome",  type = "AN", len = 2, offset = 32 },
]

[[structs]]
name = "Admin"
len = 24
fields = [{ name = "head", struct = "Head", offset = 0 }]

[[messages]]
key = ["0100"]
name = "Pay"
struct = "Pay"
response = ["0110"]

[[messages]]
key = ["0110"]
name = "PayAnswer"
struct = "Pay"

[[messages]]
key = ["0300"]
name = "Ask"
struct = "Ask"
response = ["0310"]

[[messages]]
key = ["0310"]
name = "AskAnswer"
struct = "Ask"

[[messages]]
key = ["0900"]
name = "SignOn"
struct = "Admin"
response = ["0910"]

[[messages]]
key = ["0910"]
name = "SignOnAnswer"
struct = "Admin"

[[messages]]
key = ["0500"]
name = "Credit"
struct = "Pay"

[[messages]]
key = ["0510"]
name = "CreditAck"
struct = "Pay"

[correlation]
fields = ["head.day", "head.seq"]

[sequence]
field = "head.seq"
min = 1
max = 99999999

[date]
field = "head.day"
format = "YYMMDD"

[response_code]
field = "head.rc"
success = ["OK"]
unknown = ["??"]
declined = ["NO"]

[[inquiry]]
for = [["0100"]]
key = ["0300"]
key_field = "orig_seq"
copy = { orig_seq = "head.seq" }
result_field = "outcome"
not_found = ["NF"]

[[notices]]
key = ["0500"]
ack = ["0510"]
copy = ["head.seq", "amount"]   # the acknowledgement echoes the number, not the date
set = { "head.rc" = "OK" }

[session]
opened_by = "gateway"
sign_on = ["0900"]
"#;

fn third(f: &Family, name: &str, seq: u64, extra: &[(&str, Value)]) -> Vec<u8> {
    let mut r = Record::new();
    set(&mut r, "head.day", "261123");
    r.set("head.seq", Value::UInt(u128::from(seq)));
    for (p, v) in extra {
        r.set(p, v.clone());
    }
    f.encode(name, &r).expect("encodes")
}

/// One telegram with the 2-byte big-endian length written and read by hand.
async fn raw_exchange(stream: &mut TcpStream, telegram: &[u8]) -> Vec<u8> {
    let len = u16::try_from(telegram.len()).expect("short");
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend_from_slice(telegram);
    timeout(WAIT, stream.write_all(&frame))
        .await
        .expect("write timed out")
        .expect("write");
    let mut head = [0u8; 2];
    timeout(WAIT, stream.read_exact(&mut head))
        .await
        .expect("read timed out")
        .expect("read");
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(head))];
    timeout(WAIT, stream.read_exact(&mut body))
        .await
        .expect("read timed out")
        .expect("read");
    body
}

#[tokio::test]
async fn a_third_family_written_only_in_toml_runs_through_the_same_simulator() {
    let f = Family::from_toml_str(THIRD).expect("the third family loads");
    let mut scenario = Scenario::default();
    scenario.outcomes.unknown = 1.0;
    scenario.outcomes.unknown_executed = 1.0;
    let sim = start(&f, scenario).await;
    let mut stream = timeout(WAIT, TcpStream::connect(sim.addr()))
        .await
        .expect("connect timed out")
        .expect("connect");

    // The gateway opens the day: a sign-on is just a request, answered with success.
    let answer = raw_exchange(&mut stream, &third(&f, "SignOn", 1, &[])).await;
    assert_eq!(&answer[..4], b"0910");
    assert_eq!(&answer[18..20], b"OK");
    assert_eq!(sim.day(), Day::Open);

    // A payment: the family's unknown code (+10 response, correlation echoed).
    let pay = third(
        &f,
        "Pay",
        5,
        &[
            ("account", Value::Text("ACC1".into())),
            ("amount", Value::UInt(1200)),
        ],
    );
    let answer = raw_exchange(&mut stream, &pay).await;
    let (spec, r) = f.decode(&answer).expect("decodes");
    assert_eq!(spec.name, "PayAnswer");
    assert_eq!(text(&r, "head.rc"), "??");
    assert_eq!(text(&r, "head.seq"), "5");
    assert_eq!(text(&r, "head.day"), "261123");
    assert_eq!(text(&r, "amount"), "1200");

    // The inquiry reveals the truth (executed), and `not_found` for a payment never seen.
    let ask = third(&f, "Ask", 6, &[("orig_seq", Value::UInt(5))]);
    let answer = raw_exchange(&mut stream, &ask).await;
    let (spec, r) = f.decode(&answer).expect("decodes");
    assert_eq!(spec.name, "AskAnswer");
    assert_eq!(
        (text(&r, "head.rc"), text(&r, "outcome")),
        ("OK".into(), "OK".into())
    );
    let ask = third(&f, "Ask", 7, &[("orig_seq", Value::UInt(99))]);
    let answer = raw_exchange(&mut stream, &ask).await;
    let (_, r) = f.decode(&answer).expect("decodes");
    assert_eq!(text(&r, "outcome"), "NF");

    let s = sim.stats();
    assert_eq!((s.requests, s.unknown, s.inquiries), (4, 1, 2));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_third_family_notice_flows_once_the_gateway_signed_on() {
    let f = Family::from_toml_str(THIRD).expect("the third family loads");
    let mut scenario = Scenario::default();
    scenario.notices.interval_ms = Some(20);
    scenario.notices.ack_timeout_ms = 200;
    scenario.notices.max_pending = 1;
    let sim = start(&f, scenario).await;
    let mut gw = Peer::connect(&f, sim.addr()).await;
    // No notice before the day is open: the gateway's sign-on opens it.
    assert_eq!(sim.day(), Day::NotOpen);
    assert_eq!(sim.stats().notices_sent, 0);
    let (name, _) = gw.ask(third(&f, "SignOn", 1, &[])).await;
    assert_eq!(name, "SignOnAnswer");
    let notice = until_resent(&mut gw, "0500").await;
    let (_, r) = f.decode(&notice).expect("decodes");
    assert_eq!(text(&r, "head.rc"), "");
    assert_eq!(
        text(&r, "head.seq"),
        "1",
        "the institution's own first number"
    );
    assert_ne!(text(&r, "amount"), "0");
    gw.send(acknowledge(&f, &notice)).await;
    sim.wait_for(WAIT, "the notice acknowledged", |s| s.notices_acked >= 1)
        .await
        .expect("acked");
    sim.shutdown().await;
}
