//! What the institution does with a telegram from the gateway: answer a heartbeat, settle
//! the acknowledgement of its own notice or command, or answer a request (refusing
//! duplicates, revealing true outcomes to result inquiries, drawing the rest).

use std::time::Duration;

use bytes::Bytes;
use fep_codec::spec::{InquirySpec, MessageSpec};
use fep_codec::Record;

use super::books::{decide, item_of, Day, Seen as Fate};
use super::telegrams::{answer_record, norm, response_message};
use super::{lock, outbound, Seen, Shared};

/// Telegrams to write back, each after its delay.
pub(super) type Answers = Vec<(Duration, Bytes)>;

/// Handles one telegram (without framing) from the gateway.
pub(super) fn handle(shared: &Shared, frame: &[u8]) -> Answers {
    shared.stat(|s| s.frames += 1);
    let family = &shared.family;
    if let Some(hb) = family.heartbeat() {
        // Decoding every telegram as a heartbeat is wasted work when the lengths differ.
        if hb.layout.len().is_none_or(|l| l == frame.len()) {
            if hb.is_request(frame) {
                keep(shared, "heartbeat", "", frame);
                return match hb.respond(frame) {
                    Ok(answer) => {
                        shared.stat(|s| s.heartbeats += 1);
                        vec![(Duration::ZERO, answer.into())]
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot answer the heartbeat");
                        Vec::new()
                    }
                };
            }
            if hb.is_response(frame) {
                keep(shared, "heartbeat", "", frame);
                return Vec::new();
            }
        }
    }
    let (spec, record) = match family.decode(frame) {
        Ok(d) => d,
        Err(e) => {
            keep(shared, "", "", frame);
            shared.stat(|s| s.undecodable += 1);
            tracing::warn!(error = %e, "undecodable telegram");
            return Vec::new();
        }
    };
    keep(shared, &spec.key_str(), &spec.name, frame);
    if outbound::settle(shared, spec, &record) {
        return Vec::new();
    }
    if spec.response.is_none() {
        shared.stat(|s| s.unexpected += 1);
        tracing::debug!(key = %spec.key_str(), "neither a request nor an acknowledgement");
        return Vec::new();
    }
    request(shared, spec, &record)
}

/// Keeps a received telegram when recording is on.
fn keep(shared: &Shared, key: &str, name: &str, frame: &[u8]) {
    if let Some(r) = &shared.recording {
        lock(r).push(Seen {
            key: key.to_owned(),
            name: name.to_owned(),
            telegram: Bytes::copy_from_slice(frame),
        });
    }
}

/// The request's date (the `[date]` field), as comparable text.
fn date_of(shared: &Shared, record: &Record) -> String {
    shared
        .family
        .date()
        .and_then(|d| record.get(&d.field))
        .map(norm)
        .unwrap_or_default()
}

/// The answer to `spec` with `sets` written over the copied request fields.
fn answer(
    shared: &Shared,
    spec: &MessageSpec,
    record: &Record,
    delay: Duration,
    sets: &[(&str, &str)],
) -> Answers {
    let Some(resp) = response_message(&shared.family, spec) else {
        return Vec::new();
    };
    let values = answer_record(resp, record, &shared.plan.stamp, sets);
    match shared.family.encode(&resp.name, &values) {
        Ok(bytes) => vec![(delay, bytes.into())],
        Err(e) => {
            tracing::warn!(error = %e, request = %spec.key_str(), "cannot encode the answer");
            Vec::new()
        }
    }
}

fn request(shared: &Shared, spec: &MessageSpec, record: &Record) -> Answers {
    shared.stat(|s| s.requests += 1);
    let family = &shared.family;
    let plan = &shared.plan;
    let code_field = plan.code_field.as_str();
    // An answer at once with `code`.
    let coded = |code: &str| answer(shared, spec, record, Duration::ZERO, &[(code_field, code)]);
    let ok = || {
        shared.stat(|s| s.ok += 1);
        coded(&plan.success)
    };
    if !family.correlation().is_empty() {
        if let Some(key) = family.correlation_key(record) {
            let key: Vec<String> = key
                .iter()
                .map(|k| norm(&fep_codec::Value::Text(k.clone())))
                .collect();
            if !lock(&shared.books).first_sight(key) {
                shared.stat(|s| s.duplicates += 1);
                return coded(&plan.duplicate);
            }
        }
    }
    let session = family.session();
    let is = |k: &Option<Vec<String>>| k.as_ref() == Some(&spec.key);
    if is(&session.sign_on) {
        lock(&shared.books).day = Day::Open;
        return ok();
    }
    if is(&session.sign_off) {
        lock(&shared.books).day = Day::Closed;
        return ok();
    }
    if session
        .test_call
        .as_ref()
        .is_some_and(|t| t.key == spec.key)
    {
        return ok();
    }
    if let Some(inq) = family.inquiries().iter().find(|i| i.key == spec.key) {
        return inquiry(shared, inq, spec, record);
    }
    let resolved_by = family.inquiry_for(&spec.key);
    let money_moving = resolved_by.is_some() || session.money_moving.contains(&spec.key);
    let day = lock(&shared.books).day;
    if money_moving && matches!(day, Day::StopNew | Day::Closed) {
        shared.stat(|s| s.refused_closed += 1);
        return coded(&plan.closed);
    }
    let number = family
        .sequence()
        .and_then(|s| record.get(&s.field))
        .map(norm);
    let fallback = family.correlation_key(record).unwrap_or_default().join("/");
    let item = item_of(number.as_deref(), &fallback);
    let fate = decide(plan, &shared.scenario, shared.seed, item);
    if let Some(inq) = resolved_by {
        let original = inq
            .copy
            .iter()
            .find(|(to, _)| to == &inq.key_field)
            .and_then(|(_, from)| record.get(from))
            .map(norm);
        if let Some(n) = original {
            let date = date_of(shared, record);
            lock(&shared.books).record_truth(&date, &n, &fate.truth);
        }
    }
    shared.stat(|s| match fate.seen {
        Fate::Ok => s.ok += 1,
        Fate::Declined => s.declined += 1,
        Fate::Unknown => s.unknown += 1,
        Fate::InProgress => s.in_progress += 1,
        Fate::NoAnswer => s.no_answer += 1,
    });
    match &fate.answer {
        Some(code) => answer(shared, spec, record, fate.delay, &[(code_field, code)]),
        None => Vec::new(),
    }
}

/// A result inquiry: success, and the original's true outcome in the result field (the
/// `not_found` code, else a declined code, when the original never arrived).
fn inquiry(shared: &Shared, inq: &InquirySpec, spec: &MessageSpec, record: &Record) -> Answers {
    shared.stat(|s| {
        s.inquiries += 1;
        s.ok += 1;
    });
    let plan = &shared.plan;
    let date = date_of(shared, record);
    let truth = record
        .get(&inq.key_field)
        .map(norm)
        .and_then(|n| lock(&shared.books).truth(&date, &n).map(str::to_owned));
    let result = truth.unwrap_or_else(|| {
        inq.not_found
            .first()
            .or_else(|| plan.declined.first())
            .cloned()
            .unwrap_or_default()
    });
    let mut sets = vec![(plan.code_field.as_str(), plan.success.as_str())];
    if let Some(field) = &inq.result_field {
        sets.push((field.as_str(), result.as_str()));
    }
    answer(shared, spec, record, Duration::ZERO, &sets)
}
