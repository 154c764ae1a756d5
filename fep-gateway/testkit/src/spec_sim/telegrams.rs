//! Building the institution's telegrams from the family's rules alone: answers to requests,
//! and the notices and commands it starts (its own sequence, date and time, stamp).

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use fep_codec::spec::{Family, KeyField, MessageSpec};
use fep_codec::FieldKind;
use fep_codec::{Record, Value};
use rand::rngs::StdRng;
use rand::RngExt;

/// A value as comparable text: trimmed, digits without leading zeros (`"0000123"` and `123`
/// name the same number whether a field keeps digits as text or as a number).
pub(super) fn norm(v: &Value) -> String {
    let s = match v {
        Value::Text(s) => s.trim().to_owned(),
        Value::UInt(n) => n.to_string(),
        Value::Int(n) => n.to_string(),
        Value::Raw(b) => b.iter().map(|b| format!("{b:02x}")).collect(),
        Value::Null | Value::Group(_) => String::new(),
    };
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let t = s.trim_start_matches('0');
        if t.is_empty() {
            "0".to_owned()
        } else {
            t.to_owned()
        }
    } else {
        s
    }
}

/// `at` written as a spec date/time pattern (`YYYYMMDD`, `hhmmss`, `YY-MM-DD` …).
pub(super) fn format_pattern(pattern: &str, at: NaiveDateTime) -> String {
    const TOKENS: [(&str, &str); 11] = [
        ("YYYY", "%Y"),
        ("yyyy", "%Y"),
        ("YY", "%y"),
        ("yy", "%y"),
        ("MM", "%m"),
        ("DD", "%d"),
        ("dd", "%d"),
        ("hh", "%H"),
        ("HH", "%H"),
        ("mm", "%M"),
        ("ss", "%S"),
    ];
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        match TOKENS.iter().find(|(t, _)| rest.starts_with(t)) {
            Some((t, f)) => {
                out.push_str(&at.format(f).to_string());
                rest = &rest[t.len()..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// The date (and time) the family's `[date]` puts in a telegram, as (path, text) pairs.
pub(super) fn date_fields(family: &Family, at: NaiveDateTime) -> Vec<(String, String)> {
    let Some(d) = family.date() else {
        return Vec::new();
    };
    let mut out = vec![(
        d.field.clone(),
        format_pattern(d.format.as_deref().unwrap_or("YYYYMMDD"), at),
    )];
    if let Some(t) = &d.time_field {
        out.push((
            t.clone(),
            format_pattern(d.time_format.as_deref().unwrap_or("hhmmss"), at),
        ));
    }
    out
}

/// What the institution stamps into the telegrams it sends: for each field of the gateway's
/// `[session] stamp`, the value the family's notices (then any message) carry in `when` that
/// differs from the gateway's — the other direction of a direction flag. `given` wins.
pub(super) fn institution_stamp(
    family: &Family,
    given: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let whens = family
        .notices()
        .iter()
        .flat_map(|n| n.when.iter())
        .chain(family.messages().iter().flat_map(|m| m.when.iter()));
    let whens: Vec<&(KeyField, String)> = whens.collect();
    for (path, gateway_value) in &family.session().stamp {
        let other = whens
            .iter()
            .find(|(f, v)| &f.path == path && v != gateway_value)
            .map(|(_, v)| v.clone());
        if let Some(v) = other {
            out.insert(path.clone(), v);
        }
    }
    for (p, v) in given {
        out.insert(p.clone(), v.clone());
    }
    out.into_iter().collect()
}

/// The message answering `request`: among those with its `response` key, the one built on
/// the same struct, else the first.
pub(super) fn response_message<'f>(
    family: &'f Family,
    request: &MessageSpec,
) -> Option<&'f MessageSpec> {
    let key = request.response.as_ref()?;
    let mut with_key = family.messages().iter().filter(|m| &m.key == key);
    let first = with_key.clone().next()?;
    Some(
        with_key
            .find(|m| m.struct_name == request.struct_name)
            .unwrap_or(first),
    )
}

/// Sets `path` to text `value` (skipped for a number field when the text is not digits, so
/// a blank default cannot make encoding fail).
pub(super) fn set_text(msg: &MessageSpec, record: &mut Record, path: &str, value: &str) {
    let numeric = msg
        .layout
        .field(path)
        .is_some_and(|f| matches!(f.kind, FieldKind::UInt | FieldKind::Int));
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    if !numeric || digits {
        record.set(path, Value::Text(value.to_owned()));
    }
}

/// The answer's record: the request's fields that the response layout has, then the
/// institution's stamp, then `sets` (response code, result …). The key and `when` values
/// are written by [`Family::encode`].
pub(super) fn answer_record(
    response: &MessageSpec,
    request: &Record,
    stamp: &[(String, String)],
    sets: &[(&str, &str)],
) -> Record {
    let mut out = Record::new();
    for (path, value) in request.iter() {
        if response.layout.field(path).is_some() {
            out.set(path, value.clone());
        }
    }
    for (p, v) in stamp {
        set_text(response, &mut out, p, v);
    }
    for (p, v) in sets {
        set_text(response, &mut out, p, v);
    }
    out
}

/// The message a notice or command rule (`key` + `when`) names.
pub(super) fn message_for<'f>(
    family: &'f Family,
    key: &[String],
    when: &[(KeyField, String)],
) -> Option<&'f MessageSpec> {
    let same = |m: &&MessageSpec| {
        when.iter()
            .all(|(f, v)| m.when.iter().any(|(g, w)| g.path == f.path && w == v))
    };
    let with_key = family.messages().iter().filter(|m| m.key == key);
    with_key
        .clone()
        .find(same)
        .or_else(|| with_key.clone().next())
}

/// A telegram the institution starts (a notice or a command): the spec's defaults, its own
/// `seq` in the `[sequence]` field, the date and time, its stamp, and — when `rng` is given —
/// plausible amounts in the number fields named like amounts.
pub(super) fn started_record(
    family: &Family,
    msg: &MessageSpec,
    stamp: &[(String, String)],
    seq: u64,
    at: NaiveDateTime,
    amounts: Option<(&mut StdRng, u64, u64)>,
) -> Record {
    let mut r = Record::new();
    for (p, v) in family.defaults(msg) {
        set_text(msg, &mut r, &p, &v);
    }
    if let Some(s) = family.sequence() {
        r.set(&s.field, Value::UInt(u128::from(seq)));
    }
    for (p, v) in date_fields(family, at) {
        set_text(msg, &mut r, &p, &v);
    }
    for (p, v) in stamp {
        set_text(msg, &mut r, p, v);
    }
    if let Some((rng, lo, hi)) = amounts {
        for f in msg.layout.fields() {
            let name = f.name.to_ascii_lowercase();
            let amount_like = name.contains("amount") || name.contains("amt");
            if amount_like && matches!(f.kind, FieldKind::UInt) {
                let cap = f
                    .len
                    .and_then(|l| u32::try_from(l).ok())
                    .and_then(|l| 10u64.checked_pow(l))
                    .map_or(u64::MAX, |p| p - 1);
                let (lo, hi) = (lo.min(cap), hi.min(cap));
                let v = if lo >= hi {
                    lo
                } else {
                    rng.random_range(lo..=hi)
                };
                r.set(&f.path, Value::UInt(u128::from(v)));
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn kib() -> Family {
        Family::from_toml_str(fep_specs::KIBNET_TOML).expect("kibnet loads")
    }

    #[test]
    fn patterns_format_dates_and_times() {
        let at = NaiveDate::from_ymd_opt(2026, 3, 4)
            .and_then(|d| d.and_hms_opt(5, 6, 7))
            .expect("valid");
        assert_eq!(format_pattern("YYYYMMDD", at), "20260304");
        assert_eq!(format_pattern("hhmmss", at), "050607");
        assert_eq!(format_pattern("YY-MM-DD", at), "26-03-04");
        assert_eq!(format_pattern("MMddhhmmss", at), "0304050607");
    }

    #[test]
    fn numbers_compare_as_numbers() {
        assert_eq!(norm(&Value::Text("0000123".into())), "123");
        assert_eq!(norm(&Value::UInt(123)), "123");
        assert_eq!(norm(&Value::Text("000".into())), "0");
        assert_eq!(norm(&Value::Text("AB ".into())), "AB");
    }

    #[test]
    fn the_institution_stamps_the_other_direction() {
        let f = kib();
        let stamp = institution_stamp(&f, &BTreeMap::new());
        assert_eq!(stamp, vec![("header.sr_flag".to_owned(), "6".to_owned())]);
        let hecto = Family::from_toml_str(fep_specs::HECTO_TOML).expect("hecto loads");
        assert!(institution_stamp(&hecto, &BTreeMap::new()).is_empty());
    }

    #[test]
    fn a_response_keeps_the_request_struct() {
        let f = kib();
        let req = f.message_named("PaymentRequest").expect("payment");
        let resp = response_message(&f, req).expect("answer");
        assert_eq!(resp.name, "PaymentResponse");
    }

    #[test]
    fn started_telegrams_encode() {
        let f = kib();
        let at = NaiveDate::from_ymd_opt(2026, 3, 4)
            .and_then(|d| d.and_hms_opt(5, 6, 7))
            .expect("valid");
        let stamp = institution_stamp(&f, &BTreeMap::new());
        for n in f.notices() {
            let m = message_for(&f, &n.key, &n.when).expect("notice message");
            let mut rng = <StdRng as rand::SeedableRng>::seed_from_u64(1);
            let r = started_record(&f, m, &stamp, 7, at, Some((&mut rng, 1000, 5000)));
            let bytes = f.encode(&m.name, &r).expect("encodes");
            let (back, rec) = f.decode(&bytes).expect("decodes");
            assert_eq!(back.name, m.name);
            assert_eq!(rec.get("header.tx_seq"), Some(&Value::UInt(7)));
        }
        for c in &f.session().commands {
            let m = message_for(&f, &c.answer.key, &c.answer.when).expect("command message");
            let r = started_record(&f, m, &stamp, 8, at, None);
            assert!(f.encode(&m.name, &r).is_ok(), "{}", m.name);
        }
    }
}
