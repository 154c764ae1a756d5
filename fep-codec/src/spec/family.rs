//! [`Family`]: a TOML spec loaded, validated and turned into [`Layout`]s equal to the derive's.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::error::{Location, SpecError};
use super::schema::{self, CopyDef, Doc, FieldDef, StructDef};
use crate::charset::Charset;
use crate::dynamic::Record;
use crate::error::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind};
use crate::field::Sign;
use crate::layout::{AutoLen, FieldKind, FieldLayout, Layout};

mod session;

pub use session::{CommandEffect, CommandSpec, Opener, SessionEvent, SessionSpec, TestCallSpec};

/// A telegram family loaded from a TOML spec: its structs, messages and metadata.
#[derive(Debug, Clone)]
pub struct Family {
    name: String,
    label: Option<String>,
    source: Option<String>,
    charset: Charset,
    framing: Framing,
    headers: Vec<String>,
    header_field: Option<String>,
    key_fields: Vec<KeyField>,
    enum_name: Option<String>,
    structs: Vec<StructSpec>,
    messages: Vec<MessageSpec>,
    correlation: Vec<String>,
    sequence: Option<SequenceSpec>,
    date: Option<DateSpec>,
    response_code: Option<ResponseCodeSpec>,
    inquiries: Vec<InquirySpec>,
    notices: Vec<NoticeSpec>,
    heartbeat: Option<HeartbeatSpec>,
    session: SessionSpec,
}

/// One struct of the spec (a header, a message body, a repeated element ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructSpec {
    /// The struct's name (the Rust type name in generated code).
    pub name: String,
    /// Human label, e.g. `"공통부"`.
    pub label: Option<String>,
    /// Free text shown in docs.
    pub doc: Option<String>,
    /// Default charset of its text fields.
    pub charset: Charset,
    /// Declared total length, if any (checked).
    pub declared_len: Option<usize>,
    /// The fields as declared.
    pub fields: Vec<FieldSpec>,
    /// The flattened layout, equal to the derive's `T::layout()` for the same struct.
    pub layout: Layout,
}

/// One declared field of a [`StructSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    /// Field name (a Rust identifier).
    pub name: String,
    /// Human label, e.g. `"전문번호"`.
    pub label: Option<String>,
    /// Free-text note (shown in the Markdown 전문설계서).
    pub note: Option<String>,
    /// Offset relative to the start of the struct; `None` after a variable-length field.
    pub offset: Option<usize>,
    /// Bytes taken by the whole field (all elements); `None` when variable.
    pub width: Option<usize>,
    /// Rust type override for code generation (e.g. `"u32"`).
    pub rust: Option<String>,
    /// The value a request built from named fields gets when the caller omits this field
    /// (`default = ""` for a field that is normally blank). Scalars only; it is spec-file
    /// metadata for tools such as the gateway's HTTP API, not part of the [`Layout`].
    pub default: Option<String>,
    /// Scalar, nested struct, fixed array or repeat group.
    pub shape: FieldShape,
}

/// What a declared field is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldShape {
    /// A scalar: its layout template (path = name, offset unset).
    Scalar(FieldLayout),
    /// A nested struct.
    Nested(String),
    /// `n` elements, fixed.
    Array {
        /// The element.
        element: Element,
        /// Number of elements.
        n: usize,
    },
    /// A repeat group whose count is the earlier field `count`.
    Group {
        /// The element.
        element: Element,
        /// Name of the earlier integer field holding the count.
        count: String,
        /// Most elements accepted.
        max: usize,
    },
}

/// The element of an array or repeat group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Element {
    /// A scalar element: its layout template.
    Scalar(FieldLayout),
    /// A struct element.
    Struct(String),
}

/// One member of the family, selected by its header key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSpec {
    /// Key values, one per dispatch key field (e.g. `["2000", "100"]`).
    pub key: Vec<String>,
    /// Header fields and the values they must hold besides the key (`when` in the TOML), e.g.
    /// a direction flag telling apart two messages that share a key; empty when the key alone
    /// selects the message.
    pub when: Vec<(KeyField, String)>,
    /// Name (the dispatch enum's variant name), e.g. `"TransferRequest"`.
    pub name: String,
    /// Human label, e.g. `"당/타행이체 요구"`.
    pub label: Option<String>,
    /// The struct describing the whole telegram (header first).
    pub struct_name: String,
    /// The whole telegram's layout: header fields under `header.`, body fields at top level.
    pub layout: Layout,
    /// The key of the response to this request, if it has one.
    pub response: Option<Vec<String>>,
    /// Free text shown in docs.
    pub doc: Option<String>,
}

impl MessageSpec {
    /// The key joined with `/`, e.g. `"2000/100"`.
    pub fn key_str(&self) -> String {
        self.key.join("/")
    }

    /// True when `telegram` holds this message's `when` values (its key is checked apart).
    fn when_holds(&self, telegram: &[u8]) -> bool {
        self.when.iter().all(|(f, v)| {
            telegram
                .get(f.offset..f.offset + f.len)
                .is_some_and(|raw| f.holds(raw, v))
        })
    }
}

/// The scalar field at `path` when it has a fixed offset and width (not `rest`, not a group).
fn fixed_scalar<'l>(layout: &'l Layout, path: &str) -> Option<&'l FieldLayout> {
    layout.field(path).filter(|f| {
        f.offset.is_some()
            && f.len.is_some()
            && !f.rest
            && !matches!(f.kind, FieldKind::Group { .. })
    })
}

/// Where the fixed-position scalar field `path` sits, as a selector field.
fn key_field(layout: &Layout, path: &str) -> Option<KeyField> {
    let f = fixed_scalar(layout, path)?;
    Some(KeyField {
        path: path.to_owned(),
        offset: f.offset?,
        len: f.len?,
        right_aligned: !matches!(f.kind, FieldKind::Text | FieldKind::Raw),
    })
}

/// Where a dispatch key field sits in the telegram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyField {
    /// Field path in a message layout, e.g. `"header.msg_type"`.
    pub path: String,
    /// Absolute offset.
    pub offset: usize,
    /// Width in bytes.
    pub len: usize,
    /// Digits, right-aligned and `'0'` padded (otherwise text, left-aligned, space padded).
    pub right_aligned: bool,
}

impl KeyField {
    /// True when `raw` (the field's bytes) holds `key` formatted as this field formats it.
    pub fn holds(&self, raw: &[u8], key: &str) -> bool {
        crate::dispatch::key_holds(raw, key, self.right_aligned)
    }
}

/// How telegrams are delimited on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framing {
    /// The length prefix.
    pub length: LengthPrefix,
    /// Fixed bytes before the length (e.g. a TR code); empty when none.
    pub prefix: Vec<u8>,
    /// Largest frame accepted, in bytes (telegram only).
    pub max: Option<usize>,
}

/// The length prefix of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthPrefix {
    /// No length: the transport delimits telegrams.
    None,
    /// ASCII decimal digits.
    Ascii {
        /// Number of digits.
        width: usize,
        /// The length counts the prefix itself.
        includes_self: bool,
    },
    /// Big-endian binary.
    Binary {
        /// Bytes (2 or 4).
        width: usize,
        /// The length counts the prefix itself.
        includes_self: bool,
    },
    /// Every frame has this size.
    Fixed {
        /// Frame size in bytes.
        size: usize,
    },
    /// The length is a field of the telegram itself (ASCII digits at `offset`, e.g. KIBNET's
    /// LENGTH N(4) at 0): nothing is added or stripped, the frame *is* the telegram.
    Field {
        /// Offset of the digits in the telegram.
        offset: usize,
        /// Number of digits.
        width: usize,
        /// The value counts the whole telegram (true) or only the bytes after the field.
        includes_self: bool,
    },
}

impl Framing {
    /// Bytes in front of the telegram (fixed prefix + length).
    pub fn overhead(&self) -> usize {
        self.prefix.len()
            + match self.length {
                LengthPrefix::Ascii { width, .. } | LengthPrefix::Binary { width, .. } => width,
                LengthPrefix::None | LengthPrefix::Fixed { .. } | LengthPrefix::Field { .. } => 0,
            }
    }

    /// If `input` is one whole frame (prefix and length that match the rest), the telegram in it.
    pub fn strip<'a>(&self, input: &'a [u8]) -> Option<&'a [u8]> {
        let rest = input.strip_prefix(self.prefix.as_slice())?;
        if let LengthPrefix::Field { .. } = self.length {
            return (self.field_length(rest)? == rest.len()).then_some(rest);
        }
        let (width, includes_self, ascii) = match self.length {
            LengthPrefix::Ascii {
                width,
                includes_self,
            } => (width, includes_self, true),
            LengthPrefix::Binary {
                width,
                includes_self,
            } => (width, includes_self, false),
            LengthPrefix::None | LengthPrefix::Fixed { .. } | LengthPrefix::Field { .. } => {
                return None
            }
        };
        let (len_bytes, telegram) = (rest.get(..width)?, rest.get(width..)?);
        let declared = if ascii {
            if !len_bytes.iter().all(u8::is_ascii_digit) {
                return None;
            }
            std::str::from_utf8(len_bytes).ok()?.parse::<usize>().ok()?
        } else {
            len_bytes.iter().try_fold(0usize, |acc, &b| {
                acc.checked_mul(256)?.checked_add(b.into())
            })?
        };
        let counted = if includes_self {
            telegram.len() + width
        } else {
            telegram.len()
        };
        (declared == counted).then_some(telegram)
    }

    /// With a [`LengthPrefix::Field`] framing, the telegram length its length field declares
    /// (`None` when the field is not there or not digits).
    pub fn field_length(&self, telegram: &[u8]) -> Option<usize> {
        let LengthPrefix::Field {
            offset,
            width,
            includes_self,
        } = self.length
        else {
            return None;
        };
        let digits = telegram.get(offset..offset.checked_add(width)?)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let value: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
        if includes_self {
            Some(value)
        } else {
            value.checked_add(offset + width)
        }
    }

    /// Wraps a telegram in this framing.
    pub fn frame(&self, telegram: &[u8]) -> Result<Vec<u8>, EncodeError> {
        let mut out = self.prefix.clone();
        let too_long = |width: usize| {
            EncodeError::new(
                EncodeErrorKind::TooLong {
                    width,
                    actual: telegram.len(),
                },
                "<length prefix>",
                None,
            )
        };
        match self.length {
            LengthPrefix::Ascii {
                width,
                includes_self,
            } => {
                let n = telegram.len() + if includes_self { width } else { 0 };
                let digits = format!("{n:0width$}");
                if digits.len() > width {
                    return Err(too_long(width));
                }
                out.extend_from_slice(digits.as_bytes());
            }
            LengthPrefix::Binary {
                width,
                includes_self,
            } => {
                let n = telegram.len() + if includes_self { width } else { 0 };
                let bytes = (n as u64).to_be_bytes();
                let skip = bytes.len().saturating_sub(width);
                if bytes[..skip].iter().any(|&b| b != 0) {
                    return Err(too_long(width));
                }
                out.extend_from_slice(&bytes[skip..]);
            }
            // The telegram carries its own length (written by its `auto_len` field).
            LengthPrefix::None | LengthPrefix::Fixed { .. } | LengthPrefix::Field { .. } => {}
        }
        out.extend_from_slice(telegram);
        Ok(out)
    }
}

/// The sequence-number (전문번호) field and its range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSpec {
    /// Field path, e.g. `"header.msg_no"`.
    pub field: String,
    /// Smallest number.
    pub min: u64,
    /// Largest number.
    pub max: u64,
    /// When numbering restarts (e.g. `"daily"`).
    pub reset: Option<String>,
    /// Fields that together with the number must be unique (e.g. date, bank, company).
    pub unique_with: Vec<String>,
}

/// The business-date field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateSpec {
    /// Field path, e.g. `"header.send_date"`.
    pub field: String,
    /// Its format, e.g. `"YYYYMMDD"`.
    pub format: Option<String>,
    /// The time field, if any.
    pub time_field: Option<String>,
    /// Its format, e.g. `"hhmmss"`.
    pub time_format: Option<String>,
}

/// The response-code field and how its values map to outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseCodeSpec {
    /// Field path, e.g. `"header.resp_code"`.
    pub field: String,
    /// Codes meaning success.
    pub success: Vec<String>,
    /// Codes meaning the outcome is unknown (timeout): resolve by inquiry.
    pub unknown: Vec<String>,
    /// Codes meaning "still being processed" (처리중): unknown for now; an inquiry answered
    /// with one is asked again later.
    pub in_progress: Vec<String>,
    /// Codes the spec lists as refusals (documentation: every code not listed as success,
    /// unknown or in progress is a refusal).
    pub declined: Vec<String>,
    /// Code → meaning.
    pub meanings: Vec<(String, String)>,
}

/// What a response code means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeOutcome {
    /// Processed.
    Success,
    /// Unknown: the money may have moved; resolve with the result inquiry.
    Unknown,
    /// Still being processed: unknown for now; ask again later.
    InProgress,
    /// Refused by the institution.
    Declined,
}

impl ResponseCodeSpec {
    /// The outcome of a response code (trimmed before comparing).
    pub fn outcome(&self, code: &str) -> CodeOutcome {
        let code = code.trim();
        if self.success.iter().any(|c| c == code) {
            CodeOutcome::Success
        } else if self.unknown.iter().any(|c| c == code) {
            CodeOutcome::Unknown
        } else if self.in_progress.iter().any(|c| c == code) {
            CodeOutcome::InProgress
        } else {
            CodeOutcome::Declined
        }
    }

    /// The meaning of a code, if the spec lists it.
    pub fn meaning(&self, code: &str) -> Option<&str> {
        let code = code.trim();
        self.meanings
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, m)| m.as_str())
    }
}

/// A result inquiry (결과조회) that resolves requests whose outcome is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InquirySpec {
    /// Keys of the requests it resolves (e.g. 2000/100, 2000/200).
    pub for_keys: Vec<Vec<String>>,
    /// The inquiry's own key (e.g. 7000/100).
    pub key: Vec<String>,
    /// The inquiry field naming the original request (e.g. `"orig_msg_no"`).
    pub key_field: String,
    /// Inquiry field ← original request field, filled when building the inquiry.
    pub copy: Vec<(String, String)>,
    /// Wait this long after the original request before the first inquiry.
    pub delay_secs: Option<u64>,
    /// Repeat the inquiry this often while the answer is still unknown.
    pub interval_secs: Option<u64>,
    /// Field of the inquiry response carrying the original's result code.
    pub result_field: Option<String>,
    /// Result codes meaning "no such transaction" (the original was never processed).
    pub not_found: Vec<String>,
}

impl InquirySpec {
    /// The inquiry's values built from the original request's record (the `copy` fields);
    /// encode it with [`Family::encode`] under [`InquirySpec::key`] after setting the header
    /// (a new 전문번호, the date).
    pub fn inquiry_record(&self, original: &Record) -> Record {
        let mut out = Record::new();
        for (to, from) in &self.copy {
            if let Some(v) = original.get(from) {
                out.set(to, v.clone());
            }
        }
        out
    }
}

/// An unsolicited inbound notice and how to acknowledge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeSpec {
    /// The notice's key (e.g. 4000/100).
    pub key: Vec<String>,
    /// Header values that must hold besides the key (a message sharing the key otherwise).
    pub when: Vec<(KeyField, String)>,
    /// Fields that, with the key, identify a resent notice (empty: the sequence field).
    pub dedup: Vec<String>,
    /// The acknowledgement's key (e.g. 4100/100).
    pub ack: Vec<String>,
    /// The acknowledgement copies every field of the notice.
    pub copy_all: bool,
    /// Fields copied from the notice (when not `copy_all`).
    pub copy: Vec<String>,
    /// Fields set to fixed values in the acknowledgement (after copying).
    pub set: Vec<(String, String)>,
    /// When to acknowledge (e.g. `"durable"`: after the notice is durably recorded).
    pub after: Option<String>,
}

impl NoticeSpec {
    /// True when `telegram` is this notice: its key fields (`keys`, the family's dispatch
    /// fields) hold [`NoticeSpec::key`] and its `when` fields their values.
    pub fn matches(&self, keys: &[KeyField], telegram: &[u8]) -> bool {
        let field_holds = |f: &KeyField, v: &str| {
            telegram
                .get(f.offset..f.offset + f.len)
                .is_some_and(|raw| f.holds(raw, v))
        };
        keys.len() == self.key.len()
            && keys.iter().zip(&self.key).all(|(f, v)| field_holds(f, v))
            && self.when.iter().all(|(f, v)| field_holds(f, v))
    }

    /// The acknowledgement's values built from the notice's record (copied fields, then the
    /// `set` values); encode it with [`Family::encode`] under [`NoticeSpec::ack`].
    pub fn ack_record(&self, notice: &Record) -> Record {
        let mut out = if self.copy_all {
            notice.clone()
        } else {
            let mut r = Record::new();
            for p in &self.copy {
                if let Some(v) = notice.get(p) {
                    r.set(p, v.clone());
                }
            }
            r
        };
        for (p, v) in &self.set {
            out.set(p, crate::Value::Text(v.clone()));
        }
        out
    }
}

/// The idle-session heartbeat (polling) telegram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatSpec {
    /// The struct describing it.
    pub struct_name: String,
    /// Its layout.
    pub layout: Layout,
    /// Send a request after this many idle seconds.
    pub interval_secs: Option<u64>,
    /// Field values identifying a request.
    pub request: Vec<(String, String)>,
    /// Field values identifying a response (set when answering).
    pub response: Vec<(String, String)>,
    /// Fields the response copies from the request.
    pub echo: Vec<String>,
    /// The sender's timestamp field.
    pub stamp_field: Option<String>,
    /// Its format, e.g. `"MMddhhmmss"`.
    pub stamp_format: Option<String>,
}

impl HeartbeatSpec {
    fn matches(&self, telegram: &[u8], want: &[(String, String)]) -> bool {
        match self.layout.decode_record(telegram) {
            Ok(r) => want
                .iter()
                .all(|(p, v)| r.get(p).map(value_text).as_deref() == Some(v.as_str())),
            Err(_) => false,
        }
    }

    /// Whether `telegram` (without framing) is a heartbeat request.
    pub fn is_request(&self, telegram: &[u8]) -> bool {
        self.matches(telegram, &self.request)
    }

    /// Whether `telegram` (without framing) is a heartbeat response.
    pub fn is_response(&self, telegram: &[u8]) -> bool {
        self.matches(telegram, &self.response)
    }

    /// The response to a heartbeat request (without framing): echo fields copied, response
    /// values set.
    pub fn respond(&self, request: &[u8]) -> Result<Vec<u8>, RecordError> {
        let req = self.layout.decode_record(request)?;
        let mut out = Record::new();
        for p in &self.echo {
            if let Some(v) = req.get(p) {
                out.set(p, v.clone());
            }
        }
        for (p, v) in &self.response {
            out.set(p, crate::Value::Text(v.clone()));
        }
        Ok(self.layout.encode_record(&out)?)
    }
}

/// A value as the text it stands for (numbers in decimal, raw bytes in hex, blank as "").
fn value_text(v: &crate::Value) -> String {
    match v {
        crate::Value::Text(s) => s.clone(),
        crate::Value::UInt(n) => n.to_string(),
        crate::Value::Int(n) => n.to_string(),
        crate::Value::Raw(b) => b.iter().map(|b| format!("{b:02x}")).collect(),
        crate::Value::Null | crate::Value::Group(_) => String::new(),
    }
}

/// A decode or encode error, for operations that do both.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Decoding failed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Encoding failed.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

impl Family {
    /// Loads a family from TOML text. Errors name the TOML line, the struct or message and
    /// the field.
    pub fn from_toml_str(text: &str) -> Result<Family, SpecError> {
        let doc: Doc = toml::from_str(text).map_err(|e| SpecError::Syntax {
            location: Location::of(text, e.span()),
            message: e.message().trim_end().to_owned(),
        })?;
        Builder::new(text).build(doc)
    }

    /// Loads a family from a TOML file; errors carry the file name.
    pub fn load(path: impl AsRef<Path>) -> Result<Family, SpecError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text).map_err(|e| e.with_file(path))
    }

    /// The family's short name (e.g. `"hecto"`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Human label.
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// Where the layout comes from (document, version).
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// Default charset of text fields.
    pub fn charset(&self) -> Charset {
        self.charset
    }

    /// Wire framing.
    pub fn framing(&self) -> &Framing {
        &self.framing
    }

    /// Name of the header struct (공통부), when the family dispatches on a header (the first
    /// flavour when it has several).
    pub fn header_struct(&self) -> Option<&str> {
        self.headers.first().map(String::as_str)
    }

    /// Every header flavour (e.g. KIBNET's 가상계좌 and 제휴업무 공통부), in `[dispatch]` order.
    pub fn header_structs(&self) -> &[String] {
        &self.headers
    }

    /// The (first) header's layout.
    pub fn header_layout(&self) -> Option<&Layout> {
        self.header_struct()
            .and_then(|h| self.struct_spec(h))
            .map(|s| &s.layout)
    }

    /// Name of the header field inside each message struct (e.g. `"header"`).
    pub fn header_field(&self) -> Option<&str> {
        self.header_field.as_deref()
    }

    /// The dispatch key fields, in key order.
    pub fn key_fields(&self) -> &[KeyField] {
        &self.key_fields
    }

    /// Name of the dispatch enum in generated code.
    pub fn enum_name(&self) -> Option<&str> {
        self.enum_name.as_deref()
    }

    /// Every struct, in file order.
    pub fn structs(&self) -> &[StructSpec] {
        &self.structs
    }

    /// The struct named `name`.
    pub fn struct_spec(&self, name: &str) -> Option<&StructSpec> {
        self.structs.iter().find(|s| s.name == name)
    }

    /// Every message, in file order.
    pub fn messages(&self) -> &[MessageSpec] {
        &self.messages
    }

    /// The message with this key, written joined with `/` (`"2000/100"`).
    pub fn message(&self, key: &str) -> Option<&MessageSpec> {
        self.messages.iter().find(|m| m.key_str() == key)
    }

    /// The message with this key, one value per key field.
    pub fn message_by_key<S: AsRef<str>>(&self, key: &[S]) -> Option<&MessageSpec> {
        self.messages.iter().find(|m| {
            m.key.len() == key.len() && m.key.iter().zip(key).all(|(a, b)| a == b.as_ref())
        })
    }

    /// The spec's `default` values of a message's fields, by flattened path (`"memo"`,
    /// `"header.reserved1"`, `"checks[0].no"`), in wire order. Fields inside repeat groups
    /// have no flattened path and are not listed.
    pub fn defaults(&self, message: &MessageSpec) -> Vec<(String, String)> {
        let mut out = Vec::new();
        self.collect_defaults(&message.struct_name, "", &mut out, 0);
        out
    }

    fn collect_defaults(
        &self,
        name: &str,
        prefix: &str,
        out: &mut Vec<(String, String)>,
        depth: usize,
    ) {
        // Struct nesting is acyclic once loaded; the bound only guards against a bug.
        let Some(s) = self.struct_spec(name).filter(|_| depth < 64) else {
            return;
        };
        for f in &s.fields {
            let path = format!("{prefix}{}", f.name);
            match &f.shape {
                FieldShape::Scalar(_) => {
                    if let Some(d) = &f.default {
                        out.push((path, d.clone()));
                    }
                }
                FieldShape::Nested(inner) => {
                    self.collect_defaults(inner, &format!("{path}."), out, depth + 1)
                }
                FieldShape::Array {
                    element: Element::Struct(inner),
                    n,
                } => {
                    for i in 0..*n {
                        self.collect_defaults(inner, &format!("{path}[{i}]."), out, depth + 1);
                    }
                }
                FieldShape::Array { .. } | FieldShape::Group { .. } => {}
            }
        }
    }

    /// The message with this name (variant name).
    pub fn message_named(&self, name: &str) -> Option<&MessageSpec> {
        self.messages.iter().find(|m| m.name == name)
    }

    /// The response message of the request with this key.
    pub fn response_to<S: AsRef<str>>(&self, key: &[S]) -> Option<&MessageSpec> {
        self.message_by_key(key)?
            .response
            .as_deref()
            .and_then(|r| self.message_by_key(r))
    }

    /// Which message a telegram (without framing) is, from its header's key bytes only.
    pub fn identify(&self, telegram: &[u8]) -> Result<&MessageSpec, DecodeError> {
        if self.key_fields.is_empty() {
            return match self.messages.as_slice() {
                [only] => Ok(only),
                _ => Err(DecodeError::new(
                    DecodeErrorKind::UnknownKey {
                        key: "the family has no [dispatch] keys".into(),
                    },
                    "",
                    0,
                    &[],
                )),
            };
        }
        let mut raws = Vec::with_capacity(self.key_fields.len());
        for k in &self.key_fields {
            let end = k.offset + k.len;
            let raw = telegram.get(k.offset..end).ok_or_else(|| {
                DecodeError::new(
                    DecodeErrorKind::WrongLength {
                        expected: end,
                        actual: telegram.len(),
                    },
                    &k.path,
                    telegram.len(),
                    &[],
                )
            })?;
            raws.push(raw);
        }
        let found = self.messages.iter().find(|m| {
            self.key_fields
                .iter()
                .zip(&m.key)
                .zip(&raws)
                .all(|((f, k), raw)| f.holds(raw, k))
                && m.when_holds(telegram)
        });
        found.ok_or_else(|| {
            // The key, then the values of every field a `when` looks at.
            let mut conds: Vec<&KeyField> = Vec::new();
            for (f, _) in self.messages.iter().flat_map(|m| &m.when) {
                if !conds.contains(&f) {
                    conds.push(f);
                }
            }
            let extra = conds
                .iter()
                .filter_map(|f| telegram.get(f.offset..f.offset + f.len));
            let shown: Vec<String> = raws
                .iter()
                .copied()
                .chain(extra)
                .map(|r| String::from_utf8_lossy(r).trim().to_owned())
                .collect();
            let first = &self.key_fields[0];
            DecodeError::new(
                DecodeErrorKind::UnknownKey {
                    key: shown.join("/"),
                },
                &first.path,
                first.offset,
                raws[0],
            )
        })
    }

    /// Identifies and decodes a telegram (without framing).
    pub fn decode(&self, telegram: &[u8]) -> Result<(&MessageSpec, Record), DecodeError> {
        let spec = self.identify(telegram)?;
        Ok((spec, spec.layout.decode_record(telegram)?))
    }

    /// Encodes a record as the message with this name (`"TransferRequest"`) or key
    /// (`"2000/100"`: the first message with that key); the key fields and the message's
    /// `when` fields are written from the message.
    pub fn encode(&self, key: &str, record: &Record) -> Result<Vec<u8>, EncodeError> {
        let spec = self
            .message_named(key)
            .or_else(|| self.message(key))
            .ok_or_else(|| {
                EncodeError::new(
                    EncodeErrorKind::Unsupported {
                        reason: format!("no message with key {key} in family {}", self.name),
                    },
                    "",
                    None,
                )
            })?;
        let mut record = record.clone();
        let selectors = self.key_fields.iter().zip(&spec.key);
        for (f, k) in selectors.chain(spec.when.iter().map(|(f, v)| (f, v))) {
            record.set(&f.path, crate::Value::Text(k.clone()));
        }
        spec.layout.encode_record(&record)
    }

    /// The correlation key's field paths (a response carries the request's values).
    pub fn correlation(&self) -> &[String] {
        &self.correlation
    }

    /// The sequence-number field and its range.
    pub fn sequence(&self) -> Option<&SequenceSpec> {
        self.sequence.as_ref()
    }

    /// The business-date field.
    pub fn date(&self) -> Option<&DateSpec> {
        self.date.as_ref()
    }

    /// The response-code field and its success / unknown codes.
    pub fn response_code(&self) -> Option<&ResponseCodeSpec> {
        self.response_code.as_ref()
    }

    /// The outcome of a decoded response, from its response-code field.
    pub fn outcome(&self, record: &Record) -> Option<CodeOutcome> {
        let rc = self.response_code.as_ref()?;
        let code = record.get(&rc.field)?.as_str()?;
        Some(rc.outcome(code))
    }

    /// The correlation key of a decoded telegram: its values of the [`Family::correlation`]
    /// fields, as text (`None` when a field is missing). A response has its request's key.
    pub fn correlation_key(&self, record: &Record) -> Option<Vec<String>> {
        self.correlation
            .iter()
            .map(|p| record.get(p).map(value_text))
            .collect()
    }

    /// Every result inquiry.
    pub fn inquiries(&self) -> &[InquirySpec] {
        &self.inquiries
    }

    /// The result inquiry resolving requests with this key.
    pub fn inquiry_for<S: AsRef<str>>(&self, key: &[S]) -> Option<&InquirySpec> {
        self.inquiries.iter().find(|i| {
            i.for_keys
                .iter()
                .any(|k| k.len() == key.len() && k.iter().zip(key).all(|(a, b)| a == b.as_ref()))
        })
    }

    /// Every unsolicited inbound notice.
    pub fn notices(&self) -> &[NoticeSpec] {
        &self.notices
    }

    /// The notice rule for this key, if the message is an unsolicited notice.
    pub fn notice<S: AsRef<str>>(&self, key: &[S]) -> Option<&NoticeSpec> {
        self.notices.iter().find(|n| {
            n.key.len() == key.len() && n.key.iter().zip(key).all(|(a, b)| a == b.as_ref())
        })
    }

    /// The heartbeat (polling) telegram.
    pub fn heartbeat(&self) -> Option<&HeartbeatSpec> {
        self.heartbeat.as_ref()
    }

    /// The session rules (`[session]`): who opens the business day, with which telegrams,
    /// and the commands the institution may start.
    pub fn session(&self) -> &SessionSpec {
        &self.session
    }
}

// ---------------------------------------------------------------------------------------------
// Building

/// Turns the parsed document into a [`Family`], with spans for errors.
struct Builder<'t> {
    text: &'t str,
    charset: Charset,
    /// `[tolerance] numbers`: every N field is tolerant.
    tolerant_numbers: bool,
    /// `[tolerance] filler`: the last AN field of every message struct is a tolerant filler.
    tolerant_filler: bool,
    /// Structs that end a telegram: message structs, and the struct of a message struct's
    /// last field (recursively), whose last field is the telegram's trailing filler.
    trailing: HashSet<String>,
    defs: Vec<Spanned<StructDef>>,
    index: HashMap<String, usize>,
    built: HashMap<String, StructSpec>,
    visiting: HashSet<String>,
    users: HashMap<String, Vec<String>>,
}

/// Largest struct (and field) accepted, in bytes: far above any real telegram, low enough that
/// offsets never overflow.
const MAX_BYTES: usize = 1 << 24;
/// Most layout entries per struct once fixed arrays are expanded.
const MAX_FIELDS: usize = 100_000;
/// Most digits of an N number field (u128 holds every 38-digit value).
const MAX_DIGITS: usize = 38;

/// Where a field sits, and the tolerances that reach it from its struct and family.
#[derive(Debug, Clone, Copy)]
struct Place {
    /// The last field of its struct.
    is_last: bool,
    /// `tolerant` from the struct or `[tolerance] numbers`.
    tolerant: bool,
    /// `[tolerance] filler` applies here (the last field of a struct that ends a telegram).
    filler: bool,
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// A `default` must be a value its scalar field can hold: it is encoded once here, so a default
/// that does not fit (too long, not digits, unmappable) is a load error, not a failed request.
fn check_default(default: &str, shape: &FieldShape) -> Result<(), String> {
    let FieldShape::Scalar(lay) = shape else {
        return Err("`default` applies to scalar fields".into());
    };
    let value = match lay.kind {
        FieldKind::Text | FieldKind::NumericText => crate::dynamic::Value::Text(default.into()),
        FieldKind::UInt => default
            .parse::<u128>()
            .map(crate::dynamic::Value::UInt)
            .map_err(|_| format!("`default = {default:?}`: expected digits"))?,
        FieldKind::Int => default
            .parse::<i128>()
            .map(crate::dynamic::Value::Int)
            .map_err(|_| format!("`default = {default:?}`: expected a signed number"))?,
        FieldKind::Raw | FieldKind::Group { .. } => {
            return Err("`default` applies to AN and N fields".into())
        }
    };
    let layout = Layout::builder("default").field(lay.clone()).build();
    let mut record = Record::new();
    record.set(&lay.path, value);
    layout.encode_record(&record).map(|_| ()).map_err(|err| {
        format!(
            "`default = {default:?}` does not fit the field: {}",
            err.kind()
        )
    })
}

/// The tokens of a date/time pattern: year, month, day, hour, minute, second.
const DATE_TOKENS: &[&str] = &[
    "YYYY", "yyyy", "YY", "yy", "MM", "DD", "dd", "hh", "HH", "mm", "ss",
];

/// Checks a date/time pattern such as `"YYYYMMDD"`, `"hhmmss"` or `"MMddhhmmss"`: made of
/// [`DATE_TOKENS`] (and `-`, `/`, `:`, `.`, ` ` separators), as wide as its field.
fn check_date_pattern(pattern: &str, field: Option<(&str, usize)>) -> Result<String, String> {
    let mut rest = pattern;
    let mut tokens = 0;
    while !rest.is_empty() {
        if let Some(t) = DATE_TOKENS.iter().find(|t| rest.starts_with(**t)) {
            rest = &rest[t.len()..];
            tokens += 1;
        } else if rest.starts_with(['-', '/', ':', '.', ' ']) {
            rest = &rest[1..];
        } else {
            return Err(format!(
                "`{pattern}` is not a date/time pattern: unexpected {:?}; use YYYY, YY, MM, DD, hh, mm, ss (e.g. \"YYYYMMDD\", \"hhmmss\")",
                rest.chars().next().unwrap_or(' ')
            ));
        }
    }
    if tokens == 0 {
        return Err(format!(
            "`{pattern}` is not a date/time pattern: it has no YYYY, MM, DD, hh, mm or ss"
        ));
    }
    match field {
        Some((name, width)) if width != pattern.len() => Err(format!(
            "pattern `{pattern}` has {} characters but field `{name}` is {width} bytes",
            pattern.len()
        )),
        _ => Ok(pattern.to_owned()),
    }
}

fn ident_problem(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let ok_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !ok_start || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Some(format!(
            "`{name}` is not a valid name (ASCII letters, digits and `_`, not starting with a digit)"
        ));
    }
    if KEYWORDS.contains(&name) || name == "_" {
        return Some(format!(
            "`{name}` is a Rust keyword; choose another name (e.g. `{name}_`)"
        ));
    }
    None
}

impl<'t> Builder<'t> {
    fn new(text: &'t str) -> Self {
        Self {
            text,
            charset: Charset::EucKr,
            tolerant_numbers: false,
            tolerant_filler: false,
            trailing: HashSet::new(),
            defs: Vec::new(),
            index: HashMap::new(),
            built: HashMap::new(),
            visiting: HashSet::new(),
            users: HashMap::new(),
        }
    }

    fn err(
        &self,
        span: Option<Range<usize>>,
        context: impl Into<String>,
        message: impl Into<String>,
    ) -> SpecError {
        SpecError::Invalid {
            location: Location::of(self.text, span),
            context: context.into(),
            message: message.into(),
        }
    }

    fn parse_charset(&self, s: &Spanned<String>, ctx: &str) -> Result<Charset, SpecError> {
        Charset::parse(s.get_ref()).ok_or_else(|| {
            self.err(
                Some(s.span()),
                ctx,
                format!(
                    "unknown charset {:?} (expected ascii, euc-kr or cp949)",
                    s.get_ref()
                ),
            )
        })
    }

    fn build(mut self, mut doc: Doc) -> Result<Family, SpecError> {
        let fam_span = doc.family.span();
        let fam = doc.family.get_ref();
        if let Some(cs) = &fam.charset {
            self.charset = self.parse_charset(cs, "[family]")?;
        }
        if fam.name.trim().is_empty() {
            return Err(self.err(Some(fam_span), "[family]", "`name` must not be empty"));
        }
        if let Some(t) = &doc.tolerance {
            self.tolerant_numbers = t.get_ref().numbers;
            self.tolerant_filler = t.get_ref().filler;
        }

        // Index structs and note which messages use them (for error contexts).
        for m in &doc.messages {
            let m = m.get_ref();
            self.users
                .entry(m.struct_name.clone())
                .or_default()
                .push(format!("{} {}", m.key.join("/"), m.name));
        }
        for (i, s) in doc.structs.iter().enumerate() {
            let name = s.get_ref().name.get_ref().clone();
            if let Some(p) = ident_problem(&name) {
                return Err(self.err(Some(s.get_ref().name.span()), "[[structs]]", p));
            }
            if self.index.insert(name.clone(), i).is_some() {
                return Err(self.err(
                    Some(s.get_ref().name.span()),
                    format!("struct `{name}`"),
                    "defined twice",
                ));
            }
        }
        self.defs = std::mem::take(&mut doc.structs);
        for m in &doc.messages {
            let mut name = m.get_ref().struct_name.clone();
            while self.trailing.insert(name.clone()) {
                let last = self
                    .index
                    .get(&name)
                    .and_then(|&i| self.defs[i].get_ref().fields.last())
                    .map(Spanned::get_ref);
                match last {
                    Some(f) if f.repeat.is_none() && f.count.is_none() => match &f.struct_name {
                        Some(inner) => name = inner.clone(),
                        None => break,
                    },
                    _ => break,
                }
            }
        }
        let names: Vec<String> = self
            .defs
            .iter()
            .map(|s| s.get_ref().name.get_ref().clone())
            .collect();
        for n in &names {
            self.build_struct(n, None)?;
        }

        // Dispatch.
        let mut headers: Vec<String> = Vec::new();
        let mut header_field = None;
        let mut key_names: Vec<String> = Vec::new();
        let mut enum_name = None;
        if let Some(d) = &doc.dispatch {
            let d = d.get_ref();
            let hspan = Some(d.header.span());
            headers = d.header.get_ref().names();
            if headers.is_empty() {
                return Err(self.err(hspan, "[dispatch]", "`header` names no struct"));
            }
            for h in &headers {
                let Some(hs) = self.built.get(h) else {
                    return Err(self.err(
                        hspan.clone(),
                        "[dispatch]",
                        format!("header struct `{h}` is not defined in [[structs]]"),
                    ));
                };
                if d.keys.is_empty() {
                    return Err(self.err(hspan.clone(), "[dispatch]", "`keys` is empty"));
                }
                for k in &d.keys {
                    if fixed_scalar(&hs.layout, k.get_ref()).is_none() {
                        return Err(self.err(
                            Some(k.span()),
                            "[dispatch]",
                            format!(
                                "key field `{}` is not a fixed-position scalar field of header `{h}`",
                                k.get_ref()
                            ),
                        ));
                    }
                }
            }
            key_names = d.keys.iter().map(|k| k.get_ref().clone()).collect();
            if let Some(e) = &d.enum_name {
                if let Some(p) = ident_problem(e.get_ref()) {
                    return Err(self.err(Some(e.span()), "[dispatch] enum", p));
                }
                enum_name = Some(e.get_ref().clone());
            }
        }

        // Messages.
        let mut messages: Vec<MessageSpec> = Vec::new();
        let mut key_fields: Vec<KeyField> = Vec::new();
        for m in &doc.messages {
            let span = Some(m.span());
            let m = m.get_ref();
            let ctx = format!("message {} `{}`", m.key.join("/"), m.name);
            if let Some(p) = ident_problem(&m.name) {
                return Err(self.err(span, ctx, p));
            }
            let Some(s) = self.built.get(&m.struct_name) else {
                return Err(self.err(
                    span,
                    ctx,
                    format!("struct `{}` is not defined in [[structs]]", m.struct_name),
                ));
            };
            if messages.iter().any(|o| o.name == m.name) {
                return Err(self.err(span, ctx, "another message has the same name"));
            }
            let when_pairs: Vec<(&String, &String)> = m.when.iter().collect();
            for o in messages.iter().filter(|o| o.key == m.key) {
                let same_when = o.when.len() == when_pairs.len()
                    && o.when.iter().zip(&when_pairs).all(|((f, v), (n, w))| {
                        f.path.rsplit('.').next() == Some(n.as_str()) && v == *w
                    });
                if same_when {
                    return Err(self.err(
                        span,
                        ctx,
                        format!(
                            "message `{}` has the same key{}; tell them apart with `when = {{ field = \"value\" }}`",
                            o.name,
                            if when_pairs.is_empty() { "" } else { " and `when`" }
                        ),
                    ));
                }
                if o.when.is_empty() {
                    return Err(self.err(
                        span,
                        ctx,
                        format!(
                            "unreachable: message `{}` has the same key and no `when`, so it is chosen first; declare this one before it",
                            o.name
                        ),
                    ));
                }
            }
            let mut when = Vec::new();
            if !headers.is_empty() {
                let hf = match s.fields.first() {
                    Some(FieldSpec {
                        name,
                        shape: FieldShape::Nested(n),
                        ..
                    }) if headers.contains(n) => name.clone(),
                    _ => {
                        let wanted = headers
                            .iter()
                            .map(|h| format!("{{ name = \"header\", struct = \"{h}\" }}"))
                            .collect::<Vec<_>>()
                            .join(" or ");
                        return Err(self.err(
                            span,
                            ctx,
                            format!("struct `{}` must start with the header: {wanted}", s.name),
                        ));
                    }
                };
                match &header_field {
                    None => header_field = Some(hf.clone()),
                    Some(prev) if *prev != hf => {
                        return Err(self.err(
                            span,
                            ctx,
                            format!(
                                "the header field is `{hf}` here but `{prev}` in other messages; use one name"
                            ),
                        ))
                    }
                    Some(_) => {}
                }
                // The key fields, at the same place in every message (and header flavour).
                let mine: Vec<KeyField> = key_names
                    .iter()
                    .filter_map(|k| key_field(&s.layout, &format!("{hf}.{k}")))
                    .collect();
                if key_fields.is_empty() {
                    key_fields = mine;
                } else if mine != key_fields {
                    return Err(self.err(
                        span,
                        ctx,
                        "its header's key fields are not at the same offsets (or widths, or types) as in the other messages' headers",
                    ));
                }
                if m.key.len() != key_fields.len() {
                    return Err(self.err(
                        span,
                        ctx,
                        format!(
                            "`key` has {} values but [dispatch] has {} key fields",
                            m.key.len(),
                            key_fields.len()
                        ),
                    ));
                }
                for (name, value) in &m.when {
                    if key_names.contains(name) {
                        return Err(self.err(
                            span,
                            ctx,
                            format!("`when` names the key field `{name}`: give its value in `key`"),
                        ));
                    }
                    let Some(f) = key_field(&s.layout, &format!("{hf}.{name}")) else {
                        return Err(self.err(
                            span,
                            ctx,
                            format!("`when` field `{name}` is not a fixed-position scalar field of the header"),
                        ));
                    };
                    when.push((f, value.clone()));
                }
                let selectors = key_fields
                    .iter()
                    .zip(&m.key)
                    .chain(when.iter().map(|(f, v)| (f, v)));
                for (f, k) in selectors {
                    if k.len() > f.len
                        || (f.right_aligned && !k.bytes().all(|b| b.is_ascii_digit()))
                    {
                        return Err(self.err(
                            span,
                            ctx,
                            format!(
                                "key value {k:?} does not fit key field `{}` ({} bytes{})",
                                f.path,
                                f.len,
                                if f.right_aligned { ", digits" } else { "" }
                            ),
                        ));
                    }
                }
            } else if !m.when.is_empty() {
                return Err(self.err(span, ctx, "`when` needs a [dispatch] header"));
            }
            messages.push(MessageSpec {
                key: m.key.clone(),
                when,
                name: m.name.clone(),
                label: m.label.clone(),
                struct_name: m.struct_name.clone(),
                layout: s.layout.clone(),
                response: m.response.clone(),
                doc: m.doc.clone(),
            });
        }
        for (m, def) in messages.iter().zip(&doc.messages) {
            if let Some(r) = &m.response {
                if !messages.iter().any(|o| &o.key == r) {
                    return Err(self.err(
                        Some(def.span()),
                        format!("message {} `{}`", m.key_str(), m.name),
                        format!("response {} is not a message of this family", r.join("/")),
                    ));
                }
            }
        }
        let framing = self.framing(doc.framing.take(), &messages)?;

        let mut family = Family {
            name: fam.name.clone(),
            label: fam.label.clone(),
            source: fam.source.clone(),
            charset: self.charset,
            framing,
            headers,
            header_field,
            key_fields,
            enum_name,
            structs: Vec::new(),
            messages,
            correlation: Vec::new(),
            sequence: None,
            date: None,
            response_code: None,
            inquiries: Vec::new(),
            notices: Vec::new(),
            heartbeat: None,
            session: SessionSpec::default(),
        };
        self.metadata(&doc, &mut family)?;
        family.structs = names.iter().filter_map(|n| self.built.remove(n)).collect();
        Ok(family)
    }

    fn framing(
        &self,
        def: Option<Spanned<schema::FramingDef>>,
        messages: &[MessageSpec],
    ) -> Result<Framing, SpecError> {
        let Some(def) = def else {
            return Ok(Framing {
                length: LengthPrefix::None,
                prefix: Vec::new(),
                max: None,
            });
        };
        let span = Some(def.span());
        let def = def.into_inner();
        let kind = def.length.as_ref().map_or("none", |s| s.get_ref().as_str());
        if kind != "field" {
            if let Some(f) = &def.field {
                return Err(self.err(
                    Some(f.span()),
                    "[framing]",
                    "`field` goes with `length = \"field\"`",
                ));
            }
        }
        let length = match kind {
            "ascii" | "binary" => {
                let Some(width) = def.width else {
                    return Err(self.err(
                        span,
                        "[framing]",
                        "`width` is required with a length prefix",
                    ));
                };
                let ok = if kind == "ascii" {
                    (1..=10).contains(&width)
                } else {
                    matches!(width, 1 | 2 | 4 | 8)
                };
                if !ok {
                    return Err(self.err(
                        span,
                        "[framing]",
                        format!("unsupported `width = {width}` for a {kind} length"),
                    ));
                }
                let includes_self = def.includes_self.unwrap_or(false);
                if kind == "ascii" {
                    LengthPrefix::Ascii {
                        width,
                        includes_self,
                    }
                } else {
                    LengthPrefix::Binary {
                        width,
                        includes_self,
                    }
                }
            }
            "field" => self.length_field(&def, span, messages)?,
            "fixed" => match def.size {
                Some(size) if size > 0 => LengthPrefix::Fixed { size },
                _ => return Err(self.err(span, "[framing]", "`length = \"fixed\"` needs `size`")),
            },
            "none" => LengthPrefix::None,
            other => {
                let s = def.length.as_ref().map(Spanned::span);
                return Err(self.err(
                    s,
                    "[framing]",
                    format!("unknown `length = {other:?}` (expected \"ascii\", \"binary\", \"field\", \"fixed\" or \"none\")"),
                ));
            }
        };
        Ok(Framing {
            length,
            prefix: def.prefix.unwrap_or_default().into_bytes(),
            max: def.max,
        })
    }

    /// `length = "field"`: the N field `field` (a message path) at the same place in every
    /// message holds the telegram's length.
    fn length_field(
        &self,
        def: &schema::FramingDef,
        span: Option<Range<usize>>,
        messages: &[MessageSpec],
    ) -> Result<LengthPrefix, SpecError> {
        let ctx = "[framing]";
        let Some(path) = &def.field else {
            return Err(self.err(
                span,
                ctx,
                "`length = \"field\"` needs `field`, the telegram field holding the length (e.g. \"header.length\")",
            ));
        };
        let fspan = Some(path.span());
        let includes_self = def.includes_self.unwrap_or(true);
        let mut found: Option<(usize, usize)> = None;
        for m in messages {
            let Some(f) = fixed_scalar(&m.layout, path.get_ref()) else {
                return Err(self.err(
                    fspan,
                    ctx,
                    format!(
                        "field `{}` is not a fixed-position field of message {} `{}`",
                        path.get_ref(),
                        m.key_str(),
                        m.name
                    ),
                ));
            };
            if f.kind != FieldKind::UInt || f.sign != Sign::None {
                return Err(self.err(
                    fspan,
                    ctx,
                    format!("field `{}` must be an unsigned N field", path.get_ref()),
                ));
            }
            let place = (f.offset.unwrap_or(0), f.len.unwrap_or(0));
            if found.is_some_and(|p| p != place) {
                return Err(self.err(
                    fspan,
                    ctx,
                    format!(
                        "field `{}` is not at the same offset and width in every message (see {} `{}`)",
                        path.get_ref(),
                        m.key_str(),
                        m.name
                    ),
                ));
            }
            found = Some(place);
            let counts_all = match f.auto_len {
                Some(AutoLen::Telegram) => Some(true),
                Some(AutoLen::Total) if f.depth == 0 => Some(true),
                Some(AutoLen::Rest) if f.depth == 0 => Some(false),
                _ => None,
            };
            if counts_all.is_some_and(|all| all != includes_self) {
                return Err(self.err(
                    fspan,
                    ctx,
                    format!(
                        "`includes_self = {includes_self}` contradicts field `{}`'s `auto_len`",
                        path.get_ref()
                    ),
                ));
            }
        }
        let Some((offset, width)) = found else {
            return Err(self.err(
                fspan,
                ctx,
                "`length = \"field\"` needs at least one message",
            ));
        };
        if def.width.is_some_and(|w| w != width) {
            return Err(self.err(
                span,
                ctx,
                format!(
                    "`width` disagrees with field `{}` ({width} bytes)",
                    path.get_ref()
                ),
            ));
        }
        Ok(LengthPrefix::Field {
            offset,
            width,
            includes_self,
        })
    }

    fn struct_context(&self, name: &str) -> String {
        match self.users.get(name) {
            Some(u) if !u.is_empty() => {
                let shown: Vec<&str> = u.iter().take(3).map(String::as_str).collect();
                let more = if u.len() > 3 { ", …" } else { "" };
                format!("struct `{name}` (message {}{more})", shown.join(", "))
            }
            _ => {
                let parents: Vec<String> = self
                    .defs
                    .iter()
                    .filter(|d| {
                        d.get_ref()
                            .fields
                            .iter()
                            .any(|f| f.get_ref().struct_name.as_deref() == Some(name))
                    })
                    .map(|d| format!("`{}`", d.get_ref().name.get_ref()))
                    .collect();
                if parents.is_empty() {
                    format!("struct `{name}`")
                } else {
                    let more = if parents.len() > 3 { ", …" } else { "" };
                    let shown = parents[..parents.len().min(3)].join(", ");
                    format!("struct `{name}` (used in {shown}{more})")
                }
            }
        }
    }

    /// Builds (once) the struct `name`; `from` is the referring field's span for errors.
    fn build_struct(
        &mut self,
        name: &str,
        from: Option<(Range<usize>, String)>,
    ) -> Result<(), SpecError> {
        if self.built.contains_key(name) {
            return Ok(());
        }
        let Some(&i) = self.index.get(name) else {
            let (span, ctx) = from.unwrap_or((0..0, String::new()));
            return Err(self.err(
                Some(span),
                ctx,
                format!("struct `{name}` is not defined in [[structs]]"),
            ));
        };
        if !self.visiting.insert(name.to_owned()) {
            let (span, ctx) = from.unwrap_or((0..0, String::new()));
            return Err(self.err(Some(span), ctx, format!("struct `{name}` contains itself")));
        }
        let sctx = self.struct_context(name);
        let (charset, label, doc, declared_len, len_span) = {
            let d = self.defs[i].get_ref();
            let cs = match &d.charset {
                Some(c) => self.parse_charset(c, &sctx)?,
                None => self.charset,
            };
            (
                cs,
                d.label.clone(),
                d.doc.clone(),
                d.len.as_ref().map(|l| *l.get_ref()),
                d.len.as_ref().map(Spanned::span),
            )
        };
        let n_fields = self.defs[i].get_ref().fields.len();
        let struct_tolerant = self.defs[i].get_ref().tolerant;
        let is_trailing = self.trailing.contains(name);
        let mut builder = Layout::builder(name);
        let mut fields: Vec<FieldSpec> = Vec::new();
        let mut offset = Some(0usize);
        let mut flattened = 0usize;
        for j in 0..n_fields {
            let (span, fctx, nested) = {
                let f = self.defs[i].get_ref().fields[j].get_ref();
                (
                    self.defs[i].get_ref().fields[j].span(),
                    format!("{sctx} field `{}`", f.name),
                    f.struct_name.clone(),
                )
            };
            if let Some(inner) = &nested {
                self.build_struct(inner, Some((span.clone(), fctx.clone())))?;
            }
            let f = self.defs[i].get_ref().fields[j].get_ref();
            let is_last = j + 1 == n_fields;
            let place = Place {
                is_last,
                tolerant: struct_tolerant || self.tolerant_numbers,
                filler: self.tolerant_filler && is_trailing && is_last,
            };
            let spec = self.field(f, charset, offset, &fields, place, &fctx, span.clone())?;
            offset = match (offset, spec.width) {
                (Some(o), Some(w)) => match o.checked_add(w).filter(|&e| e <= MAX_BYTES) {
                    Some(end) => Some(end),
                    None => {
                        return Err(self.err(
                            Some(span),
                            fctx,
                            format!("the struct would exceed {MAX_BYTES} bytes"),
                        ))
                    }
                },
                _ => None,
            };
            flattened += self.flattened_len(&spec);
            if flattened > MAX_FIELDS {
                return Err(self.err(
                    Some(span),
                    fctx,
                    format!("the struct would have more than {MAX_FIELDS} fields once repeats are expanded"),
                ));
            }
            self.place(&mut builder, &spec)?;
            fields.push(spec);
        }
        if fields.is_empty() {
            let span = self.defs[i].span();
            return Err(self.err(Some(span), sctx, "has no fields"));
        }
        let layout = builder.build();
        if let Some(want) = declared_len {
            match layout.len() {
                Some(total) if total == want => {}
                Some(total) => {
                    return Err(self.err(
                        len_span,
                        sctx,
                        format!("declared len = {want}, but its fields add up to {total} bytes"),
                    ))
                }
                None => {
                    return Err(self.err(
                        len_span,
                        sctx,
                        "`len` cannot be declared with variable-length fields",
                    ))
                }
            }
        }
        self.visiting.remove(name);
        self.built.insert(
            name.to_owned(),
            StructSpec {
                name: name.to_owned(),
                label,
                doc,
                charset,
                declared_len,
                fields,
                layout,
            },
        );
        Ok(())
    }

    /// How many layout entries a declared field expands to.
    fn flattened_len(&self, f: &FieldSpec) -> usize {
        let inner = |s: &String| self.built.get(s).map_or(1, |x| x.layout.fields().len());
        match &f.shape {
            FieldShape::Scalar(_) | FieldShape::Group { .. } => 1,
            FieldShape::Nested(s) => inner(s),
            FieldShape::Array { element, n } => match element {
                Element::Scalar(_) => *n,
                Element::Struct(s) => n.saturating_mul(inner(s)),
            },
        }
    }

    /// Appends a declared field to the builder exactly as the derive does.
    fn place(&self, b: &mut crate::layout::LayoutBuilder, f: &FieldSpec) -> Result<(), SpecError> {
        match &f.shape {
            FieldShape::Scalar(lay) => {
                b.field(lay.clone());
            }
            FieldShape::Nested(s) => {
                if let Some(inner) = self.built.get(s) {
                    b.nested(&f.name, None, &inner.layout);
                }
            }
            FieldShape::Array { element, n } => {
                for i in 0..*n {
                    match element {
                        Element::Scalar(lay) => {
                            let mut lay = lay.clone();
                            lay.path = format!("{}[{i}]", f.name);
                            lay.auto_len = None;
                            lay.lenient = false;
                            b.field(lay);
                        }
                        Element::Struct(s) => {
                            if let Some(inner) = self.built.get(s) {
                                b.nested(&f.name, Some(i), &inner.layout);
                            }
                        }
                    }
                }
            }
            FieldShape::Group {
                element,
                count,
                max,
            } => {
                let elem = match element {
                    Element::Scalar(lay) => {
                        let mut e = Layout::builder(&f.name);
                        e.field(lay.clone());
                        e.build()
                    }
                    Element::Struct(s) => match self.built.get(s) {
                        Some(inner) => inner.layout.clone(),
                        None => return Ok(()),
                    },
                };
                b.group(&f.name, f.label.as_deref(), count, *max, &elem);
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn field(
        &self,
        f: &FieldDef,
        charset: Charset,
        offset: Option<usize>,
        earlier: &[FieldSpec],
        place: Place,
        ctx: &str,
        span: Range<usize>,
    ) -> Result<FieldSpec, SpecError> {
        let is_last = place.is_last;
        let e = |msg: String| self.err(Some(span.clone()), ctx, msg);
        if let Some(p) = ident_problem(&f.name) {
            return Err(e(p));
        }
        if earlier.iter().any(|o| o.name == f.name) {
            return Err(e("another field of this struct has the same name".into()));
        }
        if let Some(declared) = f.offset {
            match offset {
                Some(computed) if computed != declared => {
                    return Err(e(format!(
                        "declared offset = {declared}, computed offset = {computed} (sum of the preceding fields' widths)"
                    )))
                }
                Some(_) => {}
                None => {
                    return Err(e(
                        "`offset` cannot be checked after a variable-length field (repeat group or rest)".into(),
                    ))
                }
            }
        }
        if f.repeat.is_some() && f.count.is_some() {
            return Err(e(
                "use either `repeat` (fixed) or `count` (repeat group), not both".into(),
            ));
        }
        if f.max.is_some() && f.count.is_none() {
            return Err(e("`max` belongs to a `count` repeat group".into()));
        }
        if f.rest && (f.repeat.is_some() || f.count.is_some() || f.struct_name.is_some()) {
            return Err(e("a `rest` field is a single AN or B scalar".into()));
        }
        if f.rest && !is_last {
            return Err(e(format!(
                "`rest` field `{}` must be the last field",
                f.name
            )));
        }
        if let Some(s) = &f.struct_name {
            if f.ty.is_some() || f.len.is_some() {
                return Err(e(format!(
                    "a `struct = \"{s}\"` field takes its type and length from the struct; remove `type`/`len`"
                )));
            }
            let scalar_only = [
                (f.mask, "mask"),
                (f.optional, "optional"),
                (f.text, "text"),
                (f.fullwidth, "fullwidth"),
                (f.truncate, "truncate"),
                (f.charset.is_some(), "charset"),
                (f.sign.is_some(), "sign"),
                (f.blank.is_some(), "blank"),
                (f.auto_len.is_some(), "auto_len"),
                (f.default.is_some(), "default"),
            ];
            if let Some((_, attr)) = scalar_only.iter().find(|(set, _)| *set) {
                return Err(e(format!(
                    "`{attr}` applies to scalar fields; set it on the fields of struct `{s}`"
                )));
            }
        }
        let element = match &f.struct_name {
            Some(s) => Element::Struct(s.clone()),
            None => Element::Scalar(self.scalar(f, charset, place, &e)?),
        };
        let elem_width = match &element {
            Element::Struct(s) => self.built.get(s).and_then(|x| x.layout.len()),
            Element::Scalar(lay) => lay.len,
        };
        let (shape, width) = if let Some(n) = f.repeat {
            if n == 0 {
                return Err(e("`repeat` must be at least 1".into()));
            }
            if matches!(&element, Element::Scalar(l) if l.auto_len.is_some()) {
                return Err(e("`auto_len` cannot be used on a repeated field".into()));
            }
            let width = match elem_width.map(|w| w.checked_mul(n)) {
                Some(Some(w)) if w <= MAX_BYTES => Some(w),
                Some(_) => return Err(e(format!("the array would exceed {MAX_BYTES} bytes"))),
                None => None,
            };
            (FieldShape::Array { element, n }, width)
        } else if let Some(count) = &f.count {
            let Some(max) = f.max else {
                return Err(e(
                    "a `count` repeat group needs `max = N` (the most elements accepted)".into(),
                ));
            };
            if max > MAX_FIELDS {
                return Err(e(format!("`max = {max}` is larger than {MAX_FIELDS}")));
            }
            let target = earlier.iter().find(|o| o.name == *count);
            match target.map(|t| &t.shape) {
                Some(FieldShape::Scalar(l))
                    if matches!(l.kind, FieldKind::UInt | FieldKind::Int) && !l.rest => {}
                Some(_) => {
                    return Err(e(format!(
                        "`count = \"{count}\"`: `{count}` must be an integer (N) field"
                    )))
                }
                None => {
                    return Err(e(format!(
                        "`count = \"{count}\"`: no earlier field named `{count}` in this struct"
                    )))
                }
            }
            if matches!(&element, Element::Scalar(l) if l.auto_len.is_some()) {
                return Err(e("`auto_len` cannot be used on a repeat group".into()));
            }
            (
                FieldShape::Group {
                    element,
                    count: count.clone(),
                    max,
                },
                None,
            )
        } else {
            match element {
                Element::Struct(s) => (FieldShape::Nested(s), elem_width),
                Element::Scalar(lay) => {
                    let w = lay.len;
                    (FieldShape::Scalar(lay), w)
                }
            }
        };
        if let Some(r) = &f.rust {
            self.check_rust(r, &shape, &e)?;
        }
        if let Some(d) = &f.default {
            check_default(d, &shape).map_err(e)?;
        }
        Ok(FieldSpec {
            name: f.name.clone(),
            label: f.label.clone(),
            note: f.note.clone(),
            offset,
            width,
            rust: f.rust.clone(),
            default: f.default.clone(),
            shape,
        })
    }

    fn check_rust(
        &self,
        r: &str,
        shape: &FieldShape,
        e: &dyn Fn(String) -> SpecError,
    ) -> Result<(), SpecError> {
        let lay = match shape {
            FieldShape::Scalar(l)
            | FieldShape::Array {
                element: Element::Scalar(l),
                ..
            }
            | FieldShape::Group {
                element: Element::Scalar(l),
                ..
            } => l,
            _ => return Err(e("`rust` applies to scalar fields".into())),
        };
        let ok: &[&str] = match lay.kind {
            FieldKind::UInt => &["u8", "u16", "u32", "u64", "u128", "usize"],
            FieldKind::Int => &["i8", "i16", "i32", "i64", "i128", "isize"],
            _ => &[],
        };
        if ok.contains(&r) {
            Ok(())
        } else if ok.is_empty() {
            Err(e("`rust` chooses the integer type of N fields only".into()))
        } else {
            Err(e(format!(
                "`rust = {r:?}`: expected one of {}",
                ok.join(", ")
            )))
        }
    }

    fn scalar(
        &self,
        f: &FieldDef,
        charset: Charset,
        place: Place,
        e: &dyn Fn(String) -> SpecError,
    ) -> Result<FieldLayout, SpecError> {
        let Some(ty) = &f.ty else {
            return Err(e(
                "needs `type` (\"AN\" text, \"N\" digits, \"B\" raw bytes) or `struct`".into(),
            ));
        };
        let sign = match f.sign.as_deref() {
            None => Sign::None,
            Some("leading") => Sign::Leading,
            Some("trailing") => Sign::Trailing,
            Some(other) => {
                return Err(e(format!(
                    "`sign = {other:?}`: expected \"leading\" or \"trailing\""
                )))
            }
        };
        let upper = ty.to_ascii_uppercase();
        let kind = match upper.as_str() {
            "AN" | "A" | "X" => FieldKind::Text,
            "N" | "9" if f.text => {
                if sign != Sign::None {
                    return Err(e("`text = true` N fields cannot have a `sign`".into()));
                }
                FieldKind::NumericText
            }
            "N" | "9" if sign != Sign::None && !f.unsigned => FieldKind::Int,
            "N" | "9" => FieldKind::UInt,
            "SN" | "S9" => {
                if sign == Sign::None {
                    return Err(e(format!(
                        "signed field needs `sign = \"leading\"` or `sign = \"trailing\"` (type {ty:?})"
                    )));
                }
                FieldKind::Int
            }
            "B" | "RAW" => FieldKind::Raw,
            _ => {
                return Err(e(format!(
                    "unknown `type = {ty:?}` (expected \"AN\"/\"X\" text, \"N\"/\"9\" digits, \"SN\"/\"S9\" signed digits, \"B\" raw bytes)"
                )))
            }
        };
        let numeric = matches!(
            kind,
            FieldKind::UInt | FieldKind::Int | FieldKind::NumericText
        );
        if f.text && !matches!(kind, FieldKind::NumericText) {
            return Err(e(
                "`text = true` applies to N fields (digits kept as text)".into()
            ));
        }
        if f.unsigned && !matches!(kind, FieldKind::UInt) {
            return Err(e(
                "`unsigned = true` applies to N fields with a `sign`".into()
            ));
        }
        if sign != Sign::None && !matches!(kind, FieldKind::UInt | FieldKind::Int) {
            return Err(e("`sign` applies to N fields".into()));
        }
        let blank_zero = match f.blank.as_deref() {
            None => false,
            Some("zero") if matches!(kind, FieldKind::UInt | FieldKind::Int) => true,
            Some("zero") => return Err(e("`blank = \"zero\"` applies to N number fields".into())),
            Some(other) => {
                return Err(e(format!("`blank = {other:?}`: only \"zero\" is accepted")))
            }
        };
        if (f.fullwidth || f.charset.is_some()) && kind != FieldKind::Text {
            return Err(e("`fullwidth` and `charset` apply to AN text fields".into()));
        }
        if f.fullwidth && charset == Charset::Ascii && f.charset.is_none() {
            return Err(e(
                "`fullwidth` needs a Korean charset (euc-kr or cp949)".into()
            ));
        }
        let charset = match &f.charset {
            Some(c) => Charset::parse(c).ok_or_else(|| {
                e(format!(
                    "unknown charset {c:?} (expected ascii, euc-kr or cp949)"
                ))
            })?,
            None => charset,
        };
        if f.fullwidth && charset == Charset::Ascii {
            return Err(e(
                "`fullwidth` needs a Korean charset (euc-kr or cp949)".into()
            ));
        }
        let auto_len = match f.auto_len.as_deref() {
            None => None,
            Some(_) if !matches!(kind, FieldKind::UInt | FieldKind::Int) => {
                return Err(e("`auto_len` needs an N number field".into()))
            }
            Some("total") => Some(AutoLen::Total),
            Some("rest") => Some(AutoLen::Rest),
            Some("telegram") => Some(AutoLen::Telegram),
            Some(other) => {
                return Err(e(format!(
                    "`auto_len = {other:?}`: expected \"total\", \"rest\" or \"telegram\""
                )))
            }
        };
        if f.lenient && auto_len.is_none() {
            return Err(e("`lenient` belongs to an `auto_len` field".into()));
        }
        let len = if f.rest {
            if !matches!(kind, FieldKind::Text | FieldKind::Raw) {
                return Err(e("a `rest` field must be AN or B".into()));
            }
            if f.optional {
                return Err(e(
                    "a `rest` field cannot be `optional` (it may be empty)".into()
                ));
            }
            if f.len.is_some() {
                return Err(e(
                    "a `rest` field takes whatever bytes remain; remove `len`".into(),
                ));
            }
            0
        } else {
            match f.len {
                Some(0) | None => return Err(e("needs `len` (width in bytes, at least 1)".into())),
                Some(n) if n > MAX_BYTES => {
                    return Err(e(format!("`len = {n}` is larger than {MAX_BYTES} bytes")))
                }
                Some(n) => n,
            }
        };
        if numeric && f.optional && blank_zero {
            return Err(e(
                "`optional` and `blank = \"zero\"` contradict each other".into()
            ));
        }
        if kind == FieldKind::Int && len < 2 {
            return Err(e(
                "a signed field needs at least 2 bytes (sign + digit)".into()
            ));
        }
        if f.tolerant && !numeric {
            return Err(e(
                "`tolerant` applies to N fields (spaces accepted in place of leading zeros)".into(),
            ));
        }
        if f.filler {
            if kind != FieldKind::Text || f.rest {
                return Err(e(
                    "`filler` applies to a fixed-width AN field (not `rest`)".into()
                ));
            }
            if !place.is_last {
                return Err(e(format!(
                    "`filler` field `{}` must be the last field (the telegram's trailing filler)",
                    f.name
                )));
            }
            if f.repeat.is_some() || f.count.is_some() {
                return Err(e(
                    "`filler` applies to a single field, not to a repeat".into()
                ));
            }
        }
        let digits = if sign == Sign::None {
            len
        } else {
            len.saturating_sub(1)
        };
        if matches!(kind, FieldKind::UInt | FieldKind::Int) && digits > MAX_DIGITS {
            return Err(e(format!(
                "an N number holds at most {MAX_DIGITS} digits (this one is {digits}); use `text = true` for longer digit strings"
            )));
        }
        let mut lay = FieldLayout::scalar(&f.name, kind.clone(), len);
        lay.tolerant = numeric && (f.tolerant || place.tolerant);
        lay.filler = f.filler
            || (place.filler
                && kind == FieldKind::Text
                && !f.rest
                && f.repeat.is_none()
                && f.count.is_none());
        lay.len = (!f.rest).then_some(len);
        lay.charset = (kind == FieldKind::Text).then_some(charset);
        lay.fullwidth = f.fullwidth;
        lay.truncate = f.truncate;
        lay.sign = sign;
        lay.blank_zero = blank_zero;
        lay.rest = f.rest;
        Ok(lay
            .with_label(f.label.as_deref())
            .with_mask(f.mask)
            .with_optional(f.optional)
            .with_auto_len(auto_len, f.lenient))
    }

    // -----------------------------------------------------------------------------------------
    // Metadata

    fn check_in_all(
        &self,
        family: &Family,
        path: &Spanned<String>,
        ctx: &str,
    ) -> Result<String, SpecError> {
        for m in &family.messages {
            self.check_in(
                &m.layout,
                path.get_ref(),
                Some(path.span()),
                ctx,
                &format!("message {} `{}`", m.key_str(), m.name),
            )?;
        }
        Ok(path.get_ref().clone())
    }

    fn check_in(
        &self,
        layout: &Layout,
        path: &str,
        span: Option<Range<usize>>,
        ctx: &str,
        owner: &str,
    ) -> Result<(), SpecError> {
        match layout.field(path) {
            Some(f) if !matches!(f.kind, FieldKind::Group { .. }) => Ok(()),
            _ => Err(self.err(
                span,
                ctx,
                format!("field `{path}` is not a scalar field of {owner}"),
            )),
        }
    }

    fn message_layout<'f>(
        &self,
        family: &'f Family,
        key: &[String],
        span: Option<Range<usize>>,
        ctx: &str,
    ) -> Result<&'f Layout, SpecError> {
        family
            .message_by_key(key)
            .map(|m| &m.layout)
            .ok_or_else(|| {
                self.err(
                    span,
                    ctx,
                    format!("{} is not a message of this family", key.join("/")),
                )
            })
    }

    /// An optional date/time pattern for the optional `field` it describes: checked against
    /// that field's width in `layout` (`needs` names the field key in errors).
    fn pattern(
        &self,
        layout: Option<&Layout>,
        pattern: Option<&Spanned<String>>,
        field: Option<&str>,
        ctx: &str,
        needs: &str,
    ) -> Result<Option<String>, SpecError> {
        let Some(pattern) = pattern else {
            return Ok(None);
        };
        let Some(field) = field else {
            return Err(self.err(
                Some(pattern.span()),
                ctx,
                format!("a pattern needs `{needs}`, the field it describes"),
            ));
        };
        let width = layout.and_then(|l| l.field(field)).and_then(|f| f.len);
        check_date_pattern(pattern.get_ref(), width.map(|w| (field, w)))
            .map(Some)
            .map_err(|msg| self.err(Some(pattern.span()), ctx, msg))
    }

    fn metadata(&mut self, doc: &Doc, family: &mut Family) -> Result<(), SpecError> {
        if let Some(c) = &doc.correlation {
            let mut fields = Vec::new();
            for p in &c.get_ref().fields {
                fields.push(self.check_in_all(family, p, "[correlation]")?);
            }
            family.correlation = fields;
        }
        if let Some(s) = &doc.sequence {
            let span = Some(s.span());
            let s = s.get_ref();
            let field = self.check_in_all(family, &s.field, "[sequence]")?;
            if s.min > s.max {
                return Err(self.err(span, "[sequence]", format!("min {} > max {}", s.min, s.max)));
            }
            if let Some(width) = family
                .messages
                .first()
                .and_then(|m| m.layout.field(&field))
                .and_then(|f| f.len)
            {
                if s.max.to_string().len() > width {
                    return Err(self.err(
                        span,
                        "[sequence]",
                        format!(
                            "max {} does not fit the {width}-digit field `{field}`",
                            s.max
                        ),
                    ));
                }
            }
            let mut unique_with = Vec::new();
            for p in &s.unique_with {
                unique_with.push(self.check_in_all(family, p, "[sequence] unique_with")?);
            }
            family.sequence = Some(SequenceSpec {
                field,
                min: s.min,
                max: s.max,
                reset: s.reset.clone(),
                unique_with,
            });
        }
        if let Some(d) = &doc.date {
            let d = d.get_ref();
            let field = self.check_in_all(family, &d.field, "[date]")?;
            let time_field = match &d.time_field {
                Some(t) => Some(self.check_in_all(family, t, "[date] time_field")?),
                None => None,
            };
            let first = family.messages.first().map(|m| &m.layout);
            let format = self.pattern(
                first,
                d.format.as_ref(),
                Some(&field),
                "[date] format",
                "field",
            )?;
            let time_format = self.pattern(
                first,
                d.time_format.as_ref(),
                time_field.as_deref(),
                "[date] time_format",
                "time_field",
            )?;
            family.date = Some(DateSpec {
                field,
                format,
                time_field,
                time_format,
            });
        }
        if let Some(r) = &doc.response_code {
            let span = Some(r.span());
            let r = r.get_ref();
            let field = self.check_in_all(family, &r.field, "[response_code]")?;
            if let Some(c) = r.success.iter().find(|c| r.unknown.contains(c)) {
                return Err(self.err(
                    span,
                    "[response_code]",
                    format!("code {c:?} is both success and unknown"),
                ));
            }
            let lists = [
                ("success", &r.success),
                ("unknown", &r.unknown),
                ("in_progress", &r.in_progress),
                ("declined", &r.declined),
            ];
            for (i, (name, list)) in lists.iter().enumerate() {
                for (other, olist) in &lists[i + 1..] {
                    if let Some(c) = list.iter().find(|c| olist.contains(c)) {
                        return Err(self.err(
                            span.clone(),
                            "[response_code]",
                            format!("code {c:?} is listed in both `{name}` and `{other}`"),
                        ));
                    }
                }
            }
            family.response_code = Some(ResponseCodeSpec {
                field,
                success: r.success.clone(),
                unknown: r.unknown.clone(),
                in_progress: r.in_progress.clone(),
                declined: r.declined.clone(),
                meanings: r
                    .meanings
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            });
        }
        for q in &doc.inquiry {
            let span = Some(q.span());
            let q = q.get_ref();
            let ctx = format!("[[inquiry]] {}", q.key.join("/"));
            let inq = self.message_layout(family, &q.key, span.clone(), &ctx)?;
            self.check_in(
                inq,
                q.key_field.get_ref(),
                Some(q.key_field.span()),
                &ctx,
                &format!("inquiry {}", q.key.join("/")),
            )?;
            for to in q.copy.keys() {
                self.check_in(
                    inq,
                    to,
                    span.clone(),
                    &ctx,
                    &format!("inquiry {}", q.key.join("/")),
                )?;
            }
            if !q.copy.contains_key(q.key_field.get_ref()) {
                return Err(self.err(
                    Some(q.key_field.span()),
                    &ctx,
                    format!(
                        "`copy` must say where `{}` comes from, e.g. {{ {} = \"header.msg_no\" }}",
                        q.key_field.get_ref(),
                        q.key_field.get_ref()
                    ),
                ));
            }
            if q.for_keys.is_empty() {
                return Err(self.err(span, &ctx, "`for` lists no messages"));
            }
            for k in &q.for_keys {
                self.message_layout(family, k, span.clone(), &ctx)?;
                // A key shared by variants (`when`): the field must be in one of them (the
                // gateway reads it from the variant it sends).
                let variants: Vec<&Layout> = family
                    .messages()
                    .iter()
                    .filter(|m| m.key == *k)
                    .map(|m| &m.layout)
                    .collect();
                for from in q.copy.values() {
                    let found = variants
                        .iter()
                        .any(|l| self.check_in(l, from, None, &ctx, "").is_ok());
                    if !found {
                        return Err(self.err(
                            span.clone(),
                            &ctx,
                            format!(
                                "field `{from}` is not a scalar field of message {}",
                                k.join("/")
                            ),
                        ));
                    }
                }
            }
            let result_field = match &q.result_field {
                Some(rf) => {
                    let resp = family.response_to(&q.key).map(|m| &m.layout).unwrap_or(inq);
                    self.check_in(
                        resp,
                        rf.get_ref(),
                        Some(rf.span()),
                        &ctx,
                        "the inquiry response",
                    )?;
                    Some(rf.get_ref().clone())
                }
                None => None,
            };
            family.inquiries.push(InquirySpec {
                for_keys: q.for_keys.clone(),
                key: q.key.clone(),
                key_field: q.key_field.get_ref().clone(),
                copy: q.copy.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                delay_secs: q.delay_secs,
                interval_secs: q.interval_secs,
                result_field,
                not_found: q.not_found.clone(),
            });
        }
        for n in &doc.notices {
            let span = Some(n.span());
            let n = n.get_ref();
            let ctx = format!("[[notices]] {}", n.key.join("/"));
            let rule = AckDef {
                key: &n.key,
                when: &n.when,
                ack: &n.ack,
                copy: n.copy.as_ref(),
                set: &n.set,
            };
            let mut spec = self.ack_rule(family, &rule, span.clone(), &ctx)?;
            let notice = self.message_layout(family, &n.key, span.clone(), &ctx)?;
            for p in &n.dedup {
                self.check_in(notice, p, span.clone(), &ctx, "the notice")?;
            }
            spec.dedup = n.dedup.clone();
            spec.after = n.after.clone();
            family.notices.push(spec);
        }
        if let Some(h) = &doc.heartbeat {
            let span = Some(h.span());
            let h = h.get_ref();
            let ctx = "[heartbeat]";
            let name = h.struct_name.get_ref();
            let Some(s) = self.built.get(name) else {
                return Err(self.err(
                    Some(h.struct_name.span()),
                    ctx,
                    format!("struct `{name}` is not defined in [[structs]]"),
                ));
            };
            let layout = s.layout.clone();
            let owner = format!("struct `{name}`");
            for p in h
                .request
                .keys()
                .chain(h.response.keys())
                .chain(&h.echo)
                .chain(&h.stamp_field)
            {
                self.check_in(&layout, p, span.clone(), ctx, &owner)?;
            }
            if h.request.is_empty() || h.response.is_empty() {
                return Err(self.err(
                    span,
                    ctx,
                    "`request` and `response` must each name at least one field value",
                ));
            }
            let stamp_format = self.pattern(
                Some(&layout),
                h.stamp_format.as_ref(),
                h.stamp_field.as_deref(),
                "[heartbeat] stamp_format",
                "stamp_field",
            )?;
            family.heartbeat = Some(HeartbeatSpec {
                struct_name: name.clone(),
                layout,
                interval_secs: h.interval_secs,
                request: h
                    .request
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                response: h
                    .response
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                echo: h.echo.clone(),
                stamp_field: h.stamp_field.clone(),
                stamp_format,
            });
        }
        if let Some(sd) = &doc.session {
            family.session = self.session(family, sd)?;
        }
        Ok(())
    }

    /// An acknowledged inbound telegram (a notice, a session command): its key, `when`, ack
    /// key and how the ack is filled, checked against the layouts.
    fn ack_rule(
        &self,
        family: &Family,
        rule: &AckDef<'_>,
        span: Option<Range<usize>>,
        ctx: &str,
    ) -> Result<NoticeSpec, SpecError> {
        let notice = self.message_layout(family, rule.key, span.clone(), ctx)?;
        let ack = self.message_layout(family, rule.ack, span.clone(), ctx)?;
        let (copy_all, copy) = match rule.copy {
            None => (false, Vec::new()),
            Some(CopyDef::All(s)) if s == "all" => (true, Vec::new()),
            Some(CopyDef::All(s)) => {
                return Err(self.err(
                    span,
                    ctx,
                    format!("`copy = {s:?}`: expected \"all\" or a list of fields"),
                ))
            }
            Some(CopyDef::Fields(v)) => (false, v.clone()),
        };
        if copy_all && notice != ack && notice.fields() != ack.fields() {
            return Err(self.err(
                span,
                ctx,
                "`copy = \"all\"` needs the notice and the ack to share one layout",
            ));
        }
        let (key_str, ack_str) = (rule.key.join("/"), rule.ack.join("/"));
        for p in &copy {
            self.check_in(notice, p, span.clone(), ctx, &key_str)?;
            self.check_in(ack, p, span.clone(), ctx, &format!("ack {ack_str}"))?;
        }
        for p in rule.set.keys() {
            self.check_in(ack, p, span.clone(), ctx, &format!("ack {ack_str}"))?;
        }
        let mut when = Vec::new();
        for (name, value) in rule.when {
            let path = match family.header_field() {
                Some(hf) => format!("{hf}.{name}"),
                None => name.clone(),
            };
            let Some(f) = key_field(notice, &path) else {
                return Err(self.err(
                    span,
                    ctx,
                    format!(
                        "`when` field `{name}` is not a fixed-position scalar field of the header"
                    ),
                ));
            };
            when.push((f, value.clone()));
        }
        Ok(NoticeSpec {
            key: rule.key.to_vec(),
            when,
            dedup: Vec::new(),
            ack: rule.ack.to_vec(),
            copy_all,
            copy,
            set: rule
                .set
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            after: None,
        })
    }
}

/// The parts of `[[notices]]` and `[[session.commands]]` that say how an inbound telegram
/// is acknowledged.
struct AckDef<'d> {
    key: &'d [String],
    when: &'d std::collections::BTreeMap<String, String>,
    ack: &'d [String],
    copy: Option<&'d CopyDef>,
    set: &'d std::collections::BTreeMap<String, String>,
}
