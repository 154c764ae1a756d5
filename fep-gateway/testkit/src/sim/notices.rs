//! Unsolicited notices: 4000/100 예금거래명세통지 (and some 3000/100 타행이체불능통지) with the
//! bank's own daily 전문번호, resent with the same number until acknowledged.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::NaiveDateTime;
use fep_codec::Telegram;
use fep_specs::hecto::{self, DepositNotice, HectoHeader, TransferFailNotice};
use rand::rngs::StdRng;
use rand::RngExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use fep_gateway::clock::{day_of, hms_of};

use super::config::SimConfig;
use super::draw::{derived_rng, NAMES, SALT_NOTICE};
use super::ledger::{Books, PendingNotice};
use super::session::Out;
use super::{lock, Shared};

/// Unacknowledged notices kept at once; generation pauses above this.
const MAX_PENDING_NOTICES: usize = 1000;

/// Every `notice_interval`, a new notice to the signed-on session (the connect-back line when
/// split); unacknowledged ones again after `notice_ack_timeout`, up to `notice_max_resends`.
pub(super) async fn notice_loop(shared: Arc<Shared>, token: CancellationToken) {
    let Some(interval) = shared.s.notice_interval else {
        return;
    };
    let ack_timeout = shared.s.notice_ack_timeout;
    let tick =
        (interval.min(ack_timeout) / 4).clamp(Duration::from_millis(5), Duration::from_millis(500));
    let mut rng = derived_rng(shared.s.cfg.seed, SALT_NOTICE, 0);
    let mut next_new = Instant::now() + interval;
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(tick) => {}
        }
        let Some(tx) = shared.notice_route() else {
            // Nobody to notify: start the interval afresh once someone signs on.
            next_new = Instant::now() + interval;
            continue;
        };
        let now = Instant::now();
        let mut out: Vec<((u32, u32), Bytes, bool)> = Vec::new();
        {
            let mut bank = lock(&shared.books);
            let max = shared.s.cfg.notice_max_resends;
            let mut abandoned = Vec::new();
            for (k, p) in &bank.pending {
                match p.sent_at {
                    None => out.push((*k, p.frame.clone(), false)),
                    Some(t) if now.duration_since(t) >= ack_timeout => {
                        if p.resends >= max {
                            abandoned.push(*k);
                        } else {
                            out.push((*k, p.frame.clone(), true));
                        }
                    }
                    Some(_) => {}
                }
            }
            for k in &abandoned {
                bank.pending.remove(k);
                tracing::warn!(
                    msg_no = k.1,
                    "simulator: notice never acknowledged, giving up"
                );
            }
            if !abandoned.is_empty() {
                let n = abandoned.len() as u64;
                shared.stat(|s| s.notices_abandoned += n);
            }
            if now >= next_new {
                next_new = if now.duration_since(next_new) > interval {
                    now + interval
                } else {
                    next_new + interval
                };
                if bank.pending.len() < MAX_PENDING_NOTICES {
                    let clock_now = shared.kst_now();
                    match new_notice(&shared.s.cfg, &mut bank, &mut rng, clock_now) {
                        Ok((k, p)) => {
                            out.push((k, p.frame.clone(), false));
                            bank.pending.insert(k, p);
                        }
                        Err(e) => tracing::error!(error = %e, "simulator: notice encode"),
                    }
                }
            }
        }
        for (k, frame, resend) in out {
            if tx.try_send(Out::Frame(frame)).is_err() {
                // Line congested or gone: the next tick retries.
                continue;
            }
            let mut bank = lock(&shared.books);
            if let Some(p) = bank.pending.get_mut(&k) {
                p.sent_at = Some(now);
                if resend {
                    p.resends += 1;
                }
            }
            drop(bank);
            shared.stat(|s| {
                if resend {
                    s.notices_resent += 1;
                } else {
                    s.notices_sent += 1;
                }
            });
        }
    }
}

/// Builds the next 4000/100 (or, sometimes, 3000/100) notice with the next daily 전문번호.
fn new_notice(
    cfg: &SimConfig,
    bank: &mut Books,
    rng: &mut StdRng,
    now: NaiveDateTime,
) -> Result<((u32, u32), PendingNotice), fep_codec::EncodeError> {
    let day = day_of(&now);
    if bank.notice_day != day {
        bank.notice_day = day;
        bank.notice_no = 0;
    }
    bank.notice_no += 1;
    let no = bank.notice_no;
    let (id_code, company_no, bank_code) = match (&bank.learned, cfg.company_no.is_empty()) {
        (Some((id, company, code)), true) => (id.clone(), company.clone(), code.clone()),
        _ => (
            hecto::ID_CODE.to_owned(),
            cfg.company_no.clone(),
            cfg.bank_code.clone(),
        ),
    };
    let fail = if rng.random_bool(cfg.fail_notice_rate) {
        bank.fail_candidates.pop_front()
    } else {
        None
    };
    let header = HectoHeader {
        id_code,
        company_no,
        bank_code,
        msg_type: if fail.is_some() {
            hecto::MSG_TYPE_FAIL_NOTICE
        } else {
            hecto::MSG_TYPE_STATEMENT
        }
        .to_owned(),
        biz_type: "100".to_owned(),
        send_count: 1,
        msg_no: no,
        send_date: format!("{day:08}"),
        send_time: format!("{:06}", hms_of(&now)),
        resp_code: String::new(),
        // Distinct, non-blank 예비영역 so the company's echo is actually checked.
        reserved1: format!("SIMBANK0N{no:06}"),
        reserved2: format!("R{:010}", rng.random_range(0..10_000_000_000u64)),
        reserved3: format!("NOTICE{:012}", rng.random_range(0..1_000_000_000_000u64)),
    };
    let frame = match fail {
        Some(c) => TransferFailNotice {
            header: header.clone(),
            orig_msg_no: Some(c.msg_no),
            wd_account: c.wd_account,
            dep_bank: Some(c.dep_bank),
            dep_account: c.dep_account,
            req_amount: Some(c.amount),
            ok_amount: Some(0),
            fail_amount: Some(c.amount),
            split_count: Some(1),
            split_no: Some(1),
            other_bank_msg_no: Some(rng.random_range(1..950_000)),
            fail_notice_amt: Some(c.amount),
            error_code: "0412".into(),
            ..TransferFailNotice::default()
        }
        .encode()?,
        None => {
            let amount = rng.random_range(1..=50_000u64) * 100;
            bank.balance = bank.balance.saturating_add(amount);
            let name = NAMES[rng.random_range(0..NAMES.len())];
            DepositNotice {
                header: header.clone(),
                account: cfg.account.clone(),
                giro_branch: "0040001".into(),
                io_cancel_type: "11".into(),
                tx_kind: if rng.random_bool(0.5) { "03" } else { "20" }.into(),
                amount,
                cash_like: Some(amount),
                bill_other: Some(0),
                bal_sign: "+".into(),
                balance: Some(bank.balance),
                counterparty_name: name.into(),
                tx_date: format!("{day:08}"),
                tx_time: format!("{:06}", hms_of(&now)),
                tx_seq: no,
                ..DepositNotice::default()
            }
            .encode()?
        }
    };
    Ok((
        (day, no),
        PendingNotice {
            frame: Bytes::from(frame),
            header,
            sent_at: None,
            resends: 0,
        },
    ))
}
