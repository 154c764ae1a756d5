//! How the bank answers one frame: polls, 관리, 이체/집금, 조회, and the company's
//! acknowledgements of notices. Pure bookkeeping; the session writes what comes out.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chrono::{Duration as ChronoDuration, NaiveDate};
use fep_codec::Telegram;
use fep_specs::hecto::{
    self, AccountNameInquiry, AdminMessage, BalanceInquiry, Collection, HectoHeader, HectoMessage,
    Poll, Transfer, TransferResultInquiry,
};
use rand::RngExt;

use fep_gateway::clock::{day_of, hms_of};

use super::draw::{decide, derived_rng, name_for, pick, SALT_INQUIRY};
use super::ledger::{Books, Code, FailCandidate, Outcome, Record, Seen, TxKind};
use super::{lock, Shared};

/// Where a reply goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    /// The session the request arrived on (polls).
    Same,
    /// Responses: the connect-back line in split mode, else the same session.
    Response,
}

/// What the session does after a frame.
#[derive(Debug)]
pub(super) enum Action {
    Reply {
        frame: Bytes,
        route: Route,
        delay: Duration,
        /// Counted under this code once sent (`None`: not a response, e.g. a poll answer).
        code: Option<Code>,
    },
    Close,
}

fn reply(
    frame: Option<Bytes>,
    route: Route,
    delay: Duration,
    code: Option<Code>,
) -> Option<Action> {
    match frame {
        Some(frame) => Some(Action::Reply {
            frame,
            route,
            delay,
            code,
        }),
        None => {
            tracing::error!("simulator: cannot encode a reply");
            None
        }
    }
}

/// An immediate `0000` answer on the response route.
fn ok(frame: Option<Bytes>) -> Option<Action> {
    reply(frame, Route::Response, Duration::ZERO, Some(Code::OK))
}

fn encoded(msg: &impl Telegram) -> Option<Bytes> {
    msg.encode().ok().map(Bytes::from)
}

/// The response header: the request's with 전문구분코드 + 100 and the code set. Unknown
/// request types (`9000`) get the same N000 → N100 rule; anything else keeps its type.
pub(super) fn response_header(h: HectoHeader, code: &str) -> HectoHeader {
    let msg_type = hecto::response_msg_type(&h.msg_type).unwrap_or_else(|| {
        let t = &h.msg_type;
        if t.len() == 4 && t.is_ascii() && t.ends_with("000") {
            format!("{}100", &t[..1])
        } else {
            t.clone()
        }
    });
    HectoHeader {
        msg_type,
        resp_code: code.to_owned(),
        ..h
    }
}

/// The request itself under its response header: `0001`, `SB09`, and lean answers.
fn echo(header: HectoHeader, code: Code, frame: &[u8]) -> Option<Bytes> {
    let mut out = BytesMut::with_capacity(frame.len());
    response_header(header, code.as_str())
        .encode_into(&mut out)
        .ok()?;
    out.extend_from_slice(frame.get(hecto::HEADER_LEN..).unwrap_or(&[]));
    Some(out.freeze())
}

fn key_of(h: &HectoHeader) -> (u32, u32) {
    (h.send_date.parse().unwrap_or(0), h.msg_no)
}

fn closing(shared: &Shared, why: &str) -> Option<Action> {
    tracing::warn!(why, "simulator: closing the session");
    shared.stat(|s| s.dropped_connections += 1);
    Some(Action::Close)
}

/// Answers one frame received on `session`.
pub(super) fn handle_frame(shared: &Shared, session: u64, frame: &Bytes) -> Option<Action> {
    if frame.starts_with(hecto::POLL_HDR.as_bytes()) {
        return poll(shared, frame);
    }
    let header = match frame.get(..hecto::HEADER_LEN).map(HectoHeader::decode) {
        Some(Ok(h)) => h,
        Some(Err(_)) => return closing(shared, "unreadable header"),
        None => return closing(shared, "frame shorter than a header"),
    };
    // N100 is a response (an ack, normally); anything else is a request, known or not, and
    // gets an answer (`0001` if the bank does not serve it).
    if !header.is_request() && header.msg_type.len() == 4 && header.msg_type.ends_with("100") {
        return on_response(shared, &header, frame);
    }
    let lean = shared.s.lean;
    if !lean {
        let kind = format!("{}/{}", header.msg_type, header.biz_type);
        shared.stat(|s| *s.requests.entry(kind).or_default() += 1);
    }
    let on_back = super::session::is_connect_back(session);
    shared.record(|r| r.seen.push(Seen::of(&header, on_back)));
    // Lean mode never decodes a transfer's body: it is echoed back.
    let echoed = match (lean, header.msg_type.as_str(), header.biz_type.as_str()) {
        (true, hecto::MSG_TYPE_TRANSFER, hecto::BIZ_TRANSFER) => Some(TxKind::Pay),
        (true, hecto::MSG_TYPE_TRANSFER, hecto::BIZ_COLLECTION) => Some(TxKind::Collect),
        _ => None,
    };
    let msg = match echoed {
        Some(_) => None,
        None => match HectoMessage::decode(frame) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(error = %e, "simulator: undecodable request, answering 0001");
                shared.stat(|s| s.bad_frames += 1);
                return reply(
                    echo(header, Code::FORMAT_MISMATCH, frame),
                    Route::Response,
                    Duration::ZERO,
                    Some(Code::FORMAT_MISMATCH),
                );
            }
        },
    };
    let key = key_of(&header);
    let mut books = lock(&shared.books);
    if books.learned.is_none() || matches!(msg, Some(HectoMessage::SignOnRequest(_))) {
        books.learned = Some((
            header.id_code.clone(),
            header.company_no.clone(),
            header.bank_code.clone(),
        ));
    }
    if header.msg_type != hecto::MSG_TYPE_ADMIN && books.contains(key) {
        drop(books);
        shared.stat(|s| s.duplicates_rejected += 1);
        tracing::info!(
            date = key.0,
            msg_no = key.1,
            "simulator: reused 전문번호 refused"
        );
        let code = shared.s.duplicate_code;
        return reply(
            echo(header, code, frame),
            Route::Response,
            Duration::ZERO,
            Some(code),
        );
    }
    let Some(msg) = msg else {
        let kind = echoed.unwrap_or(TxKind::Pay);
        return transfer(shared, &mut books, key, Txn::Echo(header, kind, frame));
    };
    match msg {
        HectoMessage::SignOnRequest(m) => {
            books.signed_on = Some(session);
            drop(books);
            shared.stat(|s| s.sign_ons += 1);
            ok(admin_ok(&m))
        }
        HectoMessage::SignOffRequest(m) => {
            if books.signed_on == Some(session) || shared.split() {
                books.signed_on = None;
            }
            drop(books);
            shared.stat(|s| s.sign_offs += 1);
            ok(admin_ok(&m))
        }
        HectoMessage::TestCallRequest(m) => {
            drop(books);
            ok(admin_ok(&m))
        }
        HectoMessage::TransferRequest(m) => transfer(shared, &mut books, key, Txn::Pay(m)),
        HectoMessage::CollectionRequest(m) => transfer(shared, &mut books, key, Txn::Collect(m)),
        HectoMessage::AccountNameInquiryRequest(m) => {
            books.remember(key, Record::Other);
            drop(books);
            let name = name_for(&m.account);
            ok(encoded(&AccountNameInquiry {
                header: response_header(m.header.clone(), hecto::RESP_OK),
                holder1: name.to_owned(),
                holder2: name.to_owned(),
                acct_fixed: "N".into(),
                acct_status: "N".into(),
                ..m
            }))
        }
        HectoMessage::TransferResultInquiryRequest(m) => {
            books.remember(key, Record::Other);
            result_inquiry(shared, &books, m)
        }
        HectoMessage::BalanceInquiryRequest(m) => {
            books.remember(key, Record::Other);
            let bal = books.balance;
            drop(books);
            ok(encoded(&BalanceInquiry {
                header: response_header(m.header.clone(), hecto::RESP_OK),
                overdraft_limit: Some(0),
                sign1: "+".into(),
                ledger_balance: Some(bal),
                cash_transfer: Some(bal),
                check_amt: Some(0),
                other_bill: Some(0),
                sign2: "+".into(),
                payable: Some(bal),
                ..m
            }))
        }
        _ => {
            // A request type the bank does not serve (결번요구 …).
            drop(books);
            shared.stat(|s| s.bad_frames += 1);
            let code = Code::FORMAT_MISMATCH;
            reply(
                echo(header, code, frame),
                Route::Response,
                Duration::ZERO,
                Some(code),
            )
        }
    }
}

fn poll(shared: &Shared, frame: &Bytes) -> Option<Action> {
    match Poll::decode(frame) {
        Ok(p) if p.is_request() => {
            shared.stat(|s| s.polls_received += 1);
            shared.record(|r| r.polls.push(frame.clone()));
            reply(
                encoded(&Poll::response_to(&p)),
                Route::Same,
                Duration::ZERO,
                None,
            )
        }
        Ok(p) if p.is_response() => {
            shared.stat(|s| s.poll_responses += 1);
            shared.record(|r| r.poll_answers.push(frame.clone()));
            None
        }
        _ => closing(shared, "unreadable poll"),
    }
}

fn admin_ok(m: &AdminMessage) -> Option<Bytes> {
    encoded(&AdminMessage {
        header: response_header(m.header.clone(), hecto::RESP_OK),
        ..m.clone()
    })
}

/// A transfer's request as the mode sees it.
enum Txn<'a> {
    Pay(Transfer),
    Collect(Collection),
    /// Lean mode: only the header decoded; the answer echoes the request.
    Echo(HectoHeader, TxKind, &'a [u8]),
}

/// 이체 / 집금: decides the outcome, executes it on the books, answers after the latency.
fn transfer(shared: &Shared, books: &mut Books, key: (u32, u32), txn: Txn<'_>) -> Option<Action> {
    let cfg = &shared.s.cfg;
    let d = decide(&shared.s, shared.script(), key.1);
    let executed = d.result == Code::OK;
    // 타행 transfers pay the fee; 당행 (same bank as the contract) are free.
    let fee_for = |h: &HectoHeader, dep_bank: &str| {
        if executed && dep_bank != h.bank_code {
            cfg.fee
        } else {
            0
        }
    };
    let (kind, amount, fee) = match &txn {
        Txn::Pay(m) => (
            TxKind::Pay,
            Some(m.amount),
            Some(fee_for(&m.header, &m.dep_bank)),
        ),
        Txn::Collect(m) => (
            TxKind::Collect,
            Some(m.amount),
            Some(fee_for(&m.header, &m.dep_bank)),
        ),
        Txn::Echo(_, kind, _) => (*kind, None, None),
    };
    if executed {
        match &txn {
            Txn::Pay(m) => {
                let f = fee.unwrap_or(0);
                books.balance = books.balance.saturating_sub(m.amount.saturating_add(f));
                books.add_fail_candidate(FailCandidate {
                    msg_no: key.1,
                    wd_account: m.wd_account.clone(),
                    dep_bank: m.dep_bank.clone(),
                    dep_account: m.dep_account.clone(),
                    amount: m.amount,
                });
            }
            Txn::Collect(m) => {
                let f = fee.unwrap_or(0);
                books.balance = books.balance.saturating_add(m.amount).saturating_sub(f);
            }
            // Lean mode keeps no balance.
            Txn::Echo(..) => {}
        }
    }
    let tx_time = match txn {
        Txn::Echo(..) => None,
        _ => Some(hms_of(&shared.kst_now())),
    };
    books.remember(
        key,
        Record::Transfer(Outcome {
            kind,
            amount,
            result: d.result,
            answered: d.answered,
            fee,
            tx_time,
        }),
    );
    let balance = books.balance;
    let Some(code) = d.answered else {
        shared.stat(|s| s.no_responses += 1);
        return None;
    };
    // Balance and fee are only meaningful on a success answer.
    let (bal_sign, balance, fee) = if code == Code::OK {
        ("+".to_owned(), Some(balance), fee)
    } else {
        (String::new(), None, None)
    };
    let frame = match txn {
        Txn::Pay(m) => encoded(&Transfer {
            header: response_header(m.header.clone(), code.as_str()),
            bal_sign,
            balance,
            fee,
            ..m
        }),
        Txn::Collect(m) => encoded(&Collection {
            header: response_header(m.header.clone(), code.as_str()),
            bal_sign,
            balance,
            fee,
            ..m
        }),
        Txn::Echo(header, _, frame) => echo(header, code, frame),
    };
    reply(frame, Route::Response, d.delay, Some(code))
}

/// 7000/100: reveals the true outcome of the original (same 전송일자, else the day before).
fn result_inquiry(shared: &Shared, books: &Books, m: TransferResultInquiry) -> Option<Action> {
    let s = &shared.s;
    let date: u32 = m.header.send_date.parse().unwrap_or(0);
    let previous = NaiveDate::parse_from_str(&m.header.send_date, "%Y%m%d")
        .ok()
        .and_then(|d| d.checked_sub_signed(ChronoDuration::days(1)))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| day_of(&d));
    let found = books
        .outcome(date, m.orig_msg_no)
        .or_else(|| previous.and_then(|p| books.outcome(p, m.orig_msg_no)));
    let mut rng = derived_rng(s.cfg.seed, SALT_INQUIRY, u64::from(m.header.msg_no));
    let in_progress = found.is_some() && rng.random_bool(s.cfg.inquiry_in_progress_rate);
    let header = response_header(m.header.clone(), hecto::RESP_OK);
    let r = match (found, in_progress) {
        (Some(t), false) => {
            let executed = t.executed();
            TransferResultInquiry {
                header,
                // Lean mode knows no amounts: the request's stay as they were.
                req_amount: t.amount.or(m.req_amount),
                ok_amount: t
                    .amount
                    .map(|a| if executed { a } else { 0 })
                    .or(m.ok_amount),
                fail_amount: t
                    .amount
                    .map(|a| if executed { 0 } else { a })
                    .or(m.fail_amount),
                fee: t.fee.or(m.fee),
                tx_time: t.tx_time.map(|x| format!("{x:06}")).or(m.tx_time.clone()),
                result: t.result.as_str().to_owned(),
                ..m
            }
        }
        (Some(_), true) => TransferResultInquiry {
            header,
            tx_time: Some(format!("{:06}", hms_of(&shared.kst_now()))),
            result: pick(&mut rng, &s.in_progress_codes, Code::IN_PROGRESS)
                .as_str()
                .to_owned(),
            ..m
        },
        (None, _) => TransferResultInquiry {
            header,
            result: hecto::RESULT_NO_RECORD.to_owned(),
            ..m
        },
    };
    shared.stat(|st| {
        st.inquiries_answered += 1;
        if found.is_none() {
            st.inquiries_not_found += 1;
        } else if in_progress {
            st.inquiries_in_progress += 1;
        }
    });
    ok(encoded(&r))
}

/// A response from the company: a notice acknowledgement, or nothing we asked for.
fn on_response(shared: &Shared, header: &HectoHeader, frame: &Bytes) -> Option<Action> {
    let is_ack = (header.msg_type == hecto::MSG_TYPE_STATEMENT_RESPONSE
        && header.biz_type == hecto::BIZ_STATEMENT)
        || (header.msg_type == hecto::MSG_TYPE_FAIL_NOTICE_RESPONSE
            && header.biz_type == hecto::BIZ_FAIL_NOTICE);
    if !is_ack {
        tracing::warn!(msg_type = %header.msg_type, biz_type = %header.biz_type, "simulator: unexpected frame ignored");
        shared.stat(|s| s.unexpected_frames += 1);
        return None;
    }
    shared.record(|r| r.acks.push(frame.clone()));
    let key = key_of(header);
    let mut books = lock(&shared.books);
    let echoed = books.pending.get(&key).map(|p| {
        p.header.reserved1 == header.reserved1
            && p.header.reserved2 == header.reserved2
            && p.header.reserved3 == header.reserved3
            && p.header.biz_type == header.biz_type
            && hecto::response_msg_type(&p.header.msg_type).as_deref() == Some(&header.msg_type)
    });
    if echoed == Some(true) {
        books.pending.remove(&key);
    }
    drop(books);
    match echoed {
        Some(true) => shared.stat(|s| s.notices_acked += 1),
        Some(false) => {
            tracing::warn!(
                msg_no = key.1,
                "simulator: notice ack does not echo 예비영역; resending later"
            );
            shared.stat(|s| s.notice_acks_bad += 1);
        }
        None => {
            // A late second ack of a notice already settled is normal after a resend (and a
            // test's pushed notice was never pending).
            tracing::debug!(msg_no = key.1, "simulator: ack of no pending notice");
            shared.stat(|s| s.notice_acks_bad += 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_header_rules() {
        let h = HectoHeader {
            msg_type: "9000".into(),
            ..HectoHeader::default()
        };
        assert_eq!(response_header(h, "0001").msg_type, "9100");
        let h = HectoHeader {
            msg_type: "2000".into(),
            ..HectoHeader::default()
        };
        let r = response_header(h, "0000");
        assert_eq!(
            (r.msg_type.as_str(), r.resp_code.as_str()),
            ("2100", "0000")
        );
    }
}
