//! Helpers: the gateway's side of a connection, KIBNET telegrams, acknowledgements.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fep_client::framing::FrameCodec;
use fep_codec::spec::Family;
use fep_codec::{Record, Value};
use fep_gateway::clock::SystemClock;
use fep_gateway::profile::framing_of;
use fep_testkit::spec_sim::{Scenario, SpecSim, SpecSimHandle, SpecSimOptions};
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_util::codec::Framed;

pub const WAIT: Duration = Duration::from_secs(10);
pub const DATE: &str = "20261123";

pub fn kibnet() -> Family {
    Family::from_toml_str(fep_specs::KIBNET_TOML).expect("kibnet loads")
}

pub async fn start(family: &Family, scenario: Scenario) -> SpecSimHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let opts = SpecSimOptions {
        seed: 7,
        ..SpecSimOptions::default()
    };
    SpecSim::start_on(
        listener,
        family.clone(),
        scenario,
        opts,
        Arc::new(SystemClock),
    )
    .expect("start")
}

pub fn codec(family: &Family) -> FrameCodec {
    let (framing, max) = framing_of(family).expect("framing");
    FrameCodec::new(framing, max.unwrap_or(65_536)).expect("codec")
}

/// The gateway's side of a connection.
pub struct Peer {
    pub family: Family,
    pub conn: Framed<TcpStream, FrameCodec>,
}

impl Peer {
    pub async fn connect(family: &Family, addr: SocketAddr) -> Peer {
        let stream = timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        Peer::on(family, stream)
    }

    pub fn on(family: &Family, stream: TcpStream) -> Peer {
        Peer {
            family: family.clone(),
            conn: Framed::new(stream, codec(family)),
        }
    }

    pub async fn send(&mut self, telegram: Vec<u8>) {
        timeout(WAIT, self.conn.send(Bytes::from(telegram)))
            .await
            .expect("send timed out")
            .expect("send");
    }

    pub async fn recv(&mut self) -> Bytes {
        match timeout(WAIT, self.conn.next()).await {
            Ok(Some(Ok(f))) => f,
            other => panic!("no telegram within {WAIT:?}: {other:?}"),
        }
    }

    /// Sends `telegram` and decodes the answer: (message name, record). Like a gateway, it
    /// acknowledges the institution's own commands and notices arriving meanwhile.
    pub async fn ask(&mut self, telegram: Vec<u8>) -> (String, Record) {
        self.send(telegram).await;
        loop {
            let answer = self.recv().await;
            if let Some(ack) = acknowledgement(&self.family, &answer) {
                self.send(ack).await;
                continue;
            }
            let (spec, record) = self.family.decode(&answer).expect("answer decodes");
            return (spec.name.clone(), record);
        }
    }
}

pub fn text(r: &Record, path: &str) -> String {
    match r.get(path) {
        Some(Value::Text(s)) => s.trim().to_owned(),
        Some(Value::UInt(n)) => n.to_string(),
        other => panic!("{path}: {other:?}"),
    }
}

pub fn set(r: &mut Record, path: &str, v: &str) {
    r.set(path, Value::Text(v.to_owned()));
}

/// A KIBNET 지급이체 (0200/1100, 송수신 FLAG 5) numbered `seq`.
pub fn payment(f: &Family, seq: u64) -> Vec<u8> {
    let mut r = Record::new();
    set(&mut r, "header.tx_date", DATE);
    set(&mut r, "header.tx_time", "101500");
    r.set("header.tx_seq", Value::UInt(u128::from(seq)));
    r.set("accounts.amount", Value::UInt(50_000));
    set(&mut r, "accounts.wd_account", "1002003004");
    f.encode("PaymentRequest", &r).expect("payment encodes")
}

/// A KIBNET 이체처리결과조회 (0200/6013) numbered `seq`, asking about `original`.
pub fn result_inquiry(f: &Family, seq: u64, original: u64) -> Vec<u8> {
    let mut r = Record::new();
    set(&mut r, "header.tx_date", DATE);
    r.set("header.tx_seq", Value::UInt(u128::from(seq)));
    set(&mut r, "header.sr_flag", "5");
    r.set("req_msg_no", Value::UInt(u128::from(original)));
    f.encode("ResultInquiryRequest", &r)
        .expect("inquiry encodes")
}

/// (`[[notices]]` or `[[session.commands]]`); `None` for any other telegram.
pub fn acknowledgement(f: &Family, telegram: &[u8]) -> Option<Vec<u8>> {
    let (_, record) = f.decode(telegram).ok()?;
    let keys = f.key_fields();
    let rule = f
        .notices()
        .iter()
        .find(|n| n.matches(keys, telegram))
        .or_else(|| f.session().command_of(keys, telegram).map(|c| &c.answer))?;
    let ack = rule.ack_record(&record);
    Some(f.encode(&rule.ack.join("/"), &ack).expect("ack encodes"))
}

pub fn acknowledge(f: &Family, telegram: &[u8]) -> Vec<u8> {
    acknowledgement(f, telegram).expect("a notice or a command")
}

/// Reads until a telegram arrives a second time (a resend); returns it.
pub async fn until_resent(gw: &mut Peer, key: &str) -> Bytes {
    let mut first: Option<Bytes> = None;
    loop {
        let t = gw.recv().await;
        let spec = gw.family.identify(&t).expect("identifies");
        assert_eq!(spec.key_str(), key, "unexpected telegram");
        match &first {
            Some(f) if *f == t => return t,
            Some(_) => panic!("a different {key} before the first was acknowledged"),
            None => first = Some(t),
        }
    }
}

/// A listener standing in for the gateway's inbound link, with `sim` connecting back to it.
pub async fn inbound_for(sim: &SpecSimHandle) -> TcpListener {
    let inbound = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    sim.connect_back(inbound.local_addr().expect("addr"))
        .expect("connect back");
    inbound
}

/// The next connection the simulator opens to `inbound`.
pub async fn accept(f: &Family, inbound: &TcpListener) -> Peer {
    let (stream, _) = timeout(WAIT, inbound.accept())
        .await
        .expect("the simulator connects back")
        .expect("accept");
    Peer::on(f, stream)
}
