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
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn codec(f: Framing, max: usize) -> FrameCodec {
        FrameCodec::new(f, max).unwrap()
    }

    fn ascii(digits: u8, includes_self: bool, prefix: Option<&str>) -> Framing {
        Framing::Ascii {
            digits,
            includes_self,
            prefix: prefix.map(String::from),
        }
    }

    fn binary(width: u8, includes_self: bool, prefix: Option<&str>) -> Framing {
        Framing::Binary {
            width,
            includes_self,
            prefix: prefix.map(String::from),
        }
    }

    fn encode(c: &mut FrameCodec, payload: &[u8]) -> Vec<u8> {
        let mut buf = BytesMut::new();
        c.encode(payload, &mut buf).unwrap();
        buf.to_vec()
    }

    fn decode_all(c: &mut FrameCodec, chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(f) = c.decode(&mut buf).unwrap() {
                out.push(f.to_vec());
            }
        }
        assert!(buf.is_empty(), "leftover bytes: {buf:?}");
        out
    }

    #[test]
    fn hecto_ascii4_excluding_self() {
        let mut c = codec(Framing::hecto(), 4096);
        let body = vec![b'A'; 300];
        let wire = encode(&mut c, &body);
        assert_eq!(&wire[..4], b"0300");
        assert_eq!(wire.len(), 304);
        assert_eq!(decode_all(&mut c, &[&wire]), vec![body]);
    }

    #[test]
    fn hecto_poll_frame_on_same_framing() {
        let mut c = codec(Framing::hecto(), 4096);
        let wire = b"0020HDRREQPOLL1123094501";
        let frames = decode_all(&mut c, &[wire]);
        assert_eq!(frames, vec![b"HDRREQPOLL1123094501".to_vec()]);
        assert_eq!(
            encode(&mut c, b"HDRRESPOLL1123094501"),
            b"0020HDRRESPOLL1123094501"
        );
    }

    #[test]
    fn ascii_including_self() {
        let mut c = codec(ascii(4, true, None), 4096);
        let wire = encode(&mut c, b"hello");
        assert_eq!(wire, b"0009hello");
        assert_eq!(decode_all(&mut c, &[&wire]), vec![b"hello".to_vec()]);
    }

    #[test]
    fn ascii_including_self_below_header_is_error() {
        let mut c = codec(ascii(4, true, None), 4096);
        let mut buf = BytesMut::from(&b"0003abc"[..]);
        let err = c.decode(&mut buf).unwrap_err();
        assert!(
            matches!(err, FrameError::LengthBelowHeader { value: 3, .. }),
            "{err}"
        );
    }

    /// A telegram of `len` bytes whose own 4-digit length field at `offset` counts it all.
    fn self_framed(offset: usize, len: usize) -> Vec<u8> {
        let mut t = vec![b'x'; len];
        t[offset..offset + 4].copy_from_slice(format!("{len:04}").as_bytes());
        t
    }

    #[test]
    fn a_length_field_inside_the_telegram_frames_it_and_stays_in_the_frame() {
        let mut c = codec(Framing::kibnet(), 4096);
        let a = self_framed(0, 600);
        let b = self_framed(0, 500); // KIBNET's 500-byte 0810/2100
        let mut wire = encode(&mut c, &a);
        assert_eq!(wire, a, "nothing added");
        wire.extend(encode(&mut c, &b));
        let frames = decode_all(&mut c, &[&wire[..3], &wire[3..601], &wire[601..]]);
        assert_eq!(frames, vec![a.clone(), b]);
        // At an offset, after a prefix, counting only what follows the field.
        let mut c = codec(
            Framing::Field {
                offset: 2,
                digits: 3,
                includes_self: false,
                prefix: Some("TR".into()),
            },
            100,
        );
        assert_eq!(
            decode_all(&mut c, &[b"TRab004wxyz"]),
            vec![b"ab004wxyz".to_vec()]
        );
        assert_eq!(encode(&mut c, b"ab004wxyz"), b"TRab004wxyz");
    }

    #[test]
    fn a_length_field_is_checked_both_ways() {
        let mut c = codec(Framing::kibnet(), 1000);
        // Fewer bytes than the field itself, bad digits, more than max_frame.
        let mut buf = BytesMut::from(&b"0003abc"[..]);
        assert!(matches!(
            c.decode(&mut buf),
            Err(FrameError::LengthBelowField {
                value: 3,
                end: 4,
                ..
            })
        ));
        let mut buf = BytesMut::from(&b"06x0"[..]);
        assert!(matches!(
            c.decode(&mut buf),
            Err(FrameError::BadLengthDigits(_))
        ));
        let mut buf = BytesMut::from(&b"9999"[..]);
        let err = c.decode(&mut buf).unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { len: 9999, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("9999"), "{err}");
        // Not enough bytes for the field yet: wait.
        let mut buf = BytesMut::from(&b"06"[..]);
        assert!(c.decode(&mut buf).unwrap().is_none());
        // A telegram whose field disagrees with its length is not sent.
        let mut out = BytesMut::new();
        let err = c.encode(&self_framed(0, 600)[..599], &mut out).unwrap_err();
        assert!(
            matches!(err, FrameError::EncodeLengthField { len: 599, .. }),
            "{err}"
        );
        assert!(out.is_empty());
        assert!(c.encode(&b"06"[..], &mut out).is_err());
    }

    #[test]
    fn binary2_and_binary4() {
        let mut c2 = codec(binary(2, false, None), 70000);
        assert_eq!(encode(&mut c2, b"abc"), b"\x00\x03abc");
        let mut c2s = codec(binary(2, true, None), 70000);
        assert_eq!(encode(&mut c2s, b"abc"), b"\x00\x05abc");
        let mut c4 = codec(binary(4, false, None), 70000);
        let wire = encode(&mut c4, &[7u8; 258]);
        assert_eq!(&wire[..4], &[0, 0, 1, 2]);
        assert_eq!(decode_all(&mut c4, &[&wire]), vec![vec![7u8; 258]]);
        let mut c4s = codec(binary(4, true, None), 70000);
        assert_eq!(encode(&mut c4s, b"x"), b"\x00\x00\x00\x05x");
        assert_eq!(
            decode_all(&mut c4s, &[b"\x00\x00\x00\x05x"]),
            vec![b"x".to_vec()]
        );
    }

    #[test]
    fn binary2_cannot_express_large_payload() {
        let mut c = codec(binary(2, false, None), 100_000);
        let mut buf = BytesMut::new();
        let err = c.encode(&vec![0u8; 70_000][..], &mut buf).unwrap_err();
        assert!(
            matches!(err, FrameError::EncodeTooLarge { limit: 65535, .. }),
            "{err}"
        );
    }

    #[test]
    fn prefix_written_and_verified() {
        let mut c = codec(ascii(4, false, Some("SETTLEBNK")), 4096);
        let wire = encode(&mut c, b"abc");
        assert_eq!(wire, b"SETTLEBNK0003abc");
        assert_eq!(
            decode_all(&mut c, &[&wire[..5], &wire[5..]]),
            vec![b"abc".to_vec()]
        );

        let mut buf = BytesMut::from(&b"SETTLX"[..]);
        let err = c.decode(&mut buf).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, FrameError::PrefixMismatch { .. }));
        assert!(msg.contains("SETTLX"), "{msg}");
    }

    #[test]
    fn fixed_size_frames() {
        let mut c = codec(
            Framing::Fixed {
                size: 5,
                prefix: None,
            },
            100,
        );
        assert_eq!(
            decode_all(&mut c, &[b"abc", b"de12", b"345"]),
            vec![b"abcde".to_vec(), b"12345".to_vec()]
        );
        let mut buf = BytesMut::new();
        assert!(matches!(
            c.encode(&b"abc"[..], &mut buf),
            Err(FrameError::EncodeWrongSize {
                expected: 5,
                len: 3
            })
        ));
        assert_eq!(encode(&mut c, b"vwxyz"), b"vwxyz");
    }

    #[test]
    fn fixed_with_prefix() {
        let mut c = codec(
            Framing::Fixed {
                size: 3,
                prefix: Some("TR".into()),
            },
            100,
        );
        assert_eq!(encode(&mut c, b"abc"), b"TRabc");
        assert_eq!(
            decode_all(&mut c, &[b"TRabcTRx", b"yz"]),
            vec![b"abc".to_vec(), b"xyz".to_vec()]
        );
    }

    #[test]
    fn garbage_header_names_bytes() {
        let mut c = codec(Framing::hecto(), 4096);
        let mut buf = BytesMut::from(&b"03a0xxxx"[..]);
        let err = c.decode(&mut buf).unwrap_err();
        assert!(matches!(err, FrameError::BadLengthDigits(_)));
        let msg = err.to_string();
        assert!(msg.contains("03a0"), "{msg}");
        assert!(msg.contains("30336130"), "{msg}");
    }

    #[test]
    fn oversize_refused_without_allocation() {
        let mut c = codec(ascii(9, false, None), 1024);
        let mut buf = BytesMut::with_capacity(16);
        buf.extend_from_slice(b"999999999");
        let cap_before = buf.capacity();
        let err = c.decode(&mut buf).unwrap_err();
        assert!(
            matches!(
                err,
                FrameError::TooLarge {
                    len: 999_999_999,
                    max: 1024,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(buf.capacity(), cap_before);
        assert!(buf.capacity() < 1024);

        let mut c4 = codec(binary(4, false, None), 1024);
        let mut buf = BytesMut::with_capacity(8);
        buf.extend_from_slice(&[0xff, 0xff, 0xff, 0xf0]);
        assert!(matches!(
            c4.decode(&mut buf),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(buf.capacity() < 1024);
    }

    #[test]
    fn exactly_max_is_accepted_and_one_more_refused() {
        let mut c = codec(Framing::hecto(), 300);
        let ok = encode(&mut c, &[b'x'; 300]);
        assert_eq!(decode_all(&mut c, &[&ok]).len(), 1);
        let mut buf = BytesMut::new();
        assert!(c.encode(&[b'x'; 301][..], &mut buf).is_err());
        let mut buf = BytesMut::from(&b"0301"[..]);
        assert!(matches!(
            c.decode(&mut buf),
            Err(FrameError::TooLarge { len: 301, .. })
        ));
    }

    #[test]
    fn eof_mid_frame_is_error() {
        let mut c = codec(Framing::hecto(), 4096);
        let mut buf = BytesMut::from(&b"0010abc"[..]);
        assert!(matches!(
            c.decode_eof(&mut buf),
            Err(FrameError::Truncated { buffered: 7 })
        ));
        let mut empty = BytesMut::new();
        assert!(c.decode_eof(&mut empty).unwrap().is_none());
    }

    #[test]
    fn max_expressible_never_overflows() {
        for w in [0u8, 1, 2, 4, 8, 9, 255] {
            let _ = binary(w, true, None).max_expressible();
            let _ = binary(w, false, None).max_expressible();
        }
        for d in [0u8, 1, 4, 9, 19, 20, 255] {
            let _ = ascii(d, true, None).max_expressible();
        }
        assert_eq!(binary(2, false, None).max_expressible(), 65_535);
        assert_eq!(binary(2, true, None).max_expressible(), 65_533);
        assert_eq!(ascii(4, false, None).max_expressible(), 9_999);
        assert_eq!(ascii(4, true, None).max_expressible(), 9_995);
    }

    #[test]
    fn bad_config_rejected() {
        assert!(FrameCodec::new(ascii(0, false, None), 10).is_err());
        assert!(FrameCodec::new(ascii(10, false, None), 10).is_err());
        assert!(FrameCodec::new(binary(3, false, None), 10).is_err());
        assert!(FrameCodec::new(Framing::hecto(), 0).is_err());
        assert!(FrameCodec::new(
            Framing::Fixed {
                size: 11,
                prefix: None
            },
            10
        )
        .is_err());
        assert!(FrameCodec::new(ascii(4, false, Some("a\u{1}")), 10).is_err());
        let field = |digits| Framing::Field {
            offset: 0,
            digits,
            includes_self: true,
            prefix: None,
        };
        assert!(FrameCodec::new(field(0), 10).is_err());
        assert!(FrameCodec::new(field(10), 10).is_err());
        assert_eq!(field(4).max_expressible(), 9_999);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn framing_deserializes_from_toml() {
        #[derive(Deserialize)]
        struct W {
            framing: Framing,
        }
        let w: W =
            toml::from_str(r#"framing = { kind = "ascii", digits = 4, includes_self = false }"#)
                .unwrap();
        assert_eq!(w.framing, Framing::hecto());
        let w: W =
            toml::from_str(r#"framing = { kind = "binary", width = 2, prefix = "TRCODE001" }"#)
                .unwrap();
        assert_eq!(w.framing, binary(2, false, Some("TRCODE001")));
        assert!(
            toml::from_str::<W>(r#"framing = { kind = "ascii", digits = 4, bogus = 1 }"#).is_err()
        );
        let w: W =
            toml::from_str(r#"framing = { kind = "field", offset = 0, digits = 4 }"#).unwrap();
        assert_eq!(w.framing, Framing::kibnet());
    }

    fn any_framing() -> impl Strategy<Value = Framing> {
        let prefix = proptest::option::of("[A-Z]{1,9}");
        prop_oneof![
            (1u8..=6, any::<bool>(), prefix.clone()).prop_map(|(d, s, p)| Framing::Ascii {
                digits: d.max(3),
                includes_self: s,
                prefix: p
            }),
            (
                prop_oneof![Just(2u8), Just(4u8)],
                any::<bool>(),
                prefix.clone()
            )
                .prop_map(|(w, s, p)| Framing::Binary {
                    width: w,
                    includes_self: s,
                    prefix: p
                }),
            (1usize..40, prefix.clone()).prop_map(|(n, p)| Framing::Fixed { size: n, prefix: p }),
            (0usize..6, 3u8..=5, any::<bool>(), prefix).prop_map(|(o, d, s, p)| Framing::Field {
                offset: o,
                digits: d,
                includes_self: s,
                prefix: p
            }),
        ]
    }

    /// Makes `p` a valid payload for `framing`: the fixed size, or a length field that says
    /// how long it is.
    fn shape(framing: &Framing, mut p: Vec<u8>) -> Vec<u8> {
        match framing {
            Framing::Fixed { size, .. } => p.resize(*size, b'z'),
            Framing::Field {
                offset,
                digits,
                includes_self,
                ..
            } => {
                let end = offset + usize::from(*digits);
                if p.len() < end {
                    p.resize(end, b'z');
                }
                let value = if *includes_self {
                    p.len()
                } else {
                    p.len() - end
                };
                let d = usize::from(*digits);
                p[*offset..end].copy_from_slice(format!("{value:0d$}").as_bytes());
            }
            _ => {}
        }
        p
    }

    proptest! {
        #[test]
        fn chunked_decoding_matches_whole(
            framing in any_framing(),
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..12),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
        ) {
            let mut c = codec(framing.clone(), 512);
            let payloads: Vec<Vec<u8>> = payloads.into_iter().map(|p| shape(&framing, p)).collect();
            let mut wire = Vec::new();
            for p in &payloads {
                wire.extend(encode(&mut c, p));
            }
            let whole = decode_all(&mut c.clone(), &[&wire]);
            prop_assert_eq!(&whole, &payloads);

            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut start = 0;
            for p in points {
                chunks.push(&wire[start..p]);
                start = p;
            }
            chunks.push(&wire[start..]);
            let chunked = decode_all(&mut c, &chunks);
            prop_assert_eq!(chunked, payloads);
        }

        #[test]
        fn decoder_never_panics(framing in any_framing(), data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut c = codec(framing, 256);
            let mut buf = BytesMut::from(&data[..]);
            while let Ok(Some(_)) = c.decode(&mut buf) {}
            prop_assert!(buf.capacity() <= 4096);
        }
    }
}
