//! `fep decode`: raw or hex bytes → field table or JSON, sensitive fields masked.

use std::fmt::Write as _;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::family::Family;
use crate::dump::mask_value;
use crate::dynamic::{Record, Value};
use crate::error::DecodeError;
use crate::layout::{FieldKind, FieldLayout, Layout};

/// How [`decode`] renders a telegram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// One row per field: offset, len, name, label, value.
    #[default]
    Table,
    /// `{"type":"2000/100","name":…,"header":{…},"body":{…}}`.
    Json,
}

/// Options of [`decode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecodeOptions {
    /// The input is hex text (whitespace ignored) rather than raw bytes.
    pub hex: bool,
    /// Table or JSON.
    pub format: OutputFormat,
    /// Show sensitive (`mask`) fields in clear.
    pub unmask: bool,
}

/// Why [`decode`] failed. Every variant is a bad input: the CLI exits with [`ToolError::exit_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The hex text is not hex.
    #[error("bad hex input at character {at}: {reason}")]
    BadHex {
        /// 0-based character index in the input text.
        at: usize,
        /// What is wrong.
        reason: String,
    },
    /// The telegram decodes, but the length prefix in front of it disagrees with its length.
    #[error("the frame's prefix {prefix:?} does not match the {actual}-byte telegram after it")]
    BadFrame {
        /// The prefix bytes (lossy text).
        prefix: String,
        /// The telegram's length.
        actual: usize,
    },
    /// The telegram does not decode.
    #[error("{what}: {error}{shifted}\n{excerpt}", shifted = if *prefix_len > 0 { format!(" (input offset {})", error.offset() + prefix_len) } else { String::new() })]
    BadTelegram {
        /// What was being decoded (e.g. `2000/100 TransferRequest`, or the family when the
        /// message could not be identified).
        what: String,
        /// The decode error: field path, offset within the telegram, reason.
        error: Box<DecodeError>,
        /// Bytes of framing stripped before the telegram (offsets are telegram offsets).
        prefix_len: usize,
        /// Hex dump around the offending offset, with a marker under the bad byte.
        excerpt: String,
    },
}

impl ToolError {
    /// The process exit code for this error (2: bad input).
    pub fn exit_code(&self) -> i32 {
        2
    }
}

/// A decoded telegram: which message it is and its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The message key (`"2000/100"`), or `"heartbeat"`.
    pub kind: String,
    /// The message (or heartbeat struct) name.
    pub name: String,
    /// The layout it was decoded with.
    pub layout: Layout,
    /// The values.
    pub record: Record,
    /// Bytes of framing (length prefix) that were stripped.
    pub prefix_len: usize,
    /// The telegram bytes (without framing).
    pub telegram: Vec<u8>,
    /// Name of the header field whose values render under `"header"` in JSON.
    pub header_field: Option<String>,
}

/// Decodes and renders a telegram: identifies the message from its header, accepts it with
/// or without the family's length prefix, masks sensitive fields unless `unmask`.
pub fn decode(family: &Family, input: &[u8], options: &DecodeOptions) -> Result<String, ToolError> {
    let decoded = decode_input(family, input, options.hex)?;
    Ok(match options.format {
        OutputFormat::Table => decoded.to_table(options.unmask),
        OutputFormat::Json => decoded.to_json(options.unmask),
    })
}

/// Parses hex text: pairs of hex digits, whitespace (and `:`/`-` separators) ignored.
pub(crate) fn parse_hex(text: &[u8]) -> Result<Vec<u8>, ToolError> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<u8> = None;
    let mut high_at = 0;
    for (i, &c) in text.iter().enumerate() {
        if c.is_ascii_whitespace() || c == b':' || c == b'-' {
            continue;
        }
        let Some(v) = (c as char).to_digit(16) else {
            return Err(ToolError::BadHex {
                at: i,
                reason: format!("{:?} is not a hex digit", c as char),
            });
        };
        let v = v as u8;
        match high.take() {
            None => {
                high = Some(v);
                high_at = i;
            }
            Some(h) => out.push(h << 4 | v),
        }
    }
    if high.is_some() {
        return Err(ToolError::BadHex {
            at: high_at,
            reason: "odd number of hex digits".into(),
        });
    }
    Ok(out)
}

/// Identifies and decodes `input` (raw bytes or hex text) without rendering it.
///
/// Raw input ending in a newline (a file saved by an editor, `echo`) is tried as is first,
/// then without the newline.
pub fn decode_input(family: &Family, input: &[u8], hex: bool) -> Result<Decoded, ToolError> {
    if hex {
        return decode_bytes(family, parse_hex(input)?);
    }
    let exact = decode_bytes(family, input.to_vec());
    let trimmed = input
        .strip_suffix(b"\r\n")
        .or_else(|| input.strip_suffix(b"\n"));
    match (exact, trimmed) {
        (Err(_), Some(t)) => decode_bytes(family, t.to_vec()),
        (result, _) => result,
    }
}

fn decode_bytes(family: &Family, bytes: Vec<u8>) -> Result<Decoded, ToolError> {
    let framing = family.framing();
    let overhead = framing.overhead();
    let mut mismatch = false;
    let (telegram, prefix_len) = match framing.strip(&bytes) {
        Some(t) => (t, overhead),
        // A prefix whose length disagrees with what follows: decode what follows, so the error
        // is about the telegram's real length rather than an unknown key.
        None if overhead > 0
            && bytes.starts_with(&framing.prefix)
            && family.identify(&bytes).is_err()
            && bytes
                .get(overhead..)
                .is_some_and(|t| family.identify(t).is_ok()) =>
        {
            mismatch = true;
            (&bytes[overhead..], overhead)
        }
        None => (bytes.as_slice(), 0),
    };
    let bad = |what: String, error: DecodeError| ToolError::BadTelegram {
        excerpt: hex_excerpt(telegram, error.offset()),
        what,
        error: Box::new(error),
        prefix_len,
    };
    if let Some(hb) = family.heartbeat() {
        if hb.layout.len() == Some(telegram.len())
            && (hb.is_request(telegram) || hb.is_response(telegram))
        {
            let record = hb
                .layout
                .decode_record(telegram)
                .map_err(|e| bad(format!("heartbeat {}", hb.struct_name), e))?;
            return Ok(Decoded {
                kind: "heartbeat".into(),
                name: hb.struct_name.clone(),
                layout: hb.layout.clone(),
                record,
                prefix_len,
                telegram: telegram.to_vec(),
                header_field: None,
            });
        }
    }
    let spec = family
        .identify(telegram)
        .map_err(|e| bad(format!("{} telegram", family.name()), e))?;
    let record = spec
        .layout
        .decode_record(telegram)
        .map_err(|e| bad(format!("{} {}", spec.key_str(), spec.name), e))?;
    if mismatch {
        return Err(ToolError::BadFrame {
            prefix: String::from_utf8_lossy(&bytes[..overhead]).into_owned(),
            actual: telegram.len(),
        });
    }
    Ok(Decoded {
        kind: spec.key_str(),
        name: spec.name.clone(),
        layout: spec.layout.clone(),
        record,
        prefix_len,
        telegram: telegram.to_vec(),
        header_field: family.header_field().map(str::to_owned),
    })
}

/// A hex dump of the 16-byte rows around `offset`, with `^^` under the byte at `offset`.
pub(crate) fn hex_excerpt(bytes: &[u8], offset: usize) -> String {
    let row_of = offset / 16;
    let first = row_of.saturating_sub(1);
    let last = (row_of + 1).min(bytes.len().saturating_sub(1) / 16);
    let mut out = String::new();
    for row in first..=last.max(first) {
        let start = row * 16;
        let end = (start + 16).min(bytes.len());
        let chunk = bytes.get(start..end).unwrap_or_default();
        let _ = write!(out, "  {start:06}  ");
        for i in 0..16 {
            match chunk.get(i) {
                Some(b) => {
                    let _ = write!(out, "{b:02x} ");
                }
                None => out.push_str("   "),
            }
        }
        out.push_str(" |");
        for &b in chunk {
            out.push(if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            });
        }
        out.push_str("|\n");
        if row == row_of {
            let col = offset % 16;
            let _ = writeln!(out, "  {:6}  {}^^ offset {offset}", "", " ".repeat(col * 3));
        }
    }
    if offset >= bytes.len() {
        let _ = writeln!(
            out,
            "  (offset {offset} is past the end: the telegram has {} bytes)",
            bytes.len()
        );
    }
    out
}

/// Terminal width of a string: Hangul, CJK and full-width forms take two columns.
pub(crate) fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0x303E
            | 0x3041..=0x33FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xA000..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6 => 2,
            _ => 1,
        })
        .sum()
}

/// `s` padded with spaces to `width` terminal columns.
pub(crate) fn pad(s: &str, width: usize) -> String {
    let w = display_width(s);
    format!("{s}{}", " ".repeat(width.saturating_sub(w)))
}

fn shown(value: Option<&Value>, mask: bool, unmask: bool) -> String {
    let hide = mask && !unmask;
    match value {
        Some(Value::Text(s)) if hide => mask_value(s),
        Some(Value::Text(s)) => format!("{s:?}"),
        Some(Value::UInt(v)) if hide => mask_value(&v.to_string()),
        Some(Value::UInt(v)) => v.to_string(),
        Some(Value::Int(v)) if hide => mask_value(&v.to_string()),
        Some(Value::Int(v)) => v.to_string(),
        Some(Value::Raw(b)) if hide => "*".repeat(b.len() * 2),
        Some(Value::Raw(b)) => b.iter().map(|b| format!("{b:02x}")).collect(),
        Some(Value::Null) | None => "(blank)".into(),
        Some(Value::Group(items)) => format!("({} elements)", items.len()),
    }
}

struct Row {
    offset: usize,
    len: String,
    name: String,
    label: String,
    value: String,
}

#[allow(clippy::too_many_arguments)]
fn rows(
    out: &mut Vec<Row>,
    layout: &Layout,
    record: &Record,
    prefix: &str,
    pos: &mut usize,
    total: usize,
    unmask: bool,
) {
    for f in layout.fields() {
        let value = record.get(&f.path);
        if let FieldKind::Group { element, .. } = &f.kind {
            let items = match value {
                Some(Value::Group(items)) => items.as_slice(),
                _ => &[],
            };
            out.push(Row {
                offset: *pos,
                len: "-".into(),
                name: format!("{prefix}{}", f.path),
                label: f.label.clone().unwrap_or_default(),
                value: format!("({} elements)", items.len()),
            });
            for (i, item) in items.iter().enumerate() {
                let p = format!("{prefix}{}[{i}].", f.path);
                rows(out, element, item, &p, pos, total, unmask);
            }
            continue;
        }
        let len = match f.len {
            Some(l) => l,
            None => total.saturating_sub(*pos),
        };
        out.push(Row {
            offset: *pos,
            len: len.to_string(),
            name: format!("{prefix}{}", f.path),
            label: f.label.clone().unwrap_or_default(),
            value: shown(value, f.mask, unmask),
        });
        *pos += len;
    }
}

// ---------------------------------------------------------------------------------------------
// JSON: an ordered tree built from dotted paths.

enum Node {
    Leaf(serde_json::Value),
    Map(Vec<(String, Node)>),
    List(Vec<Node>),
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Leaf(v) => v.serialize(s),
            Node::Map(entries) => {
                let mut m = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
            Node::List(items) => {
                let mut l = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    l.serialize_element(i)?;
                }
                l.end()
            }
        }
    }
}

/// Splits `"a.b[2].c"` into `[("a", []), ("b", [2]), ("c", [])]`.
fn segments(path: &str) -> Vec<(&str, Vec<usize>)> {
    path.split('.')
        .map(|seg| {
            let (name, rest) = seg.split_once('[').map_or((seg, ""), |(n, r)| (n, r));
            let idx = rest
                .split('[')
                .filter_map(|p| p.trim_end_matches(']').parse().ok())
                .collect();
            (name, idx)
        })
        .collect()
}

fn map_entry<'a>(
    entries: &'a mut Vec<(String, Node)>,
    key: &str,
    make: fn() -> Node,
) -> &'a mut Node {
    let i = match entries.iter().position(|(k, _)| k == key) {
        Some(i) => i,
        None => {
            entries.push((key.to_owned(), make()));
            entries.len() - 1
        }
    };
    &mut entries[i].1
}

fn insert(root: &mut Vec<(String, Node)>, path: &str, leaf: Node) {
    let segs = segments(path);
    let mut entries = root;
    let n = segs.len();
    let mut leaf = Some(leaf);
    for (si, (name, idx)) in segs.into_iter().enumerate() {
        let last_seg = si + 1 == n;
        if idx.is_empty() {
            if last_seg {
                let slot = map_entry(entries, name, || Node::Map(Vec::new()));
                if let Some(l) = leaf.take() {
                    *slot = l;
                }
                return;
            }
            let slot = map_entry(entries, name, || Node::Map(Vec::new()));
            let Node::Map(inner) = slot else { return };
            entries = inner;
            continue;
        }
        let mut node = map_entry(entries, name, || Node::List(Vec::new()));
        for (k, &i) in idx.iter().enumerate() {
            let Node::List(items) = node else { return };
            while items.len() <= i {
                items.push(if k + 1 == idx.len() && !last_seg {
                    Node::Map(Vec::new())
                } else if k + 1 < idx.len() {
                    Node::List(Vec::new())
                } else {
                    Node::Leaf(serde_json::Value::Null)
                });
            }
            node = &mut items[i];
        }
        if last_seg {
            if let Some(l) = leaf.take() {
                *node = l;
            }
            return;
        }
        let Node::Map(inner) = node else { return };
        entries = inner;
    }
}

/// The JSON type of a field's value in `fep decode --json`: decided by the layout alone,
/// never by the value, so a consumer can rely on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    /// A JSON number (exact: at most [`JSON_NUMBER_DIGITS`] digits).
    Number,
    /// A JSON string.
    String,
}

/// Widest N field (in digits, the sign byte not counted) rendered as a JSON number: every
/// 18-digit value fits an `i64`/`u64` exactly. Wider N fields are strings of digits.
pub const JSON_NUMBER_DIGITS: usize = 18;

/// The JSON type of `field`'s value, by the layout only:
///
/// - an N number field (`type = "N"`, or signed) of at most [`JSON_NUMBER_DIGITS`] digits is
///   a number, a wider one a string of decimal digits (`"-"` first when negative);
/// - N kept as text (`text = true`: codes, dates, times), AN text and raw bytes (hex) are
///   strings;
/// - a masked field is a (masked) string unless `unmask`;
/// - an `optional` field is `null` when blank, whatever its type.
pub fn json_type(field: &FieldLayout, unmask: bool) -> JsonType {
    if field.mask && !unmask {
        return JsonType::String;
    }
    match field.kind {
        FieldKind::UInt | FieldKind::Int => {
            let width = field.len.unwrap_or(usize::MAX);
            let digits = if field.sign == crate::Sign::None {
                width
            } else {
                width.saturating_sub(1)
            };
            if digits <= JSON_NUMBER_DIGITS {
                JsonType::Number
            } else {
                JsonType::String
            }
        }
        _ => JsonType::String,
    }
}

/// One scalar field's value as JSON, typed by [`json_type`] (the layout, never the value) and
/// masked unless `unmask`: what `fep decode --json` and the gateway's HTTP API show.
pub fn field_json(value: Option<&Value>, field: &FieldLayout, unmask: bool) -> serde_json::Value {
    use serde_json::Value as J;
    let hide = field.mask && !unmask;
    let number = json_type(field, unmask) == JsonType::Number;
    match value {
        None | Some(Value::Null) => J::Null,
        Some(Value::Text(s)) if hide => J::String(mask_value(s)),
        Some(Value::Text(s)) => J::String(s.clone()),
        Some(Value::UInt(v)) if hide => J::String(mask_value(&v.to_string())),
        Some(Value::Int(v)) if hide => J::String(mask_value(&v.to_string())),
        // At most 18 digits: always fits, so the type never depends on the value.
        Some(Value::UInt(v)) if number => u64::try_from(*v).map_or(J::Null, J::from),
        Some(Value::Int(v)) if number => i64::try_from(*v).map_or(J::Null, J::from),
        Some(Value::UInt(v)) => J::String(v.to_string()),
        Some(Value::Int(v)) => J::String(v.to_string()),
        Some(Value::Raw(b)) if hide => J::String("*".repeat(b.len() * 2)),
        Some(Value::Raw(b)) => J::String(b.iter().map(|b| format!("{b:02x}")).collect()),
        Some(Value::Group(_)) => J::Null,
    }
}

/// The record as ordered JSON entries, masks applied; group elements become arrays of objects.
fn tree(layout: &Layout, record: &Record, unmask: bool) -> Vec<(String, Node)> {
    let mut root = Vec::new();
    for f in layout.fields() {
        let value = record.get(&f.path);
        let node = match (&f.kind, value) {
            (FieldKind::Group { element, .. }, Some(Value::Group(items))) => Node::List(
                items
                    .iter()
                    .map(|item| Node::Map(tree(element, item, unmask)))
                    .collect(),
            ),
            (FieldKind::Group { .. }, _) => Node::List(Vec::new()),
            _ => Node::Leaf(field_json(value, f, unmask)),
        };
        insert(&mut root, &f.path, node);
    }
    root
}

impl Decoded {
    /// The JSON object `{"type", "name", "header", "body"}` (header only when the family
    /// dispatches on one). Each value's JSON type follows [`json_type`], a rule of the layout
    /// alone: N fields of up to 18 digits are numbers, wider ones strings of digits; AN fields
    /// are trimmed strings, N-as-text fields strings (leading zeros kept), masked fields masked
    /// strings unless `unmask`, blank optional fields `null`.
    pub fn to_json(&self, unmask: bool) -> String {
        let mut fields = tree(&self.layout, &self.record, unmask);
        let mut top = vec![
            ("type".to_owned(), Node::Leaf(self.kind.clone().into())),
            ("name".to_owned(), Node::Leaf(self.name.clone().into())),
        ];
        if let Some(h) = &self.header_field {
            if let Some(i) = fields.iter().position(|(k, _)| k == h) {
                let (_, header) = fields.remove(i);
                top.push(("header".to_owned(), header));
            }
        }
        top.push(("body".to_owned(), Node::Map(fields)));
        serde_json::to_string_pretty(&Node::Map(top)).unwrap_or_default()
    }

    /// A table: offset, len, name, label, value (one row per field; repeat-group elements
    /// indented by path).
    pub fn to_table(&self, unmask: bool) -> String {
        let mut all = Vec::new();
        let mut pos = 0;
        rows(
            &mut all,
            &self.layout,
            &self.record,
            "",
            &mut pos,
            self.telegram.len(),
            unmask,
        );
        let name_w = all
            .iter()
            .map(|r| display_width(&r.name))
            .max()
            .unwrap_or(4)
            .max(4);
        let label_w = all
            .iter()
            .map(|r| display_width(&r.label))
            .max()
            .unwrap_or(5)
            .max(5);
        let mut out = String::new();
        let title = if self.kind.is_empty() {
            self.name.clone()
        } else {
            format!("{} {}", self.kind, self.name)
        };
        let _ = writeln!(
            out,
            "{title} ({} bytes{})",
            self.telegram.len(),
            if self.prefix_len > 0 {
                format!(" + {}-byte length prefix", self.prefix_len)
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            out,
            "{:>6} {:>4}  {}  {}  value",
            "offset",
            "len",
            pad("name", name_w),
            pad("label", label_w)
        );
        for r in &all {
            let _ = writeln!(
                out,
                "{:>6} {:>4}  {}  {}  {}",
                r.offset,
                r.len,
                pad(&r.name, name_w),
                pad(&r.label, label_w),
                r.value
            );
        }
        out
    }
}
