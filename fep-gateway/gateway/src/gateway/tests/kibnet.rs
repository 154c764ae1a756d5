//! KIBNET(EFMS) through the gateway from its TOML alone, against a hand-written EFMS over real
//! TCP: the institution opens the day (0800/2100 → 0810), answers 지급이체 0200/1100 with
//! 0210 (+10, code 000), leaves one unanswered so that 0200/6013 resolves it, sends 명세통지
//! 0200/5900 acknowledged 0210 only once journaled, and 종료예고 stops new transfers. Links are
//! per telegram both ways, as KIBNET's receiving side observed.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::per_telegram::{bounded, status_until};
use super::*;
use crate::domain::MsgKey;
use crate::framing::FrameCodec;
use crate::profile::framing_of;
use crate::protocol::Outcome;
use crate::settings::{Mode, PerTelegram};

const ORG: &str = "20031709";

fn profile() -> Profile {
    Profile::kibnet(ORG)
}

fn codec() -> FrameCodec {
    let family = fep_codec::spec::Family::from_toml_str(fep_specs::KIBNET_TOML).unwrap();
    FrameCodec::new(framing_of(&family).unwrap().0, 4096).unwrap()
}

/// A telegram EFMS sends (송수신 FLAG 6), numbered `seq`.
fn from_efms(key: &str, seq: u64) -> Bytes {
    from_efms_on(key, seq, 20261201)
}

/// [`from_efms`] dated `day` (거래일자).
fn from_efms_on(key: &str, seq: u64, day: u32) -> Bytes {
    let p = profile();
    let mut t = p.admin(&key.parse::<MsgKey>().unwrap());
    t[20] = b'6';
    p.msg_no.put_digits(&mut t, seq);
    p.send_date.put_digits(&mut t, u64::from(day));
    Bytes::from(t)
}

/// Sends `telegram` on a connection of its own to the gateway's inbound link and returns the
/// answer read back there.
async fn send_to_gateway(addr: SocketAddr, telegram: Bytes) -> Bytes {
    let stream = bounded("connect", TcpStream::connect(addr)).await.unwrap();
    let mut peer = Framed::new(stream, codec());
    bounded("send", peer.send(telegram)).await.unwrap();
    bounded("the answer", peer.next())
        .await
        .expect("closed before answering")
        .unwrap()
}

/// EFMS's receiving side: accepts one connection per telegram, hands each telegram to the test
/// and writes back what the test answers (nothing: the connection is closed unanswered).
fn efms(
    listener: TcpListener,
) -> mpsc::Receiver<(Bytes, tokio::sync::oneshot::Sender<Option<Bytes>>)> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut framed = Framed::new(stream, codec());
                let Some(Ok(telegram)) = framed.next().await else {
                    return;
                };
                let (answer_tx, answer_rx) = tokio::sync::oneshot::channel();
                if tx.send((telegram, answer_tx)).await.is_err() {
                    return;
                }
                if let Ok(Some(answer)) = answer_rx.await {
                    let _ = framed.send(answer).await;
                }
            });
        }
    });
    rx
}

/// A KIBNET institution on `links`, from the embedded spec.
fn kibnet_settings(links: Vec<LinkSettings>) -> InstitutionSettings {
    let family = fep_codec::spec::Family::from_toml_str(fep_specs::KIBNET_TOML).unwrap();
    InstitutionSettings::of("kibnet", profile(), framing_of(&family).unwrap().0, links)
}

/// The 0210 answer to `request` with code `code` (EFMS echoes the telegram, FLAG 6).
fn answer(request: &[u8], code: &str) -> Bytes {
    let mut t = profile().answer_to(request, code);
    t[20] = b'6';
    Bytes::from(t)
}

#[tokio::test]
async fn kibnet_runs_end_to_end_from_its_toml() {
    let dir = tempfile::tempdir().unwrap();
    let efms_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let efms_addr = efms_listener.local_addr().unwrap();
    let mut efms = efms(efms_listener);
    let mut send = LinkSettings::per_telegram_outbound(efms_addr);
    send.name = "send".into();
    let mut recv = LinkSettings::per_telegram_inbound_loopback();
    if let Mode::PerTelegram(t) = &mut recv.mode {
        *t = PerTelegram {
            reply_timeout: Duration::from_secs(60),
            ..*t
        };
    }
    let mut inst = kibnet_settings(vec![send, recv]);
    inst.poll_interval = None;
    inst.request_timeout = Duration::from_millis(800);
    inst.inquiry_delay = Duration::from_millis(10);
    inst.inquiry_interval = Duration::from_millis(50);
    let gateway = Gateway::start(settings(dir.path(), inst), Arc::new(SystemClock))
        .await
        .unwrap();
    let gw_addr = gateway.listen_addrs()[0].addr;
    let handle = gateway.institution("kibnet").unwrap().clone();
    let p = profile();

    status_until(&gateway, "both lines up", |s| {
        s.links
            .iter()
            .all(|l| l.state == crate::institution::LinkState::Up)
    })
    .await;
    // Before EFMS opens the day nothing goes out, and the caller is told why.
    let transfer = || {
        let mut t = p.admin(&"0200/1100".parse().unwrap());
        t[300..313].copy_from_slice(b"0000001000000");
        t
    };
    let early = bounded("early request", handle.request(transfer(), None)).await;
    assert_eq!(early.outcome, Outcome::Rejected, "{early:?}");
    assert!(early.detail.contains("open the business day"), "{early:?}");

    // 개시 from EFMS: answered 0810 echoing it with FLAG 5 and 000; the day is open.
    let open = from_efms("0800/2100", 1);
    let reply = send_to_gateway(gw_addr, open.clone()).await;
    assert_eq!(p.msg_key(&reply).unwrap(), ("0810", "2100"));
    assert_eq!((reply[20], &reply[47..50]), (b'5', &b"000"[..]));
    assert_eq!(
        &reply[64..71],
        &open[64..71],
        "the command's own number echoed"
    );
    status_until(&gateway, "open", |s| s.signed_on).await;

    // 지급이체: out on its own connection, stamped with a 7-digit 거래일련번호, answered 0210.
    let pending = tokio::spawn({
        let handle = handle.clone();
        let t = transfer();
        async move { handle.request(t, None).await }
    });
    let (sent, reply_to) = bounded("the transfer at EFMS", efms.recv()).await.unwrap();
    assert_eq!(p.msg_key(&sent).unwrap(), ("0200", "1100"));
    assert_eq!((&sent[..4], sent[20]), (&b"0600"[..], b'5'));
    assert_eq!(&sent[21..29], ORG.as_bytes());
    reply_to.send(Some(answer(&sent, "000"))).unwrap();
    let ok = bounded("the transfer's answer", pending).await.unwrap();
    assert_eq!(ok.outcome, Outcome::Ok, "{ok:?}");

    // Unanswered: unknown to the caller, then 0200/6013 asks about it by its number.
    let lost = bounded("an unanswered transfer", async {
        let pending = tokio::spawn({
            let handle = handle.clone();
            let t = transfer();
            async move { handle.request(t, None).await }
        });
        let (sent, reply_to) = efms.recv().await.unwrap();
        drop(reply_to);
        (sent, pending.await.unwrap())
    })
    .await;
    assert_eq!(lost.1.outcome, Outcome::Unknown, "{:?}", lost.1);
    let (inquiry, reply_to) = bounded("the 6013 inquiry", efms.recv()).await.unwrap();
    assert_eq!(p.msg_key(&inquiry).unwrap(), ("0200", "6013"));
    assert_eq!(
        &inquiry[300..307],
        &lost.0[64..71],
        "요구전문번호 = the original 거래일련번호"
    );
    let mut result = profile().answer_to(&inquiry, "000");
    result[386..390].copy_from_slice(b"000 ");
    reply_to.send(Some(Bytes::from(result))).unwrap();
    let settled = status_until(&gateway, "resolved by 6013", |s| {
        s.counters.unknown_resolved >= 1
    })
    .await;
    assert_eq!(settled.counters.resolved_ok, 1, "{:?}", settled.counters);

    // 명세통지: acknowledged 0210/5900 (FLAG 5, 000) after it is journaled.
    let notice = from_efms("0200/5900", 7);
    let ack = send_to_gateway(gw_addr, notice).await;
    assert_eq!(p.msg_key(&ack).unwrap(), ("0210", "5900"));
    assert_eq!((ack[20], &ack[47..50]), (b'5', &b"000"[..]));
    let journal = gateway.journal();
    let recorded = journal
        .undelivered_notices(Arc::from("test"), Arc::from("kibnet"), 0, 10)
        .await
        .unwrap();
    assert_eq!(recorded.notices.len(), 1, "journaled before the ack");

    // 종료예고: no new 지급이체; a 수취조회 (no money moves) still goes.
    let reply = send_to_gateway(gw_addr, from_efms("0800/2300", 2)).await;
    assert_eq!(p.msg_key(&reply).unwrap(), ("0810", "2300"));
    let refused = bounded("after 종료예고", handle.request(transfer(), None)).await;
    assert_eq!(refused.outcome, Outcome::Rejected);
    assert!(
        refused.detail.contains("closing the business day"),
        "{refused:?}"
    );
    gateway.shutdown(Duration::from_secs(5)).await;
}

/// EFMS sends 개시 once a day: a gateway restarted after it finds the day open in its
/// journal; one restarted after 종료 waits for the next 개시.
#[tokio::test]
async fn an_institution_opened_day_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let start = || async {
        let mut recv = LinkSettings::per_telegram_inbound_loopback();
        recv.name = "recv".into();
        let mut inst = kibnet_settings(vec![recv]);
        inst.poll_interval = None;
        let gateway = Gateway::start(settings(dir.path(), inst), Arc::new(SystemClock))
            .await
            .unwrap();
        let addr = gateway.listen_addrs()[0].addr;
        (gateway, addr)
    };
    let (gateway, addr) = start().await;
    let status = gateway.status().await.remove(0);
    assert!(!status.signed_on);
    // EFMS dates its commands with the business date.
    let day = status.day;
    send_to_gateway(addr, from_efms_on("0800/2100", 1, day)).await;
    status_until(&gateway, "open", |s| s.signed_on).await;
    gateway.shutdown(Duration::from_secs(5)).await;

    let (gateway, addr) = start().await;
    status_until(&gateway, "open again from the journal", |s| s.signed_on).await;
    send_to_gateway(addr, from_efms_on("0800/2400", 2, day)).await;
    status_until(&gateway, "closed", |s| !s.signed_on).await;
    gateway.shutdown(Duration::from_secs(5)).await;

    let (gateway, _) = start().await;
    // A barrier on the actor: the restore read went through the journal before this flush.
    gateway.journal().flush().await.unwrap();
    let status = gateway.status().await.remove(0);
    assert!(!status.signed_on, "closed by 종료: {status:?}");
    gateway.shutdown(Duration::from_secs(5)).await;
}
