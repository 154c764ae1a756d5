//! How the gateway reads and writes one institution's telegrams on the hot path.
//!
//! A [`Profile`] holds byte ranges (taken from the spec's layout) and code sets. The gateway
//! never fully decodes a telegram to route it: it stamps the sequence number, date and time in
//! place, and reads the correlation key, message type and response code straight from the
//! bytes. Full decoding is left to callers and tools.

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use fep_codec::spec::{CommandEffect, Opener};
use fep_codec::{FieldLayout, Layout};

mod build;
mod shipped;
mod wire;

pub use build::ProfileError;
pub use shipped::HectoContract;
pub use wire::{framing_of, WireError};

/// A field's byte range inside a telegram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Offset from the start of the telegram.
    pub offset: usize,
    /// Width in bytes.
    pub len: usize,
}

impl Span {
    /// The span of `path` in `layout`, if it has a fixed offset.
    pub fn of(layout: &Layout, path: &str) -> Option<Span> {
        let f = layout.field(path)?;
        Some(Span {
            offset: f.offset?,
            len: f.len?,
        })
    }

    /// The field's bytes, or `None` if the telegram is too short.
    pub fn get<'a>(&self, telegram: &'a [u8]) -> Option<&'a [u8]> {
        telegram.get(self.offset..self.offset + self.len)
    }

    fn get_mut<'a>(&self, telegram: &'a mut [u8]) -> Option<&'a mut [u8]> {
        telegram.get_mut(self.offset..self.offset + self.len)
    }

    /// Writes `value` right-aligned with '0' padding (an N field).
    pub fn put_digits(&self, telegram: &mut [u8], mut value: u64) -> bool {
        let Some(slot) = self.get_mut(telegram) else {
            return false;
        };
        for b in slot.iter_mut().rev() {
            *b = b'0' + (value % 10) as u8;
            value /= 10;
        }
        value == 0
    }

    /// Writes `text` left-aligned with space padding (an AN field); false if it does not fit.
    pub fn put_text(&self, telegram: &mut [u8], text: &[u8]) -> bool {
        match self.get_mut(telegram) {
            Some(slot) if text.len() <= slot.len() => {
                slot[..text.len()].copy_from_slice(text);
                slot[text.len()..].fill(b' ');
                true
            }
            _ => false,
        }
    }

    /// Parses the field as ASCII digits.
    pub fn digits(&self, telegram: &[u8]) -> Option<u64> {
        let raw = self.get(telegram)?;
        if raw.is_empty() || !raw.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(raw.iter().fold(0u64, |v, b| v * 10 + u64::from(b - b'0')))
    }

    /// The field as trimmed ASCII text.
    pub fn text<'a>(&self, telegram: &'a [u8]) -> Option<&'a str> {
        std::str::from_utf8(self.get(telegram)?).ok().map(str::trim)
    }
}

/// A field the gateway reads or writes by value: where it is and how it is aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpan {
    /// Where.
    pub span: Span,
    /// A number field (right-aligned, '0'-padded); else text (left-aligned, space-padded).
    pub numeric: bool,
}

impl FieldSpan {
    /// Writes `value` aligned as the field is; false when it does not fit.
    pub fn put(&self, telegram: &mut [u8], value: &[u8]) -> bool {
        if !self.numeric {
            return self.span.put_text(telegram, value);
        }
        let Some(slot) = self.span.get_mut(telegram) else {
            return false;
        };
        if value.len() > slot.len() {
            return false;
        }
        let pad = slot.len() - value.len();
        slot[..pad].fill(b'0');
        slot[pad..].copy_from_slice(value);
        true
    }

    /// True when the field holds `value` (compared as the field aligns it).
    pub fn holds(&self, telegram: &[u8], value: &str) -> bool {
        let Some(raw) = self.span.get(telegram) else {
            return false;
        };
        fep_codec::spec::KeyField {
            path: String::new(),
            offset: 0,
            len: raw.len(),
            right_aligned: self.numeric,
        }
        .holds(raw, value)
    }
}

/// What a received frame is, as far as routing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A heartbeat request (answer on the same session).
    PollRequest,
    /// A heartbeat answer.
    PollResponse,
    /// A response to one of our requests (its key is a request's `response`).
    Response,
    /// An unsolicited notice (index into the notice rules): recorded, then acknowledged.
    Notice(usize),
    /// A session command the institution started (index into the command rules): answered.
    Command(usize),
    /// A request we do not serve, or an unreadable header.
    Other,
}

/// How a response settles a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Success code.
    Ok,
    /// The institution refused, with its code.
    Declined(String),
    /// Timeout / in-progress code: the money may have moved; resolve by inquiry.
    Unknown(String),
}

pub use crate::domain::MsgKey;

/// The spec's result inquiry for unknown transfers.
#[derive(Debug, Clone)]
pub struct InquiryRule {
    /// Request keys resolved by this inquiry.
    pub for_requests: Vec<MsgKey>,
    /// The inquiry's key.
    pub key: MsgKey,
    /// Where the original transaction's result sits in the inquiry response.
    pub result: Span,
    /// Result codes meaning "never received": the original was not executed.
    pub not_found: Vec<String>,
    /// Inquiry field ← original request field (the original's 전문번호 among them).
    pub copy: Vec<(FieldSpan, Span)>,
}

/// How an inbound telegram (a notice, a session command) is recognised and acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckRule {
    /// Its key.
    pub key: MsgKey,
    /// Header values it holds besides the key (a message sharing the key otherwise).
    pub when: Vec<(FieldSpan, String)>,
    /// The acknowledgement's key.
    pub ack: MsgKey,
    /// The acknowledgement starts as a copy of the whole telegram (else as a blank one).
    pub copy_all: bool,
    /// Fields copied from the telegram (when not `copy_all`): where in it, where in the ack.
    pub copy: Vec<(Span, Span)>,
    /// Fields set in the acknowledgement.
    pub set: Vec<(FieldSpan, String)>,
    /// Fields that, with the key, identify a resent notice.
    pub dedup: Vec<Span>,
}

/// A session command and what answering it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRule {
    /// Recognising and answering it.
    pub answer: AckRule,
    /// Its effect on the session.
    pub effect: CommandEffect,
}

/// The family's session rules, as the engine reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRules {
    /// Who opens the business day.
    pub opened_by: Opener,
    /// The sign-on request the gateway sends (when it opens the day).
    pub sign_on: Option<MsgKey>,
    /// The sign-off request the gateway sends at shutdown.
    pub sign_off: Option<MsgKey>,
    /// Sign on again at each new business date.
    pub sign_on_at_date_change: bool,
    /// A test call sent as an ordinary telegram on an idle session, and the idle time.
    pub test_call: Option<(MsgKey, Duration)>,
    /// Requests refused once the institution announced the end of the day (종료예고).
    pub money_moving: Vec<MsgKey>,
}

/// One message of the family as the gateway reads it.
#[derive(Debug, Clone)]
struct Variant {
    key: MsgKey,
    /// Header values telling it apart from a message sharing its key.
    when: Vec<(FieldSpan, String)>,
    layout: Layout,
    /// The key of its response, if it is a request.
    response: Option<MsgKey>,
}

/// Everything the gateway needs to know about an institution's telegrams.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Family name.
    pub family: String,
    /// The dispatch key fields (전문구분코드, 업무구분코드 …), in key order.
    pub key_fields: Vec<FieldSpan>,
    /// The sequence number (전문번호): assigned by the gateway, echoed by responses.
    pub msg_no: Span,
    /// The business date (YYYYMMDD).
    pub send_date: Span,
    /// The send time (hhmmss), if the family has one.
    pub send_time: Span,
    /// The response code.
    pub resp_code: Span,
    /// The correlation key's fields: a response carries its request's values.
    pub correlation: Vec<Span>,
    /// Daily range of the sequence number.
    pub seq_range: RangeInclusive<u32>,
    /// Response codes meaning success.
    pub success_codes: Vec<String>,
    /// Response codes meaning "outcome unknown" (timeouts, 처리중 …).
    pub unknown_codes: Vec<String>,
    /// Unsolicited notices.
    pub notices: Vec<AckRule>,
    /// Session commands the institution starts.
    pub commands: Vec<CommandRule>,
    /// Who opens and closes the day, with which telegrams.
    pub session: SessionRules,
    /// Result inquiry for unknown outcomes.
    pub inquiry: Option<InquiryRule>,
    /// The config's `[institution.header]` values: written into every telegram the gateway
    /// builds, never into an echo of the institution's own telegram.
    pub constants: Vec<(FieldSpan, Vec<u8>)>,
    /// The family's `[session] stamp` (e.g. a direction flag): written into everything the
    /// gateway sends, echoes included.
    pub stamp: Vec<(FieldSpan, Vec<u8>)>,
    /// Heartbeat request and response prefixes (the family's `[heartbeat]` values).
    pub poll: Option<(Vec<u8>, Vec<u8>)>,
    /// The layout of each message key the gateway sends (the variant holding the session
    /// stamp when several share a key), for the dynamic codec.
    pub layouts: Vec<(MsgKey, Layout)>,
    /// The spec's `default` values by message key, by field path: what a request built from
    /// named fields gets for a field its caller leaves out.
    pub defaults: Vec<(MsgKey, Vec<(String, String)>)>,
    variants: Vec<Variant>,
}

/// The correlation key of a telegram: the bytes of its correlation fields, compared exactly
/// (no numeric packing, so any width and any field type works). Inline and `Copy`: it keys
/// the in-flight table on the hot path.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CorrKey {
    len: u8,
    bytes: [u8; CorrKey::MAX],
}

impl CorrKey {
    /// The widest correlation key (sum of the fields' widths) a family may have.
    pub const MAX: usize = 64;

    /// The key made of `parts`, or `None` when wider than [`CorrKey::MAX`].
    pub fn from_parts<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Option<CorrKey> {
        let mut key = CorrKey {
            len: 0,
            bytes: [0; CorrKey::MAX],
        };
        for p in parts {
            let at = usize::from(key.len);
            key.bytes.get_mut(at..at + p.len())?.copy_from_slice(p);
            key.len = u8::try_from(at + p.len()).ok()?;
        }
        Some(key)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// A correlation key made of `n`'s decimal digits, for tests.
#[cfg(test)]
pub(crate) fn test_key(n: u64) -> CorrKey {
    let digits = n.to_string();
    CorrKey::from_parts([digits.as_bytes()]).unwrap_or(CorrKey {
        len: 0,
        bytes: [0; CorrKey::MAX],
    })
}

impl fmt::Display for CorrKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

impl fmt::Debug for CorrKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CorrKey({self})")
    }
}

impl Profile {
    /// The layout of a message key as the gateway sends it (e.g. `2000/100`).
    pub fn layout_for(&self, key: &MsgKey) -> Option<&Layout> {
        self.layouts.iter().find(|(k, _)| k == key).map(|(_, l)| l)
    }

    /// The layout of a received telegram: the variant its key and `when` values select.
    pub fn layout_of(&self, telegram: &[u8]) -> Option<&Layout> {
        let key = self.msg_key(telegram)?;
        self.variants
            .iter()
            .filter(|v| v.key == key)
            .find(|v| v.when.iter().all(|(f, val)| f.holds(telegram, val)))
            .map(|v| &v.layout)
            .or_else(|| self.layout_for(&key))
    }

    /// The telegram length of a message key, when its layout is fixed.
    pub fn telegram_len(&self, key: &MsgKey) -> Option<usize> {
        self.layout_for(key).and_then(Layout::len)
    }

    /// The spec's default field values of a message key, by field path.
    pub fn defaults_for(&self, key: &MsgKey) -> &[(String, String)] {
        self.defaults
            .iter()
            .find(|(k, _)| k == key)
            .map_or(&[], |(_, d)| d.as_slice())
    }

    /// The fields the gateway stamps into every request: the key, sequence, date and time.
    fn stamped(&self) -> impl Iterator<Item = Span> + '_ {
        self.key_fields
            .iter()
            .map(|f| f.span)
            .chain([self.msg_no, self.send_date, self.send_time])
    }

    /// Whether the gateway writes `field` of every request itself, whatever the caller sent:
    /// the stamped fields ([`Profile::stamp`], the message key) and the header constants.
    pub fn owns(&self, field: &FieldLayout) -> bool {
        let (Some(offset), Some(len)) = (field.offset, field.len) else {
            return false;
        };
        let end = offset + len;
        let overlaps = |s: Span| s.len > 0 && s.offset < end && offset < s.offset + s.len;
        self.stamped().any(overlaps)
            || self
                .constants
                .iter()
                .chain(&self.stamp)
                .any(|(f, _)| overlaps(f.span))
    }

    /// Writes the message key and the header constants into a telegram built from
    /// caller-supplied fields.
    pub fn fill_header(&self, telegram: &mut [u8], key: &MsgKey) {
        for (f, v) in &self.constants {
            f.put(telegram, v);
        }
        self.put_key_and_stamp(telegram, key);
    }

    /// The message key and the family's stamp: what even an echo gets.
    fn put_key_and_stamp(&self, telegram: &mut [u8], key: &MsgKey) {
        for (f, part) in self.key_fields.iter().zip(key.parts()) {
            f.put(telegram, part.as_bytes());
        }
        for (f, v) in &self.stamp {
            f.put(telegram, v);
        }
    }

    /// Classifies a received frame.
    pub fn classify(&self, frame: &[u8]) -> FrameKind {
        if let Some((req, resp)) = &self.poll {
            if frame.starts_with(req) {
                return FrameKind::PollRequest;
            }
            if frame.starts_with(resp) {
                return FrameKind::PollResponse;
            }
        }
        // Compared in place, field by field: no key is built for a frame (hot path).
        let is = |key: &MsgKey| self.has_key(frame, key);
        let holds = |r: &AckRule| is(&r.key) && r.when.iter().all(|(f, v)| f.holds(frame, v));
        if let Some(i) = self.notices.iter().position(holds) {
            return FrameKind::Notice(i);
        }
        if let Some(i) = self.commands.iter().position(|c| holds(&c.answer)) {
            return FrameKind::Command(i);
        }
        if self
            .variants
            .iter()
            .any(|v| v.response.as_ref().is_some_and(is))
        {
            return FrameKind::Response;
        }
        FrameKind::Other
    }

    /// True when `frame`'s key fields hold `key` (as [`Profile::msg_key`] would read them).
    fn has_key(&self, frame: &[u8], key: &MsgKey) -> bool {
        let mut parts = key.parts();
        self.key_fields
            .iter()
            .all(|f| f.span.text(frame).is_some_and(|t| parts.next() == Some(t)))
            && parts.next().is_none()
    }

    /// True when `frame` is an answer to a request of `request_key` (its key is the
    /// request's `response`), read in place.
    pub fn answers_frame(&self, request_key: &MsgKey, frame: &[u8]) -> bool {
        self.variants.iter().any(|v| {
            v.key == *request_key && v.response.as_ref().is_some_and(|k| self.has_key(frame, k))
        })
    }

    /// True when `response_key` answers a request of `request_key`.
    pub fn answers(&self, request_key: &MsgKey, response_key: &MsgKey) -> bool {
        self.variants
            .iter()
            .any(|v| v.key == *request_key && v.response.as_ref() == Some(response_key))
    }

    /// The correlation key of a request or response.
    pub fn key(&self, telegram: &[u8]) -> Option<CorrKey> {
        if self.correlation.iter().any(|s| s.get(telegram).is_none()) {
            return None;
        }
        CorrKey::from_parts(self.correlation.iter().filter_map(|s| s.get(telegram)))
    }

    /// Writes the gateway-owned fields: sequence number, date, time.
    pub fn stamp(&self, telegram: &mut [u8], msg_no: u32, date: u32, time: u32) -> bool {
        self.msg_no.put_digits(telegram, u64::from(msg_no))
            & self.send_date.put_digits(telegram, u64::from(date))
            & (self.send_time.len == 0 || self.send_time.put_digits(telegram, u64::from(time)))
    }

    /// The message key of a telegram.
    pub fn msg_key(&self, telegram: &[u8]) -> Option<MsgKey> {
        let mut parts = Vec::with_capacity(self.key_fields.len());
        for f in &self.key_fields {
            parts.push(f.span.text(telegram)?);
        }
        if parts.iter().all(|p| p.is_empty()) {
            return None;
        }
        Some(MsgKey::from_parts(&parts))
    }

    /// How a response settles its request.
    pub fn verdict(&self, response: &[u8]) -> Verdict {
        let code = self.resp_code.text(response).unwrap_or("").to_owned();
        self.code_verdict(code)
    }

    fn code_verdict(&self, code: String) -> Verdict {
        if self.success_codes.contains(&code) {
            Verdict::Ok
        } else if self.unknown_codes.contains(&code) {
            Verdict::Unknown(code)
        } else {
            Verdict::Declined(code)
        }
    }

    /// A blank telegram of `key` (e.g. sign-on), header constants and key filled, not yet
    /// stamped. Blank is what the layout encodes for no values (zeros in N fields, its own
    /// length in a length field).
    pub fn admin(&self, key: &MsgKey) -> Vec<u8> {
        let mut t = match self.layout_for(key) {
            Some(l) => l
                .encode_record(&fep_codec::Record::new())
                .unwrap_or_else(|_| vec![b' '; l.len().unwrap_or(0)]),
            None => Vec::new(),
        };
        if let Some(v) = self.variants.iter().find(|v| v.key == *key) {
            for (f, val) in &v.when {
                f.put(&mut t, val.as_bytes());
            }
        }
        self.fill_header(&mut t, key);
        t
    }

    /// True when a request of this key should be resolved by inquiry when its outcome is unknown.
    pub fn resolvable(&self, telegram: &[u8]) -> bool {
        match (&self.inquiry, self.msg_key(telegram)) {
            (Some(rule), Some(key)) => rule.for_requests.contains(&key),
            _ => false,
        }
    }

    /// True when the family has requests of this key: a message with a `response`.
    pub fn is_request(&self, key: &MsgKey) -> bool {
        self.variants
            .iter()
            .any(|v| v.key == *key && v.response.is_some())
    }

    /// True when a request of this key moves money (refused after 종료예고).
    pub fn moves_money(&self, key: &MsgKey) -> bool {
        self.session.money_moving.contains(key)
    }

    /// The result inquiry about `original`, not yet stamped: its fields copied from the
    /// original as the spec's `[[inquiry]] copy` says (the original's number among them).
    pub fn inquiry(&self, original: &[u8]) -> Option<Vec<u8>> {
        let rule = self.inquiry.as_ref()?;
        let mut t = self.admin(&rule.key);
        for (to, from) in &rule.copy {
            let Some(src) = from.get(original) else {
                continue;
            };
            if to.span.len == from.len {
                if let Some(slot) = to.span.get_mut(&mut t) {
                    slot.copy_from_slice(src);
                }
            } else {
                let text = String::from_utf8_lossy(src);
                let text = if to.numeric {
                    text.trim().trim_start_matches('0').to_owned()
                } else {
                    text.trim().to_owned()
                };
                to.put(&mut t, text.as_bytes());
            }
        }
        Some(t)
    }

    /// What an inquiry response says about the original: `None` while still in progress.
    pub fn inquiry_verdict(&self, response: &[u8]) -> Option<Verdict> {
        let rule = self.inquiry.as_ref()?;
        match self.verdict(response) {
            Verdict::Ok => {}
            Verdict::Unknown(_) => return None,
            // The inquiry itself was refused: keep asking.
            Verdict::Declined(_) => return None,
        }
        let result = rule.result.text(response).unwrap_or("").to_owned();
        if rule.not_found.contains(&result) {
            return Some(Verdict::Declined(result));
        }
        match self.code_verdict(result) {
            Verdict::Unknown(_) => None,
            v => Some(v),
        }
    }

    /// The acknowledgement of an inbound telegram under `rule`: an echo of it (`copy_all`:
    /// the institution's own header values kept) or a blank ack of ours with the listed
    /// fields copied; then the ack key, the family's stamp and the `set` values.
    pub fn ack(&self, rule: &AckRule, inbound: &[u8]) -> Vec<u8> {
        let mut ack = if rule.copy_all {
            inbound.to_vec()
        } else {
            let mut a = self.admin(&rule.ack);
            for (from, to) in &rule.copy {
                if let (Some(src), Some(dst)) = (from.get(inbound), to.get_mut(&mut a)) {
                    if src.len() == dst.len() {
                        dst.copy_from_slice(src);
                    }
                }
            }
            a
        };
        self.put_key_and_stamp(&mut ack, &rule.ack);
        for (f, v) in &rule.set {
            f.put(&mut ack, v.as_bytes());
        }
        ack
    }

    /// The deduplication key of a notice: its key's values, then its dedup fields (the
    /// sequence number by default) — the format the journal has always deduplicated by.
    pub fn dedup_key(&self, rule: &AckRule, notice: &[u8]) -> String {
        let key: String = rule.key.parts().collect();
        let fields: Vec<&str> = if rule.dedup.is_empty() {
            vec![self.msg_no.text(notice).unwrap_or("")]
        } else {
            rule.dedup
                .iter()
                .map(|s| s.text(notice).unwrap_or(""))
                .collect()
        };
        format!("{key}/{}", fields.join("/"))
    }

    /// The institution's answer to `request` (tests play the institution): the request
    /// with its response key and response code `code`.
    #[cfg(test)]
    pub(crate) fn answer_to(&self, request: &[u8], code: &str) -> Vec<u8> {
        let mut t = request.to_vec();
        let response = self.msg_key(request).and_then(|k| {
            self.variants
                .iter()
                .find(|v| v.key == k)
                .and_then(|v| v.response.clone())
        });
        if let Some(key) = response {
            for (f, part) in self.key_fields.iter().zip(key.parts()) {
                f.put(&mut t, part.as_bytes());
            }
        }
        self.resp_code.put_text(&mut t, code.as_bytes());
        t
    }

    /// Where the inquiry carries the original's sequence number (its copy from it).
    #[cfg(test)]
    pub(crate) fn inquiry_orig_no(&self) -> Option<Span> {
        let rule = self.inquiry.as_ref()?;
        rule.copy
            .iter()
            .find(|(_, from)| *from == self.msg_no)
            .map(|(to, _)| to.span)
    }

    /// The heartbeat answer to a poll request: same stamp, response prefix.
    pub fn poll_answer(&self, poll: &[u8]) -> Option<Vec<u8>> {
        let (req, resp) = self.poll.as_ref()?;
        let stamp = poll.get(req.len()..)?;
        Some([resp.as_slice(), stamp].concat())
    }

    /// A heartbeat request stamped `mmddhhmmss`.
    pub fn poll_request(&self, stamp: &str) -> Option<Vec<u8>> {
        let (req, _) = self.poll.as_ref()?;
        Some([req.as_slice(), stamp.as_bytes()].concat())
    }
}

#[cfg(test)]
mod tests;
