//! `fep decode --json` gives every field a JSON type that depends on the layout only, never on
//! the value: checked over every field of every message of every shipped family, with the
//! smallest and the largest value each field can hold, masked and unmasked.
//!
//! The rule, stated here independently of the code: an N number field of at most 18 digits
//! (the sign byte not counted) is a JSON number; a wider one, N kept as text (`text = true`),
//! AN text and raw bytes are strings; a masked field is a string unless unmasked; a blank
//! optional field is `null`.

use fep_codec::spec::{decode, DecodeOptions, Family, OutputFormat};
use fep_codec::{AutoLen, FieldKind, FieldLayout, Sign};
use serde_json::Value as J;

fn families() -> Vec<Family> {
    [fep_specs::HECTO_TOML, fep_specs::KIBNET_TOML]
        .iter()
        .map(|t| Family::from_toml_str(t).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// The JSON type the rule gives `f`.
fn expected(f: &FieldLayout, unmask: bool) -> &'static str {
    if f.mask && !unmask {
        return "string";
    }
    match f.kind {
        FieldKind::UInt | FieldKind::Int => {
            let len = f.len.unwrap_or(0);
            let digits = if f.sign == Sign::None { len } else { len - 1 };
            if digits <= 18 {
                "number"
            } else {
                "string"
            }
        }
        _ => "string",
    }
}

fn type_of(v: &J) -> &'static str {
    match v {
        J::Null => "null",
        J::Number(_) => "number",
        J::String(_) => "string",
        J::Bool(_) => "bool",
        J::Array(_) => "array",
        J::Object(_) => "object",
    }
}

/// The JSON value at a field path (`header.x`, `cash.checks[1].kind`) of a decoded telegram.
fn at<'j>(json: &'j J, path: &str, header: Option<&str>) -> &'j J {
    let mut node = match path.split_once('.') {
        Some((first, _)) if Some(first) == header => &json["header"],
        _ => &json["body"],
    };
    let skip = usize::from(path.split('.').next() == header);
    for seg in path.split('.').skip(skip) {
        let (name, index) = match seg.split_once('[') {
            Some((n, i)) => (n, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (seg, None),
        };
        node = &node[name];
        if let Some(i) = index {
            node = &node[i];
        }
    }
    node
}

/// A valid telegram of the message at `index` with every field at its smallest (`'0'`, one
/// letter) or largest (`'9'`…, full width) value.
fn telegram(f: &Family, index: usize, largest: bool) -> Vec<u8> {
    let m = &f.messages()[index];
    let total = m.layout.len().expect("fixed-size messages");
    let mut bytes = Vec::with_capacity(total);
    for field in m.layout.fields() {
        let len = field.len.unwrap_or(0);
        let start = bytes.len();
        match field.kind {
            FieldKind::Text | FieldKind::Raw if largest => bytes.resize(start + len, b'Z'),
            FieldKind::Text | FieldKind::Raw => {
                bytes.push(b'A');
                bytes.resize(start + len, b' ');
            }
            _ if largest => bytes.resize(start + len, b'9'),
            _ => bytes.resize(start + len, b'0'),
        }
        if field.auto_len == Some(AutoLen::Telegram) {
            let digits = format!("{total:0len$}");
            bytes[start..].copy_from_slice(digits.as_bytes());
        }
    }
    let selectors = f
        .key_fields()
        .iter()
        .zip(&m.key)
        .chain(m.when.iter().map(|(k, v)| (k, v)));
    for (k, v) in selectors {
        let slot = &mut bytes[k.offset..k.offset + k.len];
        slot.fill(if k.right_aligned { b'0' } else { b' ' });
        let at = if k.right_aligned { k.len - v.len() } else { 0 };
        slot[at..at + v.len()].copy_from_slice(v.as_bytes());
    }
    bytes
}

#[test]
fn every_field_of_every_shipped_family_has_a_json_type_fixed_by_its_layout() {
    let mut checked = 0;
    for f in families() {
        for (i, m) in f.messages().iter().enumerate() {
            for unmask in [false, true] {
                let options = DecodeOptions {
                    format: OutputFormat::Json,
                    unmask,
                    ..Default::default()
                };
                let mut seen: Vec<(&str, &'static str)> = Vec::new();
                for largest in [false, true] {
                    let bytes = telegram(&f, i, largest);
                    let out = decode(&f, &bytes, &options)
                        .unwrap_or_else(|e| panic!("{} {}: {e}", f.name(), m.name));
                    let json: J = serde_json::from_str(&out).expect("JSON");
                    assert_eq!(json["name"], m.name.as_str());
                    for (j, field) in m.layout.fields().iter().enumerate() {
                        let got = type_of(at(&json, &field.path, f.header_field()));
                        assert_eq!(
                            got,
                            expected(field, unmask),
                            "{} {} {} (largest: {largest}, unmask: {unmask})",
                            f.name(),
                            m.name,
                            field.path
                        );
                        match seen.get(j) {
                            Some((_, before)) => assert_eq!(*before, got, "{}", field.path),
                            None => seen.push((&field.path, got)),
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 5_000, "{checked} fields checked");
}
