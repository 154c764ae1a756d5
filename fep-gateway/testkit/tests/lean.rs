//! The simulator's lean mode (the benchmark's bank) over real TCP with the Hecto framing:
//! the tests of the former lean benchmark bank, on `Mode::Lean`.

use std::time::Duration;

use bytes::Bytes;
use fep_client::framing::{FrameCodec, Framing};
use fep_codec::Telegram;
use fep_specs::hecto;
use fep_testkit::sim::{Mode, SimConfig, SimHandle, Simulator};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

type Conn = Framed<TcpStream, FrameCodec>;

/// A lean simulator on a listener bound here.
async fn lean(cfg: SimConfig) -> SimHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start_on(
        listener,
        SimConfig {
            mode: Mode::Lean,
            ..cfg
        },
    )
    .unwrap()
}

async fn connect(sim: &SimHandle) -> Conn {
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

fn admin(msg_no: u32) -> Bytes {
    let a = hecto::AdminMessage {
        header: header("1000", "100", msg_no),
        filler: String::new(),
    };
    Bytes::from(a.encode().unwrap())
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
    let sim = lean(SimConfig {
        unknown_rate: 1.0,
        unknown_codes: vec!["VTIM".into()],
        ..SimConfig::default()
    })
    .await;
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
    // The holder's name as the bank has it: Korean, and the same for the same account.
    let holder = hecto::AccountNameInquiry::decode(&name).unwrap().holder1;
    assert!(!holder.is_empty() && !holder.is_ascii(), "{holder:?}");
    let again = exchange(
        &mut c,
        Bytes::from(
            hecto::AccountNameInquiry {
                header: header("6000", "100", 5),
                ..Default::default()
            }
            .encode()
            .unwrap(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        hecto::AccountNameInquiry::decode(&again).unwrap().holder1,
        holder
    );
}

#[tokio::test]
async fn declines_and_silences_at_the_configured_rates() {
    let sim = lean(SimConfig {
        decline_rate: 1.0,
        ..SimConfig::default()
    })
    .await;
    let mut c = connect(&sim).await;
    assert_eq!(code(&exchange(&mut c, transfer(1)).await.unwrap()), "SB02");
    let sim = lean(SimConfig {
        no_response_rate: 1.0,
        ..SimConfig::default()
    })
    .await;
    let mut c = connect(&sim).await;
    assert!(exchange(&mut c, transfer(1)).await.is_none(), "no answer");
    let q = exchange(&mut c, inquiry(2, 1)).await.unwrap();
    assert_eq!(&q[193..197], b"0000", "executed although unanswered");
}

#[tokio::test]
async fn same_seed_same_outcomes() {
    async fn outcomes(seed: u64) -> Vec<String> {
        let sim = lean(SimConfig {
            decline_rate: 0.3,
            unknown_rate: 0.2,
            seed,
            ..SimConfig::default()
        })
        .await;
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
    let sim = lean(SimConfig {
        connect_back: Some(back.local_addr().unwrap()),
        notice_interval_ms: Some(100),
        ..SimConfig::default()
    })
    .await;
    let (stream, _) = tokio::time::timeout(Duration::from_secs(5), back.accept())
        .await
        .unwrap()
        .unwrap();
    let mut recv = Framed::new(stream, FrameCodec::new(Framing::hecto(), 4096).unwrap());
    let mut send = connect(&sim).await;
    // Notices go to a signed-on company only.
    send.send(admin(9)).await.unwrap();
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
    assert!(sim.stats().notices_sent >= 1);
}

#[tokio::test]
async fn lean_answers_echo_the_request_and_keep_no_books() {
    let sim = lean(SimConfig {
        initial_balance: 1_000,
        ..SimConfig::default()
    })
    .await;
    let mut c = connect(&sim).await;
    let request = transfer(1);
    let answer = exchange(&mut c, request.clone()).await.unwrap();
    assert_eq!((&answer[24..28], code(&answer)), (&b"2100"[..], "0000"));
    assert_eq!(
        &answer[100..],
        &request[100..],
        "the body is echoed, never decoded"
    );
    let t = sim.true_outcome("20261122", 1).unwrap();
    assert!(t.executed && t.result == "0000");
    assert_eq!((t.amount, t.fee), (0, 0), "no amounts in lean mode");
    assert_eq!(sim.balance(), 1_000, "no balance kept");
    let s = sim.stats();
    assert!(
        s.requests.is_empty() && s.responses.is_empty(),
        "no counters by kind: {s:?}"
    );
    let q = exchange(&mut c, inquiry(2, 1)).await.unwrap();
    assert_eq!(&q[193..197], b"0000", "inquiries still reveal the outcome");
    sim.shutdown().await;
}

#[tokio::test]
async fn lean_mode_declines_and_echoes_the_body() {
    let sim = Simulator::start_on(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        SimConfig {
            mode: Mode::Lean,
            decline_rate: 1.0,
            latency_ms: "5".into(),
            ..SimConfig::default()
        },
    )
    .unwrap();
    let mut c = Framed::new(
        TcpStream::connect(sim.addr()).await.unwrap(),
        FrameCodec::new(Framing::hecto(), 4096).unwrap(),
    );
    let request = transfer(1);
    let answer = exchange(&mut c, request.clone()).await.unwrap();
    assert_eq!(code(&answer), "SB02");
    assert_eq!(&answer[100..], &request[100..], "lean: the body is echoed");
    sim.shutdown().await;
}
