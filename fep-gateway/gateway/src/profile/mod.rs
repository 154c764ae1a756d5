//! How the gateway reads and writes one institution's telegrams on the hot path.
//!
//! A [`Profile`] holds byte ranges (taken from the spec's layout) and code sets. The gateway
//! never fully decodes a telegram to route it: it stamps the sequence number, date and time in
//! place, and reads the correlation key, message type and response code straight from the
//! bytes. Full decoding is left to callers and tools.

use std::ops::RangeInclusive;

use fep_codec::{FieldLayout, Layout, Telegram, TelegramFamily};
use fep_specs::hecto;

mod build;
mod wire;

pub use build::{session_keys, ProfileError};
pub use wire::{framing_of, WireError};

/// A field's byte range inside a telegram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// What a received frame is, as far as routing is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameKind {
    /// A heartbeat request (answer on the same session).
    PollRequest,
    /// A heartbeat answer.
    PollResponse,
    /// A response to one of our requests.
    Response,
    /// An unsolicited notice that must be recorded, then acknowledged.
    Notice,
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
    /// Request (msg_type, biz_type) pairs that are resolved by this inquiry.
    pub for_requests: Vec<MsgKey>,
    /// The inquiry's msg_type and biz_type (Hecto 7000/100).
    pub key: MsgKey,
    /// Where the original 전문번호 goes in the inquiry.
    pub orig_msg_no: Span,
    /// Where the original transaction's result sits in the inquiry response.
    pub result: Span,
    /// Result codes meaning "never received": the original was not executed.
    pub not_found: Vec<String>,
    /// Inquiry field ← original request field, copied byte for byte (equal widths).
    pub copy: Vec<(Span, Span)>,
}

/// Everything the gateway needs to know about an institution's telegrams.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Family name.
    pub family: String,
    /// Size of every telegram, when fixed.
    pub telegram_len: usize,
    /// 전문구분코드.
    pub msg_type: Span,
    /// 업무구분코드.
    pub biz_type: Span,
    /// 전문번호: assigned by the gateway, echoed by responses.
    pub msg_no: Span,
    /// 전송일자 (YYYYMMDD).
    pub send_date: Span,
    /// 전송시간 (hhmmss).
    pub send_time: Span,
    /// 응답코드.
    pub resp_code: Span,
    /// Daily range of 전문번호.
    pub seq_range: RangeInclusive<u32>,
    /// Response codes meaning success.
    pub success_codes: Vec<String>,
    /// Response codes meaning "outcome unknown" (VTIM, 처리중 …).
    pub unknown_codes: Vec<String>,
    /// Unsolicited notices: (msg_type, biz_type).
    pub notices: Vec<MsgKey>,
    /// 업무개시 (sign-on) request key.
    pub sign_on: MsgKey,
    /// 업무종료 (sign-off) request key.
    pub sign_off: MsgKey,
    /// Result inquiry for unknown outcomes.
    pub inquiry: Option<InquiryRule>,
    /// A blank telegram with the header's constant fields filled in (식별코드, 업체번호 …).
    pub template: Vec<u8>,
    /// Heartbeat request prefix (`HDRREQPOLL`) and response prefix (`HDRRESPOLL`).
    pub poll: Option<(Vec<u8>, Vec<u8>)>,
    /// Full layouts by message key (`2000/100`), for the dynamic codec.
    pub layouts: Vec<(MsgKey, Layout)>,
    /// The spec's `default` values by message key, by field path: what a request built from
    /// named fields gets for a field its caller leaves out.
    pub defaults: Vec<(MsgKey, Vec<(String, String)>)>,
}

/// The 전문번호 correlation key: (전송일자, 전문번호) packed into one integer.
pub type CorrKey = u64;

/// Who a Hecto contract is for: the header constants the gateway stamps.
#[derive(Debug, Clone, Copy)]
pub struct HectoContract<'a> {
    /// 업체번호 (company number).
    pub company_no: &'a str,
    /// 은행코드 (the company's bank).
    pub bank_code: &'a str,
}

impl HectoContract<'static> {
    /// The contract the demo, the simulator and the tests use.
    pub const DEMO: HectoContract<'static> = HectoContract {
        company_no: "FEPDEMO01",
        bank_code: "004",
    };
}

impl Profile {
    /// The Hecto real-time firm-banking profile for one company contract.
    pub fn hecto(contract: HectoContract<'_>) -> Profile {
        let HectoContract {
            company_no,
            bank_code,
        } = contract;
        let header = hecto::HectoHeader::layout();
        let span = |path: &str| Span::of(header, path).unwrap_or(Span { offset: 0, len: 0 });
        let inquiry = hecto::TransferResultInquiry::layout();
        let mut template = vec![b' '; hecto::TELEGRAM_LEN];
        let profile = Profile {
            family: "hecto".into(),
            telegram_len: hecto::TELEGRAM_LEN,
            msg_type: span("msg_type"),
            biz_type: span("biz_type"),
            msg_no: span("msg_no"),
            send_date: span("send_date"),
            send_time: span("send_time"),
            resp_code: span("resp_code"),
            seq_range: 1..=950_000,
            success_codes: vec![hecto::RESP_OK.into()],
            unknown_codes: ["VTIM", "UTIM", "7430", "U430", "U602", "U726"]
                .map(String::from)
                .to_vec(),
            notices: vec![MsgKey::from(("3000", "100")), MsgKey::from(("4000", "100"))],
            sign_on: MsgKey::from(("1000", "100")),
            sign_off: MsgKey::from(("1000", "200")),
            inquiry: Some(InquiryRule {
                for_requests: vec![MsgKey::from(("2000", "100")), MsgKey::from(("2000", "200"))],
                key: MsgKey::from(("7000", "100")),
                orig_msg_no: Span::of(inquiry, "orig_msg_no").unwrap_or(Span {
                    offset: 100,
                    len: 6,
                }),
                result: Span::of(inquiry, "result").unwrap_or(Span {
                    offset: 193,
                    len: 4,
                }),
                not_found: vec![hecto::RESULT_NO_RECORD.into()],
                copy: Vec::new(),
            }),
            template: Vec::new(),
            poll: Some((b"HDRREQPOLL".to_vec(), b"HDRRESPOLL".to_vec())),
            layouts: <hecto::HectoMessage as TelegramFamily>::keys()
                .iter()
                .filter_map(|k| {
                    let key = MsgKey::from((*k.first()?, *k.get(1)?));
                    Some((key, hecto::HectoMessage::layout_for_key(k)?.clone()))
                })
                .collect(),
            // Defaults are spec-file metadata (the derive has no twin): from the embedded file.
            defaults: fep_codec::spec::Family::from_toml_str(fep_specs::HECTO_TOML)
                .map(|f| build::defaults_of(&f))
                .unwrap_or_default(),
        };
        let put = |t: &mut Vec<u8>, path: &str, v: &[u8]| {
            if let Some(s) = Span::of(header, path) {
                s.put_text(t, v);
            }
        };
        put(&mut template, "id_code", hecto::ID_CODE.as_bytes());
        put(&mut template, "company_no", company_no.as_bytes());
        put(&mut template, "bank_code", bank_code.as_bytes());
        put(&mut template, "send_count", b"1");
        Profile {
            template,
            ..profile
        }
    }

    /// The full layout of a message key such as `2000/100`.
    pub fn layout_for(&self, key: &MsgKey) -> Option<&Layout> {
        self.layouts.iter().find(|(k, _)| k == key).map(|(_, l)| l)
    }

    /// The spec's default field values of a message key, by field path.
    pub fn defaults_for(&self, key: &MsgKey) -> &[(String, String)] {
        self.defaults
            .iter()
            .find(|(k, _)| k == key)
            .map_or(&[], |(_, d)| d.as_slice())
    }

    /// The header fields the gateway stamps into every request: message type and 업무구분,
    /// 전문번호, 전송일자 and 전송시간.
    fn stamped(&self) -> [Span; 5] {
        [
            self.msg_type,
            self.biz_type,
            self.msg_no,
            self.send_date,
            self.send_time,
        ]
    }

    /// End of the header area that [`Profile::fill_header`] writes.
    fn header_end(&self) -> usize {
        self.stamped()
            .iter()
            .map(|s| s.offset + s.len)
            .max()
            .unwrap_or(0)
    }

    /// Whether the gateway writes `field` of every request itself, whatever the caller sent:
    /// the stamped header fields ([`Profile::stamp`], the message key) and the header
    /// constants from the config (`[institution.header]`, the non-blank bytes of
    /// [`Profile::template`]).
    pub fn owns(&self, field: &FieldLayout) -> bool {
        let (Some(offset), Some(len)) = (field.offset, field.len) else {
            return false;
        };
        let end = offset + len;
        let overlaps = |s: &Span| s.len > 0 && s.offset < end && offset < s.offset + s.len;
        if self.stamped().iter().any(overlaps) {
            return true;
        }
        end <= self.header_end()
            && self
                .template
                .get(offset..end)
                .is_some_and(|b| b.iter().any(|&c| c != b' '))
    }

    /// Overwrites the header constants (식별코드, 업체번호 …) and the message type of a
    /// telegram built from caller-supplied fields.
    pub fn fill_header(&self, telegram: &mut [u8], key: &MsgKey) {
        let header_end = self.header_end();
        for (i, b) in self.template.iter().take(header_end).enumerate() {
            if *b != b' ' {
                if let Some(slot) = telegram.get_mut(i) {
                    *slot = *b;
                }
            }
        }
        self.msg_type.put_text(telegram, key.msg_type().as_bytes());
        self.biz_type.put_text(telegram, key.biz_type().as_bytes());
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
        let (Some(t), Some(b)) = (self.msg_type.text(frame), self.biz_type.text(frame)) else {
            return FrameKind::Other;
        };
        if self.notices.iter().any(|k| *k == (t, b)) {
            return FrameKind::Notice;
        }
        if is_response_type(t) {
            return FrameKind::Response;
        }
        FrameKind::Other
    }

    /// The correlation key of a request or response.
    pub fn key(&self, telegram: &[u8]) -> Option<CorrKey> {
        let date = self.send_date.digits(telegram)?;
        let no = self.msg_no.digits(telegram)?;
        Some(date * 1_000_000 + no)
    }

    /// Writes the gateway-owned header fields: 전문번호, 전송일자, 전송시간.
    pub fn stamp(&self, telegram: &mut [u8], msg_no: u32, date: u32, time: u32) -> bool {
        self.msg_no.put_digits(telegram, u64::from(msg_no))
            & self.send_date.put_digits(telegram, u64::from(date))
            & self.send_time.put_digits(telegram, u64::from(time))
    }

    /// (msg_type, biz_type) of a telegram.
    pub fn msg_key<'a>(&self, telegram: &'a [u8]) -> Option<(&'a str, &'a str)> {
        Some((self.msg_type.text(telegram)?, self.biz_type.text(telegram)?))
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

    /// A blank request of `key` (e.g. sign-on), header constants filled, not yet stamped.
    pub fn admin(&self, key: &MsgKey) -> Vec<u8> {
        let mut t = self.template.clone();
        self.msg_type.put_text(&mut t, key.msg_type().as_bytes());
        self.biz_type.put_text(&mut t, key.biz_type().as_bytes());
        t
    }

    /// True when a request of this key should be resolved by inquiry when its outcome is unknown.
    pub fn resolvable(&self, telegram: &[u8]) -> bool {
        match (&self.inquiry, self.msg_key(telegram)) {
            (Some(rule), Some((t, b))) => rule.for_requests.iter().any(|k| *k == (t, b)),
            _ => false,
        }
    }

    /// The result inquiry for the original request (its 전문번호 is `orig`), not yet stamped.
    pub fn inquiry(&self, orig: u32, original: &[u8]) -> Option<Vec<u8>> {
        let rule = self.inquiry.as_ref()?;
        let mut t = self.admin(&rule.key);
        for (to, from) in &rule.copy {
            if let (Some(src), true) = (from.get(original), to.len == from.len) {
                let src = src.to_vec();
                to.put_text(&mut t, &src);
            }
        }
        rule.orig_msg_no.put_digits(&mut t, u64::from(orig));
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

    /// The acknowledgement of a notice: the notice echoed with 전문구분코드 + 100 and a success code.
    pub fn notice_ack(&self, notice: &[u8]) -> Option<Vec<u8>> {
        let t = self.msg_type.text(notice)?;
        let response = response_type(t)?;
        let mut ack = notice.to_vec();
        self.msg_type.put_text(&mut ack, response.as_bytes());
        let ok = self.success_codes.first().map_or("0000", String::as_str);
        self.resp_code.put_text(&mut ack, ok.as_bytes());
        Some(ack)
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

/// N000 → N100: the response type of a request type.
pub fn response_type(msg_type: &str) -> Option<String> {
    let n: u32 = msg_type.parse().ok()?;
    (msg_type.len() == 4 && n.is_multiple_of(1000)).then(|| format!("{:04}", n + 100))
}

fn is_response_type(msg_type: &str) -> bool {
    msg_type.len() == 4 && msg_type.parse::<u32>().is_ok_and(|n| n % 1000 == 100)
}

#[cfg(test)]
mod tests;
