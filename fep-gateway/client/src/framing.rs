//! Per-institution TCP framing: splitting a byte stream into telegrams.
//!
//! Institutions frame their fixed-length telegrams in a handful of ways (ASCII decimal
//! length headers, binary big-endian lengths, a fixed TR-code prefix, or no header at all).
//! No crate on crates.io provides the ASCII decimal length codec, so [`FrameCodec`] is
//! written here on top of tokio-util's `Decoder`/`Encoder`.
//!
//! Wire layout of one frame: `prefix | length header | payload`. The length value counts the
//! payload only, or the payload plus the length header itself when `includes_self` is set;
//! the prefix is never counted. Decoded items are the payload alone.
//!
//! Some institutions put the length *inside* the telegram (KIBNET's and 신한's 공통부 start
//! with LENGTH N(4) counting the whole telegram): [`Framing::Field`] reads it there and keeps
//! those bytes in the frame, so the decoded item is the whole telegram, LENGTH included.
//!
//! ```
//! use bytes::BytesMut;
//! use fep_client::framing::{FrameCodec, Framing};
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = FrameCodec::new(Framing::hecto(), 4096).unwrap();
//! let mut wire = BytesMut::new();
//! codec.encode(&b"HDRREQPOLL1123094501"[..], &mut wire).unwrap();
//! assert_eq!(&wire[..], b"0020HDRREQPOLL1123094501");
//! let frame = codec.decode(&mut wire).unwrap().unwrap();
//! assert_eq!(&frame[..], b"HDRREQPOLL1123094501");
//! ```

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};
#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};
use tokio_util::codec::{Decoder, Encoder};

/// How an institution delimits telegrams on a TCP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)
)]
pub enum Framing {
    /// ASCII decimal length of `digits` digits, e.g. Hecto's `"0300"` + 300 bytes.
    Ascii {
        /// Number of decimal digits in the header (1..=9).
        digits: u8,
        /// Whether the length value counts the header's own digits.
        #[cfg_attr(feature = "serde", serde(default))]
        includes_self: bool,
        /// Fixed bytes (ASCII text) sent before the length header, verified on decode.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        prefix: Option<String>,
    },
    /// Binary big-endian unsigned length of 2 or 4 bytes.
    Binary {
        /// Width of the length field in bytes: 2 or 4.
        width: u8,
        /// Whether the length value counts the header's own bytes.
        #[cfg_attr(feature = "serde", serde(default))]
        includes_self: bool,
        /// Fixed bytes (ASCII text) sent before the length header, verified on decode.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        prefix: Option<String>,
    },
    /// The length is a field of the telegram itself: `digits` ASCII digits at `offset` bytes
    /// into the payload (after the prefix, if any), e.g. KIBNET's LENGTH N(4) at 0. Nothing is
    /// added or stripped: the payload is the whole telegram, its length field included.
    Field {
        /// Offset of the digits inside the payload.
        offset: usize,
        /// Number of decimal digits (1..=9).
        digits: u8,
        /// The value counts the whole payload (true, the default), or only the bytes after
        /// the length field (false).
        #[cfg_attr(feature = "serde", serde(default = "default_true"))]
        includes_self: bool,
        /// Fixed bytes (ASCII text) sent before each frame, verified on decode.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        prefix: Option<String>,
    },
    /// Every frame is exactly `size` payload bytes; there is no length header.
    Fixed {
        /// Payload size in bytes.
        size: usize,
        /// Fixed bytes (ASCII text) sent before each frame, verified on decode.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        prefix: Option<String>,
    },
}

#[cfg(feature = "serde")]
fn default_true() -> bool {
    true
}

impl Framing {
    /// KIBNET (EFMS): the telegram's own LENGTH, 4 ASCII digits at offset 0 counting the whole
    /// telegram; no prefix.
    pub fn kibnet() -> Self {
        Framing::Field {
            offset: 0,
            digits: 4,
            includes_self: true,
            prefix: None,
        }
    }

    /// Hecto real-time firm banking: 4 ASCII digits excluding themselves.
    pub fn hecto() -> Self {
        Framing::Ascii {
            digits: 4,
            includes_self: false,
            prefix: None,
        }
    }

    /// The configured prefix bytes (empty when there is none).
    pub fn prefix(&self) -> &[u8] {
        let p = match self {
            Framing::Ascii { prefix, .. }
            | Framing::Binary { prefix, .. }
            | Framing::Field { prefix, .. }
            | Framing::Fixed { prefix, .. } => prefix,
        };
        p.as_deref().map(str::as_bytes).unwrap_or(&[])
    }

    /// Width of the length header in bytes (0 for fixed-size frames and for a length field
    /// inside the payload).
    pub fn length_width(&self) -> usize {
        match self {
            Framing::Ascii { digits, .. } => usize::from(*digits),
            Framing::Binary { width, .. } => usize::from(*width),
            Framing::Field { .. } | Framing::Fixed { .. } => 0,
        }
    }

    /// Bytes before the payload: prefix plus length header.
    pub fn header_len(&self) -> usize {
        self.prefix().len() + self.length_width()
    }

    /// Largest payload the length header can express.
    pub fn max_expressible(&self) -> u64 {
        let (raw_max, includes_self) = match self {
            Framing::Ascii {
                digits,
                includes_self,
                ..
            } => (10u64.pow(u32::from(*digits).min(19)) - 1, *includes_self),
            Framing::Binary {
                width,
                includes_self,
                ..
            } => (
                // Unvalidated widths ≥ 8 must not overflow the shift.
                1u64.checked_shl(8 * u32::from(*width))
                    .map_or(u64::MAX, |v| v - 1),
                *includes_self,
            ),
            Framing::Field {
                offset,
                digits,
                includes_self,
                ..
            } => {
                let raw = 10u64.pow(u32::from(*digits).min(19)) - 1;
                return if *includes_self {
                    raw
                } else {
                    raw.saturating_add(*offset as u64 + u64::from(*digits))
                };
            }
            Framing::Fixed { size, .. } => return *size as u64,
        };
        if includes_self {
            raw_max.saturating_sub(self.length_width() as u64)
        } else {
            raw_max
        }
    }

    /// Checks the framing parameters themselves (not a frame).
    pub fn validate(&self) -> Result<(), FramingConfigError> {
        match self {
            Framing::Ascii { digits, .. } | Framing::Field { digits, .. }
                if !(1..=9).contains(digits) =>
            {
                return Err(FramingConfigError::AsciiDigits(*digits));
            }
            Framing::Binary { width, .. } if *width != 2 && *width != 4 => {
                return Err(FramingConfigError::BinaryWidth(*width));
            }
            Framing::Fixed { size: 0, .. } => return Err(FramingConfigError::FixedZero),
            _ => {}
        }
        if !self.prefix().iter().all(|b| (0x20..=0x7e).contains(b)) {
            return Err(FramingConfigError::PrefixNotAscii);
        }
        Ok(())
    }
}

/// Invalid framing parameters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingConfigError {
    /// ASCII length digits out of range.
    #[error("ascii framing: digits must be 1..=9, got {0}")]
    AsciiDigits(u8),
    /// Binary length width other than 2 or 4.
    #[error("binary framing: width must be 2 or 4, got {0}")]
    BinaryWidth(u8),
    /// A fixed frame size of zero.
    #[error("fixed framing: size must be positive")]
    FixedZero,
    /// Prefix contains bytes outside printable ASCII.
    #[error("framing prefix must be printable ASCII (0x20..=0x7E)")]
    PrefixNotAscii,
    /// Maximum frame size of zero.
    #[error("max_frame must be positive")]
    MaxFrameZero,
    /// A fixed-size frame larger than the configured maximum.
    #[error("fixed framing: size {size} exceeds max_frame {max}")]
    FixedAboveMax {
        /// Configured fixed size.
        size: usize,
        /// Configured maximum.
        max: usize,
    },
}

/// Renders raw header bytes as hex plus printable ASCII for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawBytes(pub Vec<u8>);

impl fmt::Display for RawBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, "] \"")?;
        for &b in &self.0 {
            if (0x20..=0x7e).contains(&b) {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        write!(f, "\"")
    }
}

/// Errors while framing or deframing.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Socket I/O failure.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The ASCII length header contains a non-digit byte.
    #[error("bad length header: non-digit byte in ascii length {0}")]
    BadLengthDigits(RawBytes),
    /// The bytes before the length header are not the configured prefix.
    #[error("bad frame prefix: expected {expected}, got {got}")]
    PrefixMismatch {
        /// The configured prefix.
        expected: RawBytes,
        /// What arrived (possibly truncated to what has arrived so far).
        got: RawBytes,
    },
    /// The header claims a payload larger than the configured maximum.
    #[error("frame too large: header {header} claims {len} payload bytes, max_frame is {max}")]
    TooLarge {
        /// The raw header bytes.
        header: RawBytes,
        /// Claimed payload length.
        len: u64,
        /// Configured maximum.
        max: usize,
    },
    /// A length field inside the telegram declaring fewer bytes than it takes to reach the end
    /// of the field itself.
    #[error("bad length field {field}: value {value} ends before the field's last byte ({end})")]
    LengthBelowField {
        /// The raw digits.
        field: RawBytes,
        /// Parsed value.
        value: u64,
        /// Bytes up to the end of the field.
        end: usize,
    },
    /// An outgoing telegram whose own length field does not hold its length.
    #[error("cannot frame {len} bytes: its length field holds {field}")]
    EncodeLengthField {
        /// Payload length.
        len: usize,
        /// The raw digits at the field's offset (empty when the payload is shorter).
        field: RawBytes,
    },
    /// An `includes_self` length smaller than the header itself.
    #[error("bad length header {header}: value {value} is smaller than the {width}-byte header it includes")]
    LengthBelowHeader {
        /// The raw header bytes.
        header: RawBytes,
        /// Parsed value.
        value: u64,
        /// Header width.
        width: usize,
    },
    /// Outgoing payload too large for max_frame or the header width.
    #[error("cannot frame {len} bytes: limit is {limit}")]
    EncodeTooLarge {
        /// Payload length.
        len: usize,
        /// Effective limit.
        limit: u64,
    },
    /// Outgoing payload of the wrong size for fixed framing.
    #[error("fixed framing expects {expected} bytes, got {len}")]
    EncodeWrongSize {
        /// Configured size.
        expected: usize,
        /// Payload length.
        len: usize,
    },
    /// The stream ended in the middle of a frame.
    #[error("connection closed mid-frame ({buffered} bytes buffered)")]
    Truncated {
        /// Bytes left in the buffer.
        buffered: usize,
    },
}

/// Decoder/encoder for one [`Framing`] with a maximum payload size.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    framing: Framing,
    prefix: Vec<u8>,
    max_frame: usize,
}

impl FrameCodec {
    /// Builds a codec; `max_frame` bounds the payload size in both directions.
    pub fn new(framing: Framing, max_frame: usize) -> Result<Self, FramingConfigError> {
        framing.validate()?;
        if max_frame == 0 {
            return Err(FramingConfigError::MaxFrameZero);
        }
        if let Framing::Fixed { size, .. } = framing {
            if size > max_frame {
                return Err(FramingConfigError::FixedAboveMax {
                    size,
                    max: max_frame,
                });
            }
        }
        let prefix = framing.prefix().to_vec();
        Ok(Self {
            framing,
            prefix,
            max_frame,
        })
    }

    /// Binary 4-byte big-endian length excluding itself, no prefix; infallible
    /// (a `max_frame` of 0 is raised to 1).
    pub fn u32_length(max_frame: usize) -> Self {
        Self {
            framing: Framing::Binary {
                width: 4,
                includes_self: false,
                prefix: None,
            },
            prefix: Vec::new(),
            max_frame: max_frame.max(1),
        }
    }

    /// The framing this codec implements.
    pub fn framing(&self) -> &Framing {
        &self.framing
    }

    /// Maximum payload size.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Parses the length header (already known to be fully buffered) into a payload length.
    fn payload_len(&self, header: &[u8]) -> Result<u64, FrameError> {
        let width = self.framing.length_width();
        let (value, includes_self) = match &self.framing {
            Framing::Ascii { includes_self, .. } => {
                let mut v: u64 = 0;
                for &b in header {
                    if !b.is_ascii_digit() {
                        return Err(FrameError::BadLengthDigits(RawBytes(header.to_vec())));
                    }
                    v = v * 10 + u64::from(b - b'0');
                }
                (v, *includes_self)
            }
            Framing::Binary { includes_self, .. } => {
                let v = header
                    .iter()
                    .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
                (v, *includes_self)
            }
            Framing::Fixed { size, .. } => return Ok(*size as u64),
            // Read inside the payload by `field_len`.
            Framing::Field { .. } => return Ok(0),
        };
        if includes_self {
            value
                .checked_sub(width as u64)
                .ok_or_else(|| FrameError::LengthBelowHeader {
                    header: RawBytes(header.to_vec()),
                    value,
                    width,
                })
        } else {
            Ok(value)
        }
    }

    /// With [`Framing::Field`]: the payload length its length field declares, once the field
    /// is buffered (`Ok(None)` before). `payload` starts after the prefix.
    fn field_len(&self, payload: &[u8]) -> Result<Option<u64>, FrameError> {
        let Framing::Field {
            offset,
            digits,
            includes_self,
            ..
        } = &self.framing
        else {
            return Ok(None);
        };
        let end = offset.saturating_add(usize::from(*digits));
        let Some(field) = payload.get(*offset..end) else {
            return Ok(None);
        };
        let mut value: u64 = 0;
        for &b in field {
            if !b.is_ascii_digit() {
                return Err(FrameError::BadLengthDigits(RawBytes(field.to_vec())));
            }
            value = value * 10 + u64::from(b - b'0');
        }
        let len = if *includes_self {
            value
        } else {
            value.saturating_add(end as u64)
        };
        if len < end as u64 {
            return Err(FrameError::LengthBelowField {
                field: RawBytes(field.to_vec()),
                value,
                end,
            });
        }
        Ok(Some(len))
    }

    fn check_prefix(&self, src: &[u8]) -> Result<(), FrameError> {
        let n = src.len().min(self.prefix.len());
        if src[..n] != self.prefix[..n] {
            return Err(FrameError::PrefixMismatch {
                expected: RawBytes(self.prefix.clone()),
                got: RawBytes(src[..n].to_vec()),
            });
        }
        Ok(())
    }

    fn encode_slice(&self, payload: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        let len = payload.len();
        if let Framing::Fixed { size, .. } = self.framing {
            if len != size {
                return Err(FrameError::EncodeWrongSize {
                    expected: size,
                    len,
                });
            }
        }
        let limit = (self.max_frame as u64).min(self.framing.max_expressible());
        if len as u64 > limit {
            return Err(FrameError::EncodeTooLarge { len, limit });
        }
        if let Framing::Field { offset, digits, .. } = &self.framing {
            // The telegram frames itself: its length field must say how long it is.
            if self.field_len(payload).ok().flatten() != Some(len as u64) {
                let end = offset.saturating_add(usize::from(*digits)).min(len);
                let field = payload.get((*offset).min(end)..end).unwrap_or_default();
                return Err(FrameError::EncodeLengthField {
                    len,
                    field: RawBytes(field.to_vec()),
                });
            }
        }
        let width = self.framing.length_width();
        dst.reserve(self.prefix.len() + width + len);
        dst.put_slice(&self.prefix);
        match &self.framing {
            Framing::Ascii { includes_self, .. } => {
                let value = if *includes_self { len + width } else { len };
                let digits = format!("{value:0width$}");
                dst.put_slice(digits.as_bytes());
            }
            Framing::Binary { includes_self, .. } => {
                let value = (if *includes_self { len + width } else { len }) as u64;
                dst.put_slice(&value.to_be_bytes()[8 - width..]);
            }
            Framing::Field { .. } | Framing::Fixed { .. } => {}
        }
        dst.put_slice(payload);
        Ok(())
    }
}

impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        // Verify whatever part of the prefix has arrived, so garbage fails fast.
        self.check_prefix(src)?;
        let plen = self.prefix.len();
        let header_len = self.framing.header_len();
        if src.len() < header_len {
            return Ok(None);
        }
        let header = &src[plen..header_len];
        let len = match &self.framing {
            Framing::Field { .. } => match self.field_len(&src[plen..])? {
                Some(len) => len,
                None => return Ok(None),
            },
            _ => self.payload_len(header)?,
        };
        // Refuse before reserving: a hostile header must not make us allocate.
        if len > self.max_frame as u64 {
            let header_end = match &self.framing {
                Framing::Field { offset, digits, .. } => plen + offset + usize::from(*digits),
                _ => header_len,
            };
            return Err(FrameError::TooLarge {
                header: RawBytes(src[..header_end].to_vec()),
                len,
                max: self.max_frame,
            });
        }
        // Bounded by max_frame above, so the cast cannot truncate.
        let total = header_len + len as usize;
        if src.len() < total {
            src.reserve(total - src.len());
            return Ok(None);
        }
        src.advance(header_len);
        Ok(Some(src.split_to(len as usize).freeze()))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        match self.decode(buf)? {
            Some(frame) => Ok(Some(frame)),
            None if buf.is_empty() => Ok(None),
            None => Err(FrameError::Truncated {
                buffered: buf.len(),
            }),
        }
    }
}

impl Encoder<&[u8]> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode_slice(item, dst)
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode_slice(&item, dst)
    }
}

#[cfg(test)]
mod tests;
