//! Building a [`Profile`] from a spec family loaded at run time (`fep.toml`'s `spec`).

use fep_codec::spec::Family;
use fep_codec::Layout;

use super::{InquiryRule, MsgKey, Profile, Span};

/// Why a spec cannot drive the gateway.
#[derive(Debug, thiserror::Error)]
#[error("spec {family}: {reason}")]
pub struct ProfileError {
    family: String,
    reason: String,
    header_field: Option<String>,
}

impl ProfileError {
    /// The `[institution.header]` field path the error is about, if a header value caused it.
    pub fn header_field(&self) -> Option<&str> {
        self.header_field.as_deref()
    }
}

impl Profile {
    /// Builds the profile from a family spec (TOML). `header` sets constant header fields of
    /// every request (e.g. `header.company_no`); `session` names the sign-on and sign-off keys.
    pub fn from_family(
        family: &Family,
        header: &[(String, String)],
        session: (MsgKey, MsgKey),
    ) -> Result<Profile, ProfileError> {
        let fail = |reason: String| ProfileError {
            family: family.name().to_owned(),
            reason,
            header_field: None,
        };
        let first = family
            .messages()
            .first()
            .ok_or_else(|| fail("no messages".into()))?;
        let telegram_len = first
            .layout
            .len()
            .ok_or_else(|| fail("messages must be fixed-size".into()))?;
        let span_in = |layout: &Layout, path: &str| {
            Span::of(layout, path)
                .ok_or_else(|| fail(format!("field {path:?} has no fixed offset")))
        };
        let span = |path: &str| span_in(&first.layout, path);
        let keys = family.key_fields();
        let key_span = |i: usize| {
            keys.get(i).map(|k| Span {
                offset: k.offset,
                len: k.len,
            })
        };
        let msg_type = key_span(0).ok_or_else(|| fail("no dispatch key".into()))?;
        let biz_type = key_span(1).unwrap_or(Span {
            offset: msg_type.offset + msg_type.len,
            len: 0,
        });
        let seq = family
            .sequence()
            .ok_or_else(|| fail("no [sequence]".into()))?;
        let date = family.date().ok_or_else(|| fail("no [date]".into()))?;
        let codes = family
            .response_code()
            .ok_or_else(|| fail("no [response_code]".into()))?;
        let pair = |k: &[String]| {
            MsgKey::from((
                k.first().map_or("", String::as_str),
                k.get(1).map_or("", String::as_str),
            ))
        };
        let inquiry = match family.inquiries().first() {
            None => None,
            Some(q) => {
                let layout = &family
                    .message_by_key(&q.key)
                    .ok_or_else(|| fail(format!("inquiry message {:?} missing", q.key)))?
                    .layout;
                let request = q
                    .for_keys
                    .first()
                    .and_then(|k| family.message_by_key(k))
                    .map(|m| &m.layout);
                let mut copy = Vec::new();
                for (to, from) in &q.copy {
                    if let (Ok(to), Some(Ok(from))) =
                        (span_in(layout, to), request.map(|r| span_in(r, from)))
                    {
                        copy.push((to, from));
                    }
                }
                let result = q
                    .result_field
                    .as_deref()
                    .ok_or_else(|| fail("inquiry without result_field".into()))?;
                Some(InquiryRule {
                    for_requests: q.for_keys.iter().map(|k| pair(k)).collect(),
                    key: pair(&q.key),
                    orig_msg_no: span_in(layout, &q.key_field)?,
                    result: span_in(layout, result)?,
                    not_found: q.not_found.clone(),
                    copy,
                })
            }
        };
        let poll = family.heartbeat().map(|h| {
            let prefix = |want: &[(String, String)]| -> Vec<u8> {
                want.iter().flat_map(|(_, v)| v.bytes()).collect()
            };
            (prefix(&h.request), prefix(&h.response))
        });
        let mut template = vec![b' '; telegram_len];
        for (path, value) in header {
            // A header value that does not land would send requests with a blank 업체번호 or
            // 은행코드, which the institution refuses long after start-up: refuse it here.
            let fail_field = |reason: String| ProfileError {
                header_field: Some(path.clone()),
                ..fail(reason)
            };
            if first.layout.field(path).is_none() {
                return Err(fail_field(format!(
                    "header field {path:?} is not a field of the spec's messages"
                )));
            }
            let at = span(path).map_err(|e| fail_field(e.reason))?;
            if !at.put_text(&mut template, value.as_bytes()) {
                return Err(fail_field(format!(
                    "header value {value:?} is {} bytes; field {path:?} holds {}",
                    value.len(),
                    at.len
                )));
            }
        }
        Ok(Profile {
            family: family.name().to_owned(),
            telegram_len,
            msg_type,
            biz_type,
            msg_no: span(&seq.field)?,
            send_date: span(&date.field)?,
            send_time: match &date.time_field {
                Some(f) => span(f)?,
                None => Span { offset: 0, len: 0 },
            },
            resp_code: span(&codes.field)?,
            seq_range: u32::try_from(seq.min).unwrap_or(1)
                ..=u32::try_from(seq.max).unwrap_or(u32::MAX),
            success_codes: codes.success.clone(),
            unknown_codes: codes.unknown.clone(),
            notices: family.notices().iter().map(|n| pair(&n.key)).collect(),
            sign_on: session.0,
            sign_off: session.1,
            inquiry,
            template,
            poll,
            layouts: family
                .messages()
                .iter()
                .filter_map(|m| Some((m.key_str().parse().ok()?, m.layout.clone())))
                .collect(),
            defaults: defaults_of(family),
        })
    }
}

/// Every message's spec defaults, by message key (messages without any are left out).
pub(super) fn defaults_of(family: &Family) -> Vec<(MsgKey, Vec<(String, String)>)> {
    family
        .messages()
        .iter()
        .filter_map(|m| Some((m.key_str().parse().ok()?, family.defaults(m))))
        .filter(|(_, d): &(MsgKey, Vec<_>)| !d.is_empty())
        .collect()
}

/// The sign-on and sign-off request keys of a family: the messages named `SignOnRequest` and
/// `SignOffRequest`.
pub fn session_keys(family: &Family) -> Result<(MsgKey, MsgKey), ProfileError> {
    let find = |name: &str| {
        family
            .message_named(name)
            .map(|m| {
                MsgKey::from((
                    m.key.first().map_or("", String::as_str),
                    m.key.get(1).map_or("", String::as_str),
                ))
            })
            .ok_or_else(|| ProfileError {
                family: family.name().to_owned(),
                reason: format!("no message named {name} (needed for 업무개시/종료)"),
                header_field: None,
            })
    };
    Ok((find("SignOnRequest")?, find("SignOffRequest")?))
}
