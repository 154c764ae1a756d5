//! Building a [`Profile`] from a spec family: every rule the engine follows comes from here.

use std::time::Duration;

use fep_codec::spec::{Family, NoticeSpec, Opener, SessionEvent};
use fep_codec::{FieldKind, Layout};

use super::{
    AckRule, CommandRule, FieldSpan, InquiryRule, MsgKey, Profile, SessionRules, Span, Variant,
};
use crate::profile::CorrKey;

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

/// Reads spans out of a family's layouts, failing with the family's name.
struct Reader<'f> {
    family: &'f Family,
}

impl Reader<'_> {
    fn fail(&self, reason: String) -> ProfileError {
        ProfileError {
            family: self.family.name().to_owned(),
            reason,
            header_field: None,
        }
    }

    fn field(&self, layout: &Layout, path: &str) -> Result<FieldSpan, ProfileError> {
        let f = layout
            .field(path)
            .ok_or_else(|| self.fail(format!("no field {path:?}")))?;
        let (Some(offset), Some(len)) = (f.offset, f.len) else {
            return Err(self.fail(format!("field {path:?} has no fixed offset")));
        };
        Ok(FieldSpan {
            span: Span { offset, len },
            numeric: !matches!(f.kind, FieldKind::Text | FieldKind::Raw),
        })
    }

    fn span(&self, layout: &Layout, path: &str) -> Result<Span, ProfileError> {
        self.field(layout, path).map(|f| f.span)
    }

    /// A key as the engine reads it from telegrams: a number value written shorter than
    /// its field (`"11"` for an N(3) field holding `011`) padded as the field holds it.
    fn key(&self, k: &[String]) -> MsgKey {
        let parts: Vec<String> = k
            .iter()
            .zip(self.family.key_fields())
            .map(|(v, f)| {
                if f.right_aligned && v.len() < f.len && v.bytes().all(|b| b.is_ascii_digit()) {
                    format!("{v:0>width$}", width = f.len)
                } else {
                    v.clone()
                }
            })
            .collect();
        MsgKey::from_parts(&parts)
    }

    /// An inbound telegram's recognition and answer.
    fn ack_rule(&self, n: &NoticeSpec, layout: &Layout) -> Result<AckRule, ProfileError> {
        let ack_layout = self
            .family
            .message_by_key(&n.ack)
            .map(|m| &m.layout)
            .ok_or_else(|| self.fail(format!("ack {} is not a message", n.ack.join("/"))))?;
        Ok(AckRule {
            key: self.key(&n.key),
            when: n
                .when
                .iter()
                .map(|(f, v)| (key_field(f), v.clone()))
                .collect(),
            ack: self.key(&n.ack),
            copy_all: n.copy_all,
            copy: n
                .copy
                .iter()
                .map(|p| {
                    let (from, to) = (self.span(layout, p)?, self.span(ack_layout, p)?);
                    if from.len != to.len {
                        return Err(self.fail(format!(
                            "{}: field {p:?} is {} bytes in the telegram but {} in its ack",
                            n.key.join("/"),
                            from.len,
                            to.len
                        )));
                    }
                    Ok((from, to))
                })
                .collect::<Result<_, _>>()?,
            set: n
                .set
                .iter()
                .map(|(p, v)| Ok((self.field(ack_layout, p)?, v.clone())))
                .collect::<Result<_, ProfileError>>()?,
            dedup: n
                .dedup
                .iter()
                .map(|p| self.span(layout, p))
                .collect::<Result<_, _>>()?,
        })
    }
}

fn key_field(f: &fep_codec::spec::KeyField) -> FieldSpan {
    FieldSpan {
        span: Span {
            offset: f.offset,
            len: f.len,
        },
        numeric: f.right_aligned,
    }
}

impl Profile {
    /// Builds the profile from a family spec (TOML). `header` sets constant header fields of
    /// every telegram the gateway builds (e.g. `header.company_no`), on top of the family's
    /// `[session] stamp`.
    pub fn from_family(
        family: &Family,
        header: &[(String, String)],
    ) -> Result<Profile, ProfileError> {
        let r = Reader { family };
        let first = family
            .messages()
            .first()
            .ok_or_else(|| r.fail("no messages".into()))?;
        let first_layout = &first.layout;
        let key_fields: Vec<FieldSpan> = family.key_fields().iter().map(key_field).collect();
        if key_fields.is_empty() {
            return Err(r.fail("no dispatch key ([dispatch] keys)".into()));
        }
        let seq = family
            .sequence()
            .ok_or_else(|| r.fail("no [sequence]".into()))?;
        let date = family.date().ok_or_else(|| r.fail("no [date]".into()))?;
        let codes = family
            .response_code()
            .ok_or_else(|| r.fail("no [response_code]".into()))?;
        let seq_min = u32::try_from(seq.min)
            .map_err(|_| r.fail(format!("[sequence] min {} is above {}", seq.min, u32::MAX)))?;
        // A wider field is numbered up to u32::MAX a day: more than any institution takes.
        let seq_max = u32::try_from(seq.max).unwrap_or(u32::MAX);
        let correlation: Vec<Span> = family
            .correlation()
            .iter()
            .map(|p| r.span(first_layout, p))
            .collect::<Result<_, _>>()?;
        if correlation.is_empty() {
            return Err(r.fail(
                "no [correlation] fields: responses could not be matched to requests".into(),
            ));
        }
        let width: usize = correlation.iter().map(|s| s.len).sum();
        if width > CorrKey::MAX {
            return Err(r.fail(format!(
                "[correlation] fields are {width} bytes wide; at most {} are supported",
                CorrKey::MAX
            )));
        }

        // A response is matched by the correlation key alone: without the sequence number two
        // requests in flight would share one; without the date, one of another day.
        let seq_span = r.span(first_layout, &seq.field)?;
        let date_span = r.span(first_layout, &date.field)?;
        if !correlation.contains(&seq_span) {
            return Err(r.fail(format!(
                "[correlation] must include the [sequence] field {:?}: otherwise two requests in flight share a key",
                seq.field
            )));
        }
        if seq.reset.as_deref() == Some("daily") && !correlation.contains(&date_span) {
            return Err(r.fail(format!(
                "[correlation] must include the [date] field {:?}: the sequence restarts daily",
                date.field
            )));
        }

        // The family's stamp, and the config's header values.
        let spec_session = family.session();
        let mut stamp = Vec::new();
        for (path, value) in &spec_session.stamp {
            stamp.push((r.field(first_layout, path)?, value.as_bytes().to_vec()));
        }
        let mut constants = Vec::new();
        for (path, value) in header {
            // A header value that does not land would send requests with a blank 업체번호 or
            // 은행코드, which the institution refuses long after start-up: refuse it here.
            let fail_field = |reason: String| ProfileError {
                header_field: Some(path.clone()),
                ..r.fail(reason)
            };
            if first_layout.field(path).is_none() {
                return Err(fail_field(format!(
                    "header field {path:?} is not a field of the spec's messages"
                )));
            }
            let at = r
                .field(first_layout, path)
                .map_err(|e| fail_field(e.reason))?;
            if value.len() > at.span.len {
                return Err(fail_field(format!(
                    "header value {value:?} is {} bytes; field {path:?} holds {}",
                    value.len(),
                    at.span.len
                )));
            }
            constants.push((at, value.as_bytes().to_vec()));
        }

        // Messages: the variant the gateway sends of each key is the one whose `when` the
        // stamp satisfies (else the first declared).
        let stamp_holds = |when: &[(fep_codec::spec::KeyField, String)]| {
            when.iter().all(|(f, v)| {
                spec_session
                    .stamp
                    .iter()
                    .any(|(p, sv)| *p == f.path && sv == v)
            })
        };
        let mut variants = Vec::new();
        let mut layouts: Vec<(MsgKey, Layout)> = Vec::new();
        for m in family.messages() {
            let key = r.key(&m.key);
            variants.push(Variant {
                key: key.clone(),
                when: m
                    .when
                    .iter()
                    .map(|(f, v)| (key_field(f), v.clone()))
                    .collect(),
                layout: m.layout.clone(),
                response: m.response.as_deref().map(|k| r.key(k)),
            });
            match layouts.iter_mut().find(|(k, _)| *k == key) {
                None => layouts.push((key, m.layout.clone())),
                Some(slot) if stamp_holds(&m.when) => slot.1 = m.layout.clone(),
                Some(_) => {}
            }
        }
        let sent_layout = |k: &[String]| {
            let key = r.key(k);
            layouts
                .iter()
                .find(|(lk, _)| *lk == key)
                .map(|(_, l)| l.clone())
                .ok_or_else(|| r.fail(format!("{} is not a message", k.join("/"))))
        };

        let inquiry = match family.inquiries().first() {
            None => None,
            Some(q) => {
                let layout = sent_layout(&q.key)?;
                let response = family
                    .response_to(&q.key)
                    .map(|m| m.layout.clone())
                    .unwrap_or_else(|| layout.clone());
                let original = q
                    .for_keys
                    .first()
                    .map(|k| sent_layout(k))
                    .transpose()?
                    .ok_or_else(|| r.fail("[[inquiry]] resolves no request".into()))?;
                let mut copy = Vec::new();
                for (to, from) in &q.copy {
                    let (to, from_span) = (r.field(&layout, to)?, r.span(&original, from)?);
                    // A narrower field would lose digits: the inquiry would ask about
                    // another transaction.
                    if to.span.len < from_span.len {
                        return Err(r.fail(format!(
                            "[[inquiry]] copy: {} bytes of {from:?} do not fit the inquiry's {}-byte field",
                            from_span.len, to.span.len
                        )));
                    }
                    copy.push((to, from_span));
                }
                let result = q
                    .result_field
                    .as_deref()
                    .ok_or_else(|| r.fail("[[inquiry]] without result_field".into()))?;
                Some(InquiryRule {
                    for_requests: q.for_keys.iter().map(|k| r.key(k)).collect(),
                    key: r.key(&q.key),
                    result: r.span(&response, result)?,
                    not_found: q.not_found.clone(),
                    copy,
                })
            }
        };

        let inbound_layout = |k: &[String]| {
            family
                .message_by_key(k)
                .map(|m| m.layout.clone())
                .ok_or_else(|| r.fail(format!("{} is not a message", k.join("/"))))
        };
        let notices = family
            .notices()
            .iter()
            .map(|n| r.ack_rule(n, &inbound_layout(&n.key)?))
            .collect::<Result<Vec<_>, _>>()?;
        let commands = spec_session
            .commands
            .iter()
            .map(|c| {
                Ok(CommandRule {
                    answer: r.ack_rule(&c.answer, &inbound_layout(&c.answer.key)?)?,
                    effect: c.effect,
                })
            })
            .collect::<Result<Vec<_>, ProfileError>>()?;
        let session = SessionRules {
            opened_by: spec_session.opened_by,
            sign_on: spec_session
                .sign_on
                .as_deref()
                .filter(|_| spec_session.opened_by == Opener::Gateway)
                .map(|k| r.key(k)),
            sign_off: spec_session
                .sign_off
                .as_deref()
                .filter(|_| spec_session.sign_off_when.contains(&SessionEvent::Shutdown))
                .map(|k| r.key(k)),
            sign_on_at_date_change: spec_session
                .sign_on_when
                .contains(&SessionEvent::DateChange),
            test_call: spec_session
                .test_call
                .as_ref()
                .map(|t| (r.key(&t.key), Duration::from_secs(t.idle_secs))),
            money_moving: spec_session.money_moving.iter().map(|k| r.key(k)).collect(),
        };
        let poll = family.heartbeat().map(|h| {
            let prefix = |want: &[(String, String)]| -> Vec<u8> {
                want.iter().flat_map(|(_, v)| v.bytes()).collect()
            };
            (prefix(&h.request), prefix(&h.response))
        });
        let mut unknown_codes = codes.unknown.clone();
        unknown_codes.extend(codes.in_progress.iter().cloned());
        Ok(Profile {
            family: family.name().to_owned(),
            key_fields,
            msg_no: seq_span,
            send_date: date_span,
            send_time: match &date.time_field {
                Some(f) => r.span(first_layout, f)?,
                None => Span::default(),
            },
            resp_code: r.span(first_layout, &codes.field)?,
            correlation,
            seq_range: seq_min..=seq_max,
            success_codes: codes.success.clone(),
            unknown_codes,
            notices,
            commands,
            session,
            inquiry,
            constants,
            stamp,
            poll,
            layouts,
            defaults: defaults_of(family)
                .into_iter()
                .map(|(k, d)| (r.key(&k), d))
                .collect(),
            variants,
        })
    }

    /// Applies an institution's own code tables (`[institution.response_codes]`) on top of
    /// the family's: each listed code moves to that outcome.
    pub fn override_codes(&mut self, success: &[String], unknown: &[String], declined: &[String]) {
        let remove = |list: &mut Vec<String>, codes: &[String]| list.retain(|c| !codes.contains(c));
        for (mine, codes) in [
            (&mut self.success_codes, success),
            (&mut self.unknown_codes, unknown),
        ] {
            remove(mine, declined);
            for c in codes {
                if !mine.contains(c) {
                    mine.push(c.clone());
                }
            }
        }
        remove(&mut self.success_codes, unknown);
        remove(&mut self.unknown_codes, success);
    }
}

/// A message's key values and its spec defaults (field path, value).
type KeyDefaults = (Vec<String>, Vec<(String, String)>);

/// Every message's spec defaults, by message key values (messages without any left out).
fn defaults_of(family: &Family) -> Vec<KeyDefaults> {
    family
        .messages()
        .iter()
        .map(|m| (m.key.clone(), family.defaults(m)))
        .filter(|(_, d)| !d.is_empty())
        .collect()
}
