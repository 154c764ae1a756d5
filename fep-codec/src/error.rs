//! Decode and encode errors that name the field path and the absolute byte offset.
//!
//! Errors are built only on the failure path, so the happy path never allocates for them.
//! Nested structs prepend their segment to the path as the error travels outwards
//! ([`DecodeError::within`]), which is how `"body.checks[3].kind"` is assembled.

use std::fmt;

use crate::charset::Charset;

/// Most bytes of the offending field shown in an error's excerpt.
const EXCERPT_MAX: usize = 32;

/// Why a telegram could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// A numeric (N) field holds a byte that is not an ASCII digit.
    #[error("bad digit {byte:#04x} in numeric field")]
    BadDigit {
        /// The offending byte.
        byte: u8,
    },
    /// A signed field's sign byte is neither `+` nor `-`.
    #[error("bad sign byte {byte:#04x} (expected '+' or '-')")]
    BadSign {
        /// The offending byte.
        byte: u8,
    },
    /// A numeric field is all spaces and its type does not allow blanks.
    #[error("numeric field is blank (use Option<_> or blank = \"zero\" to allow it)")]
    Blank,
    /// The digits do not fit the Rust type.
    #[error("value overflows {ty}")]
    Overflow {
        /// The Rust type that could not hold the value.
        ty: &'static str,
    },
    /// The bytes are not a valid sequence in the field's charset.
    #[error("malformed {charset} byte sequence")]
    Malformed {
        /// The field's charset.
        charset: Charset,
    },
    /// A control byte (below 0x20, or 0x7F) in a text field.
    #[error("control byte {byte:#04x} in text field")]
    ControlByte {
        /// The offending byte.
        byte: u8,
    },
    /// The input ended before the field, or bytes were left over after the telegram.
    #[error("wrong length: expected {expected} bytes, got {actual}")]
    WrongLength {
        /// Bytes the layout needs.
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// A repeat group's count field exceeds the group's `max`.
    #[error("count {count} exceeds max {max}")]
    CountOverMax {
        /// The decoded count.
        count: u128,
        /// The declared maximum.
        max: usize,
    },
    /// A length field (`auto_len`) disagrees with the actual length.
    #[error("length field says {declared}, actual length is {actual}")]
    LengthMismatch {
        /// The value in the telegram.
        declared: u128,
        /// The measured length.
        actual: usize,
    },
    /// A dispatch key selects no known message type.
    #[error("unknown message key {key:?}")]
    UnknownKey {
        /// The key fields' raw text, joined with `/`.
        key: String,
    },
}

/// A telegram could not be decoded: names the field path and the absolute byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    kind: DecodeErrorKind,
    path: String,
    offset: usize,
    excerpt: Vec<u8>,
}

impl DecodeError {
    /// Creates an error for the field `path` at absolute `offset`; `raw` is the field's bytes
    /// (or any bytes around the fault), kept as a short excerpt for the message.
    pub fn new(kind: DecodeErrorKind, path: &str, offset: usize, raw: &[u8]) -> Self {
        Self {
            kind,
            path: path.to_owned(),
            offset,
            excerpt: raw[..raw.len().min(EXCERPT_MAX)].to_vec(),
        }
    }

    /// Bytes left over after a whole telegram was decoded (the slice must be consumed).
    pub fn trailing(bytes: &[u8], consumed: usize) -> Self {
        let at = consumed.min(bytes.len());
        Self::new(
            DecodeErrorKind::WrongLength {
                expected: consumed,
                actual: bytes.len(),
            },
            "",
            at,
            &bytes[at..],
        )
    }

    /// Why decoding failed.
    pub fn kind(&self) -> &DecodeErrorKind {
        &self.kind
    }

    /// Dotted field path, e.g. `"checks[2].no"`; empty for the whole telegram.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Absolute byte offset (from the start of the decoded slice) of the offending byte.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The raw bytes shown in the message (the offending field's, truncated).
    pub fn excerpt(&self) -> &[u8] {
        &self.excerpt
    }

    /// Prefixes the path with a parent field (and element index), as the error leaves a nested struct.
    pub fn within(mut self, parent: &str, index: Option<usize>) -> Self {
        self.path = join_path(parent, index, &self.path);
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "<telegram>"
        } else {
            &self.path
        };
        write!(f, "field `{path}` at offset {}: {}", self.offset, self.kind)?;
        if !self.excerpt.is_empty() {
            write!(f, "; bytes: {}", Excerpt(&self.excerpt))?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

/// Why a value could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeErrorKind {
    /// The value needs more bytes than the field has.
    #[error("value needs {actual} bytes, field width is {width}")]
    TooLong {
        /// The field's width in bytes.
        width: usize,
        /// Bytes the value needs in the field's charset.
        actual: usize,
    },
    /// A character has no mapping in the field's charset.
    #[error("character {ch:?} (U+{code:04X}) is not representable in {charset}", code = *ch as u32)]
    Unmappable {
        /// The character.
        ch: char,
        /// The field's charset.
        charset: Charset,
    },
    /// A numeric text field holds something other than ASCII digits.
    #[error("numeric text {value:?} holds a non-digit")]
    NotDigits {
        /// The offending value.
        value: String,
    },
    /// A negative value for a field without a sign position.
    #[error("negative value {value} for a field without a sign")]
    Negative {
        /// The value.
        value: i128,
    },
    /// A repeat group's length disagrees with its count field.
    #[error("repeat group has {actual} elements but its count field says {count}")]
    CountMismatch {
        /// The count field's value.
        count: u128,
        /// Elements present.
        actual: usize,
    },
    /// A repeat group has more elements than its `max`.
    #[error("repeat group has {actual} elements, max is {max}")]
    CountOverMax {
        /// Elements present.
        actual: usize,
        /// The declared maximum.
        max: usize,
    },
    /// The value cannot be represented by the field's kind at all.
    #[error("unsupported value: {reason}")]
    Unsupported {
        /// What was wrong.
        reason: String,
    },
}

/// A value could not be encoded: names the field path and the offset it would have had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    kind: EncodeErrorKind,
    path: String,
    offset: Option<usize>,
}

impl EncodeError {
    /// Creates an error for the field `path`, at `offset` from the start of the telegram if known.
    pub fn new(kind: EncodeErrorKind, path: &str, offset: Option<usize>) -> Self {
        Self {
            kind,
            path: path.to_owned(),
            offset,
        }
    }

    /// Why encoding failed.
    pub fn kind(&self) -> &EncodeErrorKind {
        &self.kind
    }

    /// Dotted field path, e.g. `"body.memo"`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Offset of the field from the start of the telegram being encoded.
    pub fn offset(&self) -> Option<usize> {
        self.offset
    }

    /// Prefixes the path with a parent field (and element index).
    pub fn within(mut self, parent: &str, index: Option<usize>) -> Self {
        self.path = join_path(parent, index, &self.path);
        self
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field `{}`", self.path)?;
        if let Some(offset) = self.offset {
            write!(f, " at offset {offset}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for EncodeError {}

fn join_path(parent: &str, index: Option<usize>, child: &str) -> String {
    let mut out = String::with_capacity(parent.len() + child.len() + 8);
    out.push_str(parent);
    if let Some(i) = index {
        out.push('[');
        out.push_str(&i.to_string());
        out.push(']');
    }
    if !child.is_empty() {
        if !child.starts_with('[') {
            out.push('.');
        }
        out.push_str(child);
    }
    out
}

/// Renders bytes as hex followed by a printable-ASCII view: `32 30 41 |20A|`.
pub(crate) struct Excerpt<'a>(pub(crate) &'a [u8]);

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02x}")?;
        }
        f.write_str(" |")?;
        for &b in self.0 {
            let c = if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            };
            write!(f, "{c}")?;
        }
        f.write_str("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_is_built_outwards() {
        let e = DecodeError::new(DecodeErrorKind::Blank, "kind", 42, b"  ")
            .within("checks", Some(3))
            .within("body", None);
        assert_eq!(e.path(), "body.checks[3].kind");
        assert_eq!(e.offset(), 42);
    }

    #[test]
    fn display_shows_path_offset_reason_and_bytes() {
        let e = DecodeError::new(
            DecodeErrorKind::BadDigit { byte: b'A' },
            "amount",
            131,
            b"00A1",
        );
        let s = e.to_string();
        assert!(s.contains("`amount`"), "{s}");
        assert!(s.contains("offset 131"), "{s}");
        assert!(s.contains("bad digit 0x41"), "{s}");
        assert!(s.contains("30 30 41 31 |00A1|"), "{s}");
    }

    #[test]
    fn excerpt_is_bounded() {
        let raw = [b'x'; 100];
        let e = DecodeError::new(DecodeErrorKind::Blank, "f", 0, &raw);
        assert_eq!(e.excerpt().len(), EXCERPT_MAX);
    }

    #[test]
    fn encode_error_names_field_width_and_length() {
        let e = EncodeError::new(
            EncodeErrorKind::TooLong {
                width: 4,
                actual: 6,
            },
            "memo",
            Some(10),
        )
        .within("body", None);
        assert_eq!(e.path(), "body.memo");
        let s = e.to_string();
        assert!(s.contains("`body.memo` at offset 10"), "{s}");
        assert!(s.contains("needs 6 bytes, field width is 4"), "{s}");
    }
}
