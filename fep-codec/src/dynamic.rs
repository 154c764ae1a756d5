//! The dynamic codec: decode and encode by a [`Layout`] alone, into an ordered record.
//!
//! This is what lets the gateway and the CLI handle a layout loaded from a TOML spec without
//! recompiling. It uses the same field codecs as the derive, so the same bytes give the same
//! values and the same errors (field path, absolute offset).

use bytes::BytesMut;
#[cfg(feature = "serde")]
use serde::ser::{SerializeMap, SerializeSeq};
#[cfg(feature = "serde")]
use serde::{Serialize, Serializer};

use crate::error::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind};
use crate::field::{take, FieldValue};
use crate::layout::{AutoLen, FieldKind, FieldLayout, Layout};

/// One field's value in a [`Record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A blank optional field.
    Null,
    /// AN text, or N digits kept as text.
    Text(String),
    /// An unsigned N field.
    UInt(u128),
    /// A signed N field.
    Int(i128),
    /// Raw bytes.
    Raw(Vec<u8>),
    /// The elements of a repeat group.
    Group(Vec<Record>),
}

impl Value {
    /// The value as an unsigned integer, if it is one (or digits text).
    pub fn as_u128(&self) -> Option<u128> {
        match self {
            Self::UInt(v) => Some(*v),
            Self::Int(v) => u128::try_from(*v).ok(),
            Self::Text(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().ok()
            }
            _ => None,
        }
    }

    /// The value as text, if it is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// JSON-friendly: numbers as numbers (as strings beyond 64 bits), raw bytes as hex.
#[cfg(feature = "serde")]
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => s.serialize_none(),
            Self::Text(t) => s.serialize_str(t),
            Self::UInt(v) => match u64::try_from(*v) {
                Ok(v) => s.serialize_u64(v),
                Err(_) => s.serialize_str(&v.to_string()),
            },
            Self::Int(v) => match i64::try_from(*v) {
                Ok(v) => s.serialize_i64(v),
                Err(_) => s.serialize_str(&v.to_string()),
            },
            Self::Raw(b) => {
                s.serialize_str(&b.iter().map(|b| format!("{b:02x}")).collect::<String>())
            }
            Self::Group(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
        }
    }
}

/// Field path → value, in wire order. Serialises as a JSON object in that order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    fields: Vec<(String, Value)>,
}

impl Record {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value at `path`.
    pub fn get(&self, path: &str) -> Option<&Value> {
        self.fields.iter().find(|(p, _)| p == path).map(|(_, v)| v)
    }

    /// Sets `path` to `value`, replacing an existing entry or appending a new one.
    pub fn set(&mut self, path: &str, value: Value) {
        match self.fields.iter_mut().find(|(p, _)| p == path) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((path.to_owned(), value)),
        }
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields.iter().map(|(p, v)| (p.as_str(), v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// A map from field path to value, in wire order.
#[cfg(feature = "serde")]
impl Serialize for Record {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.fields.len()))?;
        for (k, v) in &self.fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl Layout {
    /// Decodes a whole telegram into a record keyed by field path.
    ///
    /// `auto_len` fields are checked like the derive checks them: `total`/`rest` against the
    /// struct they are declared in (a nested struct's fields share its path prefix),
    /// `telegram` against the whole telegram once every field has decoded.
    pub fn decode_record(&self, bytes: &[u8]) -> Result<Record, DecodeError> {
        let mut pos = 0;
        let mut record = Record::new();
        let mut ctx = DynDecode::default();
        decode_fields(self, bytes, &mut pos, &mut record, &mut ctx)?;
        let end = crate::ctx::telegram_end(bytes, pos, ctx.filler_end)?;
        for (path, declared, at) in &ctx.telegram_lens {
            crate::__private::check_len(path, *declared, end, *at, bytes)?;
        }
        Ok(record)
    }

    /// Encodes a record; missing fields take their default (blank when optional, else empty
    /// text or zero), `auto_len` fields are filled in.
    pub fn encode_record(&self, record: &Record) -> Result<Vec<u8>, EncodeError> {
        let mut buf = BytesMut::with_capacity(self.len().unwrap_or(256));
        let mut telegram_lens = Vec::new();
        encode_fields(self, record, &mut buf, 0, &mut telegram_lens)?;
        let total = buf.len();
        for (f, at) in telegram_lens {
            patch(&mut buf, f, at, total, 0)?;
        }
        Ok(buf.into())
    }
}

/// What the outermost decode checks once the whole telegram is decoded.
#[derive(Default)]
struct DynDecode {
    /// `auto_len = "telegram"` fields: path, declared value, offset.
    telegram_lens: Vec<(String, u128, usize)>,
    /// Where a tolerant trailing filler ended.
    filler_end: Option<usize>,
}

/// Where each field of a layout started and ended — recorded only when the layout has a
/// `total`/`rest` length field that needs them, so other layouts pay nothing.
struct Spans(Option<Vec<(usize, usize)>>);

impl Spans {
    fn for_layout(layout: &Layout) -> Self {
        let needed = layout
            .fields()
            .iter()
            .any(|f| matches!(f.auto_len, Some(AutoLen::Total | AutoLen::Rest)));
        Spans(needed.then(|| Vec::with_capacity(layout.fields().len())))
    }

    #[inline]
    fn push(&mut self, start: usize, end: usize) {
        if let Some(v) = &mut self.0 {
            v.push((start, end));
        }
    }

    fn all(&self) -> &[(usize, usize)] {
        self.0.as_deref().unwrap_or_default()
    }
}

/// The byte range of the struct a field is declared in, from the positions of the layout's
/// fields: a nested struct's fields are the contiguous run sharing the field's path prefix;
/// a top-level field's struct is the whole layout (`whole`).
fn scope(
    fields: &[FieldLayout],
    spans: &[(usize, usize)],
    i: usize,
    whole: (usize, usize),
) -> (usize, usize) {
    let Some((prefix, _)) = fields[i].path.rsplit_once('.') else {
        return whole;
    };
    let inside = |f: &FieldLayout| {
        f.path.len() > prefix.len()
            && f.path.starts_with(prefix)
            && f.path.as_bytes()[prefix.len()] == b'.'
    };
    let first = (0..i)
        .rev()
        .take_while(|&j| inside(&fields[j]))
        .last()
        .unwrap_or(i);
    let last = (i..fields.len())
        .take_while(|&j| inside(&fields[j]))
        .last()
        .unwrap_or(i);
    (spans[first].0, spans[last].1)
}

/// The value an `auto_len` field must hold: the length of its struct, or what follows it.
fn auto_len_value(mode: AutoLen, field: (usize, usize), scope: (usize, usize)) -> usize {
    match mode {
        AutoLen::Rest => scope.1.saturating_sub(field.1),
        AutoLen::Total | AutoLen::Telegram => scope.1.saturating_sub(scope.0),
    }
}

fn decode_fields(
    layout: &Layout,
    input: &[u8],
    pos: &mut usize,
    out: &mut Record,
    ctx: &mut DynDecode,
) -> Result<(), DecodeError> {
    let start = *pos;
    let mut spans = Spans::for_layout(layout);
    let mut auto_lens = Vec::new();
    for (i, f) in layout.fields().iter().enumerate() {
        let at = *pos;
        if let FieldKind::Group {
            count_field,
            max,
            element,
        } = &f.kind
        {
            let count = out.get(count_field).and_then(Value::as_u128).unwrap_or(0);
            // Like the derive: the error names the count field, at its offset.
            let count_at = layout
                .field(count_field)
                .and_then(|c| c.offset)
                .map_or(*pos, |rel| start + rel);
            let n = crate::__private::decoded_count(count_field, count, *max, count_at, input)?;
            let mut items = Vec::with_capacity(n);
            for i in 0..n {
                let mut item = Record::new();
                decode_fields(element, input, pos, &mut item, ctx)
                    .map_err(|e| e.within(&f.path, Some(i)))?;
                items.push(item);
            }
            out.set(&f.path, Value::Group(items));
            spans.push(at, *pos);
            continue;
        }
        let raw = if f.rest {
            input.get(at..).unwrap_or_default()
        } else if f.filler {
            let len = f.len.unwrap_or(0);
            let end = at.saturating_add(len).min(input.len());
            match input.get(at..end) {
                Some(raw) => raw,
                None => take(input, at, len, &f.path)?,
            }
        } else {
            take(input, at, f.len.unwrap_or(0), &f.path)?
        };
        let value = decode_value(f, raw)
            .map_err(|(rel, kind)| DecodeError::new(kind, &f.path, at + rel, raw))?;
        match (f.auto_len, value.as_u128()) {
            (Some(AutoLen::Telegram), Some(declared)) if !f.lenient => {
                ctx.telegram_lens.push((f.path.clone(), declared, at));
            }
            (Some(mode @ (AutoLen::Total | AutoLen::Rest)), Some(declared)) if !f.lenient => {
                auto_lens.push((i, mode, declared));
            }
            _ => {}
        }
        out.set(&f.path, value);
        *pos = at + raw.len();
        if f.filler {
            ctx.filler_end = Some(*pos);
        }
        spans.push(at, *pos);
    }
    let spans = spans.all();
    for (i, mode, declared) in auto_lens {
        let f = &layout.fields()[i];
        let actual = auto_len_value(
            mode,
            spans[i],
            scope(layout.fields(), spans, i, (start, *pos)),
        );
        crate::__private::check_len(&f.path, declared, actual, spans[i].0, input)?;
    }
    Ok(())
}

fn decode_value(f: &FieldLayout, raw: &[u8]) -> Result<Value, (usize, DecodeErrorKind)> {
    let format = f.format();
    if f.optional && !f.rest && raw.iter().all(|&b| b == b' ') {
        return Ok(Value::Null);
    }
    Ok(match f.kind {
        FieldKind::Text | FieldKind::NumericText if f.rest => {
            Value::Text(String::decode_rest(raw, &format)?)
        }
        FieldKind::Text | FieldKind::NumericText => {
            Value::Text(String::decode_field(raw, &format)?)
        }
        FieldKind::UInt => Value::UInt(u128::decode_field(raw, &format)?),
        FieldKind::Int => Value::Int(i128::decode_field(raw, &format)?),
        FieldKind::Raw => Value::Raw(raw.to_vec()),
        FieldKind::Group { .. } => Value::Null,
    })
}

fn encode_fields<'l>(
    layout: &'l Layout,
    record: &Record,
    buf: &mut BytesMut,
    base: usize,
    telegram_lens: &mut Vec<(&'l FieldLayout, usize)>,
) -> Result<(), EncodeError> {
    let start = buf.len();
    let mut spans = Spans::for_layout(layout);
    let mut auto_lens = Vec::new();
    for (i, f) in layout.fields().iter().enumerate() {
        let at = buf.len();
        let value = record.get(&f.path);
        if let FieldKind::Group {
            count_field,
            max,
            element,
        } = &f.kind
        {
            let items = match value {
                Some(Value::Group(items)) => items.as_slice(),
                None | Some(Value::Null) => &[],
                Some(_) => return Err(mismatch(f, at - base, "a list of records")),
            };
            let count = record
                .get(count_field)
                .and_then(Value::as_u128)
                .unwrap_or(0);
            crate::__private::check_count(&f.path, count, items.len(), *max, at - base)?;
            for (i, item) in items.iter().enumerate() {
                encode_fields(element, item, buf, base, telegram_lens)
                    .map_err(|e| e.within(&f.path, Some(i)))?;
            }
            spans.push(at, buf.len());
            continue;
        }
        encode_value(f, value, buf)
            .map_err(|kind| EncodeError::new(kind, &f.path, Some(at - base)))?;
        match f.auto_len {
            Some(AutoLen::Telegram) => telegram_lens.push((f, at)),
            Some(mode) => auto_lens.push((i, mode)),
            None => {}
        }
        spans.push(at, buf.len());
    }
    let spans = spans.all();
    for (i, mode) in auto_lens {
        let whole = (start, buf.len());
        let len = auto_len_value(mode, spans[i], scope(layout.fields(), spans, i, whole));
        patch(buf, &layout.fields()[i], spans[i].0, len, base)?;
    }
    Ok(())
}

/// Writes `len` into the length field `f` whose digits start at `at`.
fn patch(
    buf: &mut BytesMut,
    f: &FieldLayout,
    at: usize,
    len: usize,
    base: usize,
) -> Result<(), EncodeError> {
    let slot = &mut buf[at..at + f.len.unwrap_or(0)];
    crate::__private::write_len(slot, f.sign, len)
        .map_err(|kind| EncodeError::new(kind, &f.path, Some(at - base)))
}

fn encode_value(
    f: &FieldLayout,
    value: Option<&Value>,
    buf: &mut BytesMut,
) -> Result<(), EncodeErrorKind> {
    let format = f.format();
    let blank = matches!(value, None | Some(Value::Null));
    if blank && (f.optional || f.rest) {
        if !f.rest {
            None::<u128>.encode_field(&format, buf)?;
        }
        return Ok(());
    }
    let wrong = |what: &str| EncodeErrorKind::Unsupported {
        reason: format!("expected {what}, got {value:?}"),
    };
    match (&f.kind, value) {
        (FieldKind::Text | FieldKind::NumericText, None | Some(Value::Null)) => {
            encode_text(f, "", buf)
        }
        (FieldKind::Text | FieldKind::NumericText, Some(Value::Text(s))) => encode_text(f, s, buf),
        (FieldKind::Text | FieldKind::NumericText, Some(Value::UInt(v))) => {
            encode_text(f, &v.to_string(), buf)
        }
        (FieldKind::UInt, None | Some(Value::Null)) => 0u128.encode_field(&format, buf),
        (FieldKind::UInt | FieldKind::Int, Some(v @ (Value::UInt(_) | Value::Text(_))))
            if v.as_u128().is_some() =>
        {
            v.as_u128().unwrap_or_default().encode_field(&format, buf)
        }
        (FieldKind::Int, None | Some(Value::Null)) => 0i128.encode_field(&format, buf),
        (FieldKind::Int, Some(Value::Int(v))) => v.encode_field(&format, buf),
        (FieldKind::Int, Some(Value::Text(s))) => match s.parse::<i128>() {
            Ok(v) => v.encode_field(&format, buf),
            Err(_) => Err(wrong("a signed number")),
        },
        (FieldKind::UInt, _) => Err(wrong("an unsigned number")),
        (FieldKind::Raw, Some(Value::Raw(b))) if f.rest => b.encode_rest(&format, buf),
        (FieldKind::Raw, Some(Value::Raw(b))) => b.encode_field(&format, buf),
        (FieldKind::Raw, None | Some(Value::Null)) => Vec::new().encode_field(&format, buf),
        _ => Err(wrong("a value of the field's kind")),
    }
}

fn encode_text(f: &FieldLayout, s: &str, buf: &mut BytesMut) -> Result<(), EncodeErrorKind> {
    if f.rest {
        crate::field::encode_str_rest(s, &f.format(), buf)
    } else {
        crate::field::encode_str(s, &f.format(), buf)
    }
}

fn mismatch(f: &FieldLayout, offset: usize, what: &str) -> EncodeError {
    EncodeError::new(
        EncodeErrorKind::Unsupported {
            reason: format!("expected {what}"),
        },
        &f.path,
        Some(offset),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::FieldLayout;

    fn layout() -> Layout {
        let item = Layout::builder("Item")
            .field(FieldLayout::scalar("code", FieldKind::NumericText, 2))
            .build();
        Layout::builder("T")
            .field(
                FieldLayout::scalar("len", FieldKind::UInt, 4)
                    .with_auto_len(Some(AutoLen::Total), false),
            )
            .field(FieldLayout::scalar("name", FieldKind::Text, 6))
            .field(FieldLayout::scalar("fee", FieldKind::UInt, 3).with_optional(true))
            .field(FieldLayout::scalar("n", FieldKind::UInt, 1))
            .group("items", None, "n", 3, &item)
            .build()
    }

    #[test]
    fn decodes_and_encodes_back() {
        let l = layout();
        // 4 + 6 + 3 + 1 + 2*2 = 18
        let bytes = [
            b"0018".as_slice(),
            &[0xB1, 0xDE, 0xBF, 0xA9, b' ', b' '],
            b"   ",
            b"2",
            b"01",
            b"02",
        ]
        .concat();
        let r = l.decode_record(&bytes).unwrap();
        assert_eq!(r.get("name"), Some(&Value::Text("급여".into())));
        assert_eq!(r.get("fee"), Some(&Value::Null));
        let Some(Value::Group(items)) = r.get("items") else {
            panic!("no group")
        };
        assert_eq!(items[1].get("code"), Some(&Value::Text("02".into())));
        assert_eq!(l.encode_record(&r).unwrap(), bytes);
        #[cfg(feature = "serde")]
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"len":18,"name":"급여","fee":null,"n":2,"items":[{"code":"01"},{"code":"02"}]}"#
        );
    }

    #[test]
    fn errors_name_path_and_offset() {
        let l = layout();
        let bytes = [b"0016".as_slice(), b"ABCDEF", b"   ", b"1", b"0X"].concat();
        let e = l.decode_record(&bytes).unwrap_err();
        assert_eq!((e.path(), e.offset()), ("items[0].code", 15));
        let bytes = [b"0016".as_slice(), b"ABCDEF", b"   ", b"9", b"01"].concat();
        let e = l.decode_record(&bytes).unwrap_err();
        assert!(matches!(
            e.kind(),
            DecodeErrorKind::CountOverMax { count: 9, max: 3 }
        ));
        let bytes = [b"0099".as_slice(), b"ABCDEF", b"   ", b"0"].concat();
        let e = l.decode_record(&bytes).unwrap_err();
        assert_eq!((e.path(), e.offset()), ("len", 0));
    }

    #[test]
    fn encode_fills_defaults_and_length() {
        let mut r = Record::new();
        r.set("name", Value::Text("AB".into()));
        assert_eq!(layout().encode_record(&r).unwrap(), b"0014AB       0");
    }
}
