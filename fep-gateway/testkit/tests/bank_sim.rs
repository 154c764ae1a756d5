//! The simulated bank over real TCP with the Hecto framing.

use std::time::Duration;

use bytes::Bytes;
use fep_client::framing::{FrameCodec, Framing};
use fep_codec::Telegram;
use fep_specs::hecto;
use fep_testkit::bank_sim::{BankSim, BankSimConfig};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

type Conn = Framed<TcpStream, FrameCodec>;

async fn connect(sim: &BankSim) -> Conn {
    Framed::new(
        TcpStream::connect(sim.addr()).await.unwrap(),
        FrameCodec::new(Framing::hecto(), 4096).unwrap(),
    )
}

fn header(msg_type: &str, biz: &str, msg_no: u32) -> hecto::HectoHeader {
    hecto::HectoHeader {
        id_code: "SETTLEBNK".into(),
        company_no: "T".into(),
        bank_code: "004".into(),
        msg_type: msg_type.into(),
        biz_type: biz.into(),
        send_count: 1,
        msg_no,
        send_date: "20261122".into(),
        send_time: "093000".into(),
        ..Default::default()
    }
}

fn transfer(msg_no: u32) -> Bytes {
    let t = hecto::Transfer {
        header: header("2000", "100", msg_no),
        wd_account: "1".into(),
        amount: 5,
        bal_sign: "+".into(),
        dep_bank: "088".into(),
        ..Default::default()
    };
    Bytes::from(t.encode().unwrap())
}

fn inquiry(msg_no: u32, orig: u32) -> Bytes {
    let q = hecto::TransferResultInquiry {
        header: header("7000", "100", msg_no),
        orig_msg_no: orig,
        ..Default::default()
    };
    Bytes::from(q.encode().unwrap())
}

async fn exchange(c: &mut Conn, t: Bytes) -> Option<Vec<u8>> {
    c.send(t).await.unwrap();
    match tokio::time::timeout(Duration::from_secs(2), c.next()).await {
        Ok(Some(Ok(f))) => Some(f.to_vec()),
        _ => None,
    }
}

fn code(f: &[u8]) -> &str {
    std::str::from_utf8(&f[52..56]).unwrap()
}

#[tokio::test]
async fn answers_transfers_refuses_reuse_and_reveals_truth_by_inquiry() {
    let sim = BankSim::start(BankSimConfig {
        unknown_rate: 1.0,
        ..BankSimConfig::default()
    })
    .await
    .unwrap();
    let mut c = connect(&sim).await;
    let first = exchange(&mut c, transfer(1)).await.unwrap();
    assert_eq!(
        (&first[24..28], code(&first)),
        (&b"2100"[..], "VTIM"),
        "unknown_rate = 1: VTIM"
    );
    let again = exchange(&mut c, transfer(1)).await.unwrap();
    assert_eq!(code(&again), "SB09", "a reused 전문번호 is refused");
    let q = exchange(&mut c, inquiry(2, 1)).await.unwrap();
    assert_eq!(code(&q), "0000");
    let truth = std::str::from_utf8(&q[193..197]).unwrap();
    assert!(
        truth == "0000" || truth == "SB02",
        "the inquiry reveals the true outcome: {truth}"
    );
    let nrec = exchange(&mut c, inquiry(3, 999)).await.unwrap();
    assert_eq!(&nrec[193..197], b"NREC", "never received");
    let poll = exchange(&mut c, Bytes::from_static(b"HDRREQPOLL1122093015"))
        .await
        .unwrap();
    assert_eq!(poll, b"HDRRESPOLL1122093015");
    let name = exchange(
        &mut c,
        Bytes::from(
            hecto::AccountNameInquiry {
                header: header("6000", "100", 4),
                ..Default::default()
            }
            .encode()
            .unwrap(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        hecto::AccountNameInquiry::decode(&name).unwrap().holder1,
        "홍길동"
    );
}

#[tokio::test]
async fn declines_and_silences_at_the_configured_rates() {
    let sim = BankSim::start(BankSimConfig {
        decline_rate: 1.0,
        ..BankSimConfig::default()
    })
    .await
    .unwrap();
    let mut c = connect(&sim).await;
    assert_eq!(code(&exchange(&mut c, transfer(1)).await.unwrap()), "SB02");
    let sim = BankSim::start(BankSimConfig {
        no_response_rate: 1.0,
        ..BankSimConfig::default()
    })
    .await
    .unwrap();
    let mut c = connect(&sim).await;
    assert!(exchange(&mut c, transfer(1)).await.is_none(), "no answer");
    let q = exchange(&mut c, inquiry(2, 1)).await.unwrap();
    assert_eq!(&q[193..197], b"0000", "executed although unanswered");
}

#[tokio::test]
async fn same_seed_same_outcomes() {
    async fn outcomes(seed: u64) -> Vec<String> {
        let sim = BankSim::start(BankSimConfig {
            decline_rate: 0.3,
            unknown_rate: 0.2,
            seed,
            ..BankSimConfig::default()
        })
        .await
        .unwrap();
        let mut c = connect(&sim).await;
        let mut out = Vec::new();
        for n in 1..=40 {
            out.push(code(&exchange(&mut c, transfer(n)).await.unwrap()).to_owned());
        }
        out
    }
    let a = outcomes(42).await;
    assert_eq!(a, outcomes(42).await);
    assert_ne!(a, outcomes(43).await);
    assert!(a.iter().any(|c| c == "SB02") && a.iter().any(|c| c == "0000"));
}

#[tokio::test]
async fn notices_are_sent_and_split_answers_go_on_the_connect_back_line() {
    let back = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = BankSim::start(BankSimConfig {
        connect_back: Some(back.local_addr().unwrap()),
        notice_every: Some(Duration::from_millis(100)),
        ..BankSimConfig::default()
    })
    .await
    .unwrap();
    let (stream, _) = tokio::time::timeout(Duration::from_secs(5), back.accept())
        .await
        .unwrap()
        .unwrap();
    let mut recv = Framed::new(stream, FrameCodec::new(Framing::hecto(), 4096).unwrap());
    let mut send = connect(&sim).await;
    send.send(transfer(1)).await.unwrap();
    let mut saw_answer = false;
    let mut saw_notice = false;
    for _ in 0..20 {
        let Ok(Some(Ok(f))) = tokio::time::timeout(Duration::from_secs(2), recv.next()).await
        else {
            break;
        };
        saw_answer |= &f[24..28] == b"2100";
        saw_notice |= &f[24..28] == b"4000";
        if saw_answer && saw_notice {
            break;
        }
    }
    assert!(
        saw_answer,
        "the transfer's answer arrives on the connect-back line"
    );
    assert!(saw_notice, "deposit notices are sent");
    assert!(
        sim.stats()
            .notices_sent
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}
