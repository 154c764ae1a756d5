//! Scalar field codecs: AN text, N digits (unsigned, signed, numeric text), raw bytes.
//!
//! [`FieldFormat`] is everything a scalar field's attributes say; [`FieldValue`] is implemented
//! by every Rust type that can sit in a scalar field. The derive emits one `const FieldFormat`
//! per field and calls these functions straight-line; the dynamic codec calls the same
//! functions, so both codecs share one set of rules.

use bytes::{BufMut, BytesMut};
#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

use crate::charset::{is_printable_ascii, Charset};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind};

/// Where a signed N field keeps its sign byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Sign {
    /// No sign byte: negative values cannot be encoded.
    #[default]
    None,
    /// `-000123`: the first byte of the field.
    Leading,
    /// `000123-`: the last byte of the field.
    Trailing,
}

/// The attributes of one scalar field: its width and how its bytes are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldFormat {
    /// Field name used in error paths.
    pub name: &'static str,
    /// Width in bytes (ignored for `rest` fields).
    pub len: usize,
    /// Charset of text.
    pub charset: Charset,
    /// Text that must be ASCII digits, right-aligned and '0'-padded (N kept as text).
    pub numeric: bool,
    /// ASCII is mapped to full-width (KS X 1001 row 3) on encode and back on decode.
    pub fullwidth: bool,
    /// Over-long text is cut at a character boundary instead of failing.
    pub truncate: bool,
    /// Sign position of signed N fields.
    pub sign: Sign,
    /// An all-spaces N field decodes as zero.
    pub blank_zero: bool,
    /// Tolerant N field (opt-in): spaces in place of leading zeros are accepted on decode, and
    /// an all-spaces field reads as `None` (`Option`) or zero. Encoding stays canonical
    /// ('0'-padded), so a tolerant decode followed by an encode normalises the field.
    pub tolerant: bool,
}

impl FieldFormat {
    /// A format with defaults: EUC-KR text, no flags.
    pub const fn new(name: &'static str, len: usize) -> Self {
        Self {
            name,
            len,
            charset: Charset::EucKr,
            numeric: false,
            fullwidth: false,
            truncate: false,
            sign: Sign::None,
            blank_zero: false,
            tolerant: false,
        }
    }
}

/// The shape of a scalar value, recorded in layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum ValueKind {
    /// AN text.
    Text,
    /// N digits held as an unsigned integer.
    UInt,
    /// N digits with a sign byte held as a signed integer.
    Int,
    /// Raw bytes, no charset.
    Raw,
}

/// A Rust type that can be the value of a scalar field.
pub trait FieldValue: Sized {
    /// The value's shape, for layouts.
    const KIND: ValueKind;

    /// True when all spaces is a valid value (`Option<_>`).
    const OPTIONAL: bool = false;

    /// Appends exactly `format.len` bytes to `buf`.
    fn encode_field(&self, format: &FieldFormat, buf: &mut BytesMut)
        -> Result<(), EncodeErrorKind>;

    /// Decodes the field's `format.len` bytes; on failure, the offset within `raw` of the bad byte.
    fn decode_field(raw: &[u8], format: &FieldFormat) -> Result<Self, (usize, DecodeErrorKind)>;

    /// True when the value would encode as all spaces (used by `Option`).
    fn is_blank_bytes(raw: &[u8]) -> bool {
        raw.iter().all(|&b| b == b' ')
    }

    /// Appends the value verbatim, any length (`rest` fields).
    fn encode_rest(&self, format: &FieldFormat, buf: &mut BytesMut) -> Result<(), EncodeErrorKind> {
        let _ = (format, buf);
        Err(EncodeErrorKind::Unsupported {
            reason: "`rest` needs a String or Vec<u8> field".into(),
        })
    }

    /// Decodes all remaining bytes verbatim (`rest` fields).
    fn decode_rest(raw: &[u8], format: &FieldFormat) -> Result<Self, (usize, DecodeErrorKind)> {
        Self::decode_field(raw, format)
    }
}

/// Encodes one scalar field at the end of `buf`; `base` is where the telegram starts in `buf`.
#[inline]
pub fn encode_scalar<T: FieldValue>(
    value: &T,
    format: &FieldFormat,
    buf: &mut BytesMut,
    base: usize,
) -> Result<(), EncodeError> {
    let at = buf.len();
    value
        .encode_field(format, buf)
        .map_err(|kind| EncodeError::new(kind, format.name, Some(at - base)))
}

/// Decodes one scalar field of `format.len` bytes at `*pos` in `input`, advancing `*pos`.
#[inline]
pub fn decode_scalar<T: FieldValue>(
    input: &[u8],
    pos: &mut usize,
    format: &FieldFormat,
) -> Result<T, DecodeError> {
    let at = *pos;
    let raw = take(input, at, format.len, format.name)?;
    let value = T::decode_field(raw, format)
        .map_err(|(rel, kind)| DecodeError::new(kind, format.name, at + rel, raw))?;
    *pos = at + format.len;
    Ok(value)
}

/// Encodes a `rest` field: the value's bytes with no padding.
pub fn encode_rest<T: FieldValue>(
    value: &T,
    format: &FieldFormat,
    buf: &mut BytesMut,
    base: usize,
) -> Result<(), EncodeError> {
    let at = buf.len();
    value
        .encode_rest(format, buf)
        .map_err(|kind| EncodeError::new(kind, format.name, Some(at - base)))
}

/// Decodes a `rest` field: every byte from `*pos` to the end of `input`.
pub fn decode_rest<T: FieldValue>(
    input: &[u8],
    pos: &mut usize,
    format: &FieldFormat,
) -> Result<T, DecodeError> {
    let at = (*pos).min(input.len());
    let raw = &input[at..];
    let value = T::decode_rest(raw, format)
        .map_err(|(rel, kind)| DecodeError::new(kind, format.name, at + rel, raw))?;
    *pos = input.len();
    Ok(value)
}

/// Decodes a tolerant trailing filler (`filler`): up to `format.len` bytes at `*pos`. A
/// telegram that ends inside (or right before) the field gives the bytes that are there, as if
/// the missing ones were spaces; the context records where the filler ended, so the top-level
/// decode accepts blank bytes after it. Encoding writes the full width.
pub fn decode_filler<T: FieldValue>(
    input: &[u8],
    pos: &mut usize,
    format: &FieldFormat,
    ctx: &mut crate::DecodeCtx,
) -> Result<T, DecodeError> {
    let at = *pos;
    let end = at.saturating_add(format.len).min(input.len());
    let Some(raw) = input.get(at..end) else {
        return Err(missing(input, at, format.len, format.name));
    };
    let value = T::decode_field(raw, format)
        .map_err(|(rel, kind)| DecodeError::new(kind, format.name, at + rel, raw))?;
    *pos = end;
    ctx.filler_ended(end);
    Ok(value)
}

/// The `len` bytes at `at`, or a `WrongLength` error naming the field that did not fit.
#[inline]
pub fn take<'a>(
    input: &'a [u8],
    at: usize,
    len: usize,
    name: &str,
) -> Result<&'a [u8], DecodeError> {
    input
        .get(at..at.saturating_add(len))
        .ok_or_else(|| missing(input, at, len, name))
}

/// The input ends before the `len` bytes at `at`: a `WrongLength` error at the first missing
/// byte, naming the field that did not fit.
#[cold]
fn missing(input: &[u8], at: usize, len: usize, name: &str) -> DecodeError {
    let tail = input.get(at..).unwrap_or_default();
    DecodeError::new(
        DecodeErrorKind::WrongLength {
            expected: at.saturating_add(len),
            actual: input.len(),
        },
        name,
        // The first missing byte.
        input.len(),
        tail,
    )
}

// ---------------------------------------------------------------------------------------------
// Text

impl FieldValue for String {
    const KIND: ValueKind = ValueKind::Text;

    #[inline]
    fn encode_field(
        &self,
        format: &FieldFormat,
        buf: &mut BytesMut,
    ) -> Result<(), EncodeErrorKind> {
        encode_str(self, format, buf)
    }

    #[inline]
    fn decode_field(raw: &[u8], format: &FieldFormat) -> Result<Self, (usize, DecodeErrorKind)> {
        if format.numeric {
            return decode_numeric_text(raw, format.tolerant);
        }
        let end = raw.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
        decode_text(&raw[..end], format)
    }

    fn encode_rest(&self, format: &FieldFormat, buf: &mut BytesMut) -> Result<(), EncodeErrorKind> {
        encode_str_rest(self, format, buf)
    }

    fn decode_rest(raw: &[u8], format: &FieldFormat) -> Result<Self, (usize, DecodeErrorKind)> {
        decode_text(raw, format)
    }
}

/// Appends `s` as a text (or `numeric`) field of exactly `format.len` bytes.
pub(crate) fn encode_str(
    s: &str,
    format: &FieldFormat,
    buf: &mut BytesMut,
) -> Result<(), EncodeErrorKind> {
    if format.numeric {
        return encode_numeric_text(s, format.len, buf);
    }
    let start = buf.len();
    buf.put_bytes(b' ', format.len);
    let result = encode_text(s, format, &mut buf[start..]);
    if result.is_err() {
        buf.truncate(start);
    }
    result.map(|_| ())
}

/// Appends `s` verbatim (a `rest` field): no padding, no trimming.
pub(crate) fn encode_str_rest(
    s: &str,
    format: &FieldFormat,
    buf: &mut BytesMut,
) -> Result<(), EncodeErrorKind> {
    let start = buf.len();
    // No character needs more bytes in these charsets than twice its UTF-8 length.
    buf.put_bytes(b' ', s.len() * 2);
    match encode_text(s, format, &mut buf[start..]) {
        Ok(written) => {
            buf.truncate(start + written);
            Ok(())
        }
        Err(e) => {
            buf.truncate(start);
            Err(e)
        }
    }
}

/// Encodes AN text into the front of `out` (pre-filled with spaces); returns bytes written.
fn encode_text(s: &str, format: &FieldFormat, out: &mut [u8]) -> Result<usize, EncodeErrorKind> {
    // ASCII fast path: a bounds check and a copy.
    if s.is_ascii() && !format.fullwidth {
        let bytes = s.as_bytes();
        if let Some(&b) = bytes.iter().find(|&&b| !is_printable_ascii(b)) {
            return Err(EncodeErrorKind::Unmappable {
                ch: b as char,
                charset: format.charset,
            });
        }
        let n = if bytes.len() > out.len() {
            if !format.truncate {
                return Err(EncodeErrorKind::TooLong {
                    width: out.len(),
                    actual: bytes.len(),
                });
            }
            out.len()
        } else {
            bytes.len()
        };
        out[..n].copy_from_slice(&bytes[..n]);
        return Ok(n);
    }
    // Korean fast path: ASCII and precomposed Hangul syllables only has no conjoining jamo to
    // compose (it is already NFC), and is encoded in one encoding_rs call.
    if !format.fullwidth
        && format.charset != Charset::Ascii
        && s.chars()
            .all(|c| c.is_ascii() || ('\u{AC00}'..='\u{D7A3}').contains(&c))
    {
        return format.charset.encode_hangul(s, out, format.truncate);
    }
    let fullwidth = format.fullwidth;
    let map = move |c: char| if fullwidth { to_fullwidth(c) } else { c };
    // Decomposed Hangul (conjoining jamo, as macOS produces) is composed into syllables. Only
    // Hangul: full NFC would also fold characters KS X 1001 encodes in their own right (the
    // 268 compatibility Hanja, OHM SIGN, ANGSTROM SIGN) into others, so a telegram that
    // decoded would encode to different bytes or not at all.
    if s.chars().any(is_conjoining_jamo) {
        format
            .charset
            .encode_chars(ComposeHangul::new(s.chars()).map(map), out, format.truncate)
    } else {
        format
            .charset
            .encode_chars(s.chars().map(map), out, format.truncate)
    }
}

/// Hangul conjoining jamo (U+1100..=U+11FF): the decomposed form of syllables.
fn is_conjoining_jamo(c: char) -> bool {
    ('\u{1100}'..='\u{11FF}').contains(&c)
}

/// Composes conjoining jamo sequences L V (T) into precomposed syllables (Unicode §3.12, the
/// Hangul part of canonical composition); every other character passes through unchanged.
#[derive(Clone)]
struct ComposeHangul<I: Iterator<Item = char>> {
    chars: std::iter::Peekable<I>,
}

impl<I: Iterator<Item = char>> ComposeHangul<I> {
    fn new(chars: I) -> Self {
        ComposeHangul {
            chars: chars.peekable(),
        }
    }
}

impl<I: Iterator<Item = char> + Clone> Iterator for ComposeHangul<I> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        const S_BASE: u32 = 0xAC00;
        const L_BASE: u32 = 0x1100;
        const V_BASE: u32 = 0x1161;
        const T_BASE: u32 = 0x11A7;
        const T_COUNT: u32 = 28;
        let c = self.chars.next()?;
        let mut syllable = c as u32;
        let l = syllable.wrapping_sub(L_BASE);
        if l < 19 {
            match self.chars.peek().map(|&v| (v as u32).wrapping_sub(V_BASE)) {
                Some(v) if v < 21 => {
                    self.chars.next();
                    syllable = S_BASE + (l * 21 + v) * T_COUNT;
                }
                _ => return Some(c),
            }
        } else if !(S_BASE..S_BASE + 11_172).contains(&syllable)
            || !(syllable - S_BASE).is_multiple_of(T_COUNT)
        {
            return Some(c);
        }
        // An LV syllable (composed or just built) takes a trailing consonant.
        if let Some(t) = self.chars.peek().map(|&t| (t as u32).wrapping_sub(T_BASE)) {
            if (1..T_COUNT).contains(&t) {
                self.chars.next();
                syllable += t;
            }
        }
        Some(char::from_u32(syllable).unwrap_or(c))
    }
}

fn decode_text(raw: &[u8], format: &FieldFormat) -> Result<String, (usize, DecodeErrorKind)> {
    let text = format.charset.decode(raw)?;
    if format.fullwidth && text.chars().any(|c| from_fullwidth(c) != c) {
        let mut narrow = String::with_capacity(text.len());
        narrow.extend(text.chars().map(from_fullwidth));
        return Ok(narrow);
    }
    Ok(text)
}

/// ASCII 0x21..=0x7E → U+FF01..=U+FF5E, space → U+3000 (KS X 1001 0xA1A1).
fn to_fullwidth(c: char) -> char {
    match c {
        ' ' => '\u{3000}',
        '!'..='~' => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c),
        _ => c,
    }
}

fn from_fullwidth(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFF01 + 0x21).unwrap_or(c),
        _ => c,
    }
}

fn encode_numeric_text(s: &str, width: usize, buf: &mut BytesMut) -> Result<(), EncodeErrorKind> {
    let digits = s.as_bytes();
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(EncodeErrorKind::NotDigits {
            value: s.to_owned(),
        });
    }
    if digits.len() > width {
        return Err(EncodeErrorKind::TooLong {
            width,
            actual: digits.len(),
        });
    }
    buf.put_bytes(b'0', width - digits.len());
    buf.put_slice(digits);
    Ok(())
}

fn decode_numeric_text(raw: &[u8], tolerant: bool) -> Result<String, (usize, DecodeErrorKind)> {
    if let Some(i) = raw.iter().position(|b| !b.is_ascii_digit()) {
        if tolerant {
            // Spaces in place of leading zeros (or a blank field) read as the zeros they stand for.
            let digits = leading_spaces(raw);
            if let Some(j) = raw[digits..].iter().position(|b| !b.is_ascii_digit()) {
                let j = digits + j;
                return Err((j, DecodeErrorKind::BadDigit { byte: raw[j] }));
            }
            let mut out = String::with_capacity(raw.len());
            out.extend(std::iter::repeat_n('0', digits));
            out.extend(raw[digits..].iter().map(|&b| char::from(b)));
            return Ok(out);
        }
        return Err((i, DecodeErrorKind::BadDigit { byte: raw[i] }));
    }
    // All ASCII digits, so valid UTF-8: copied in one go rather than char by char.
    std::str::from_utf8(raw).map(str::to_owned).map_err(|e| {
        (
            e.valid_up_to(),
            DecodeErrorKind::BadDigit {
                byte: raw[e.valid_up_to()],
            },
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Numbers

/// Writes `value` as right-aligned, '0'-padded digits filling `out`.
pub(crate) fn write_digits(mut value: u128, out: &mut [u8]) -> Result<(), EncodeErrorKind> {
    // Values that fit a u64 (every amount and counter in practice) use u64 division, which is
    // a multiply-shift; u128 division by 10 is a call into a slow runtime routine.
    if let Ok(mut v) = u64::try_from(value) {
        for slot in out.iter_mut().rev() {
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        if v != 0 {
            return Err(EncodeErrorKind::TooLong {
                width: out.len(),
                actual: out.len() + digit_count(u128::from(v)),
            });
        }
        return Ok(());
    }
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
    if value != 0 {
        return Err(EncodeErrorKind::TooLong {
            width: out.len(),
            actual: out.len() + digit_count(value),
        });
    }
    Ok(())
}

fn digit_count(mut v: u128) -> usize {
    let mut n = 0;
    while v > 0 {
        n += 1;
        v /= 10;
    }
    n
}

/// Parses ASCII digits; blank handling is the caller's.
#[inline]
fn parse_digits(raw: &[u8]) -> Result<u128, (usize, DecodeErrorKind)> {
    // Up to 19 digits always fit a u64, which is much cheaper than u128 arithmetic.
    if raw.len() <= 19 {
        let mut v: u64 = 0;
        for (i, &b) in raw.iter().enumerate() {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return Err((i, DecodeErrorKind::BadDigit { byte: b }));
            }
            v = v * 10 + u64::from(d);
        }
        return Ok(u128::from(v));
    }
    let mut v: u128 = 0;
    for (i, &b) in raw.iter().enumerate() {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Err((i, DecodeErrorKind::BadDigit { byte: b }));
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(d)))
            .ok_or((0, DecodeErrorKind::Overflow { ty: "u128" }))?;
    }
    Ok(v)
}

fn is_blank(raw: &[u8]) -> bool {
    raw.iter().all(|&b| b == b' ')
}

/// Number of leading 0x20 bytes.
fn leading_spaces(raw: &[u8]) -> usize {
    raw.iter().position(|&b| b != b' ').unwrap_or(raw.len())
}

/// Parses a digit run, accepting leading spaces as zeros when `tolerant`.
#[inline]
fn parse_digits_as(raw: &[u8], tolerant: bool) -> Result<u128, (usize, DecodeErrorKind)> {
    match parse_digits(raw) {
        Err((_, DecodeErrorKind::BadDigit { byte: b' ' })) if tolerant => {
            let skip = leading_spaces(raw);
            parse_digits(&raw[skip..]).map_err(|(i, k)| (i + skip, k))
        }
        other => other,
    }
}

fn encode_unsigned(
    value: u128,
    format: &FieldFormat,
    buf: &mut BytesMut,
) -> Result<(), EncodeErrorKind> {
    if format.sign != Sign::None && format.len == 0 {
        return Err(EncodeErrorKind::Unsupported {
            reason: "a signed field needs at least one byte".into(),
        });
    }
    let start = buf.len();
    buf.put_bytes(b'0', format.len);
    let result = match format.sign {
        Sign::None => write_digits(value, &mut buf[start..]),
        Sign::Leading => {
            buf[start] = b'+';
            write_digits(value, &mut buf[start + 1..])
        }
        Sign::Trailing => {
            let end = buf.len() - 1;
            buf[end] = b'+';
            write_digits(value, &mut buf[start..end])
        }
    };
    if result.is_err() {
        buf.truncate(start);
    }
    result
}

fn decode_unsigned(raw: &[u8], format: &FieldFormat) -> Result<u128, (usize, DecodeErrorKind)> {
    let (negative, digits, digits_at) = split_sign(raw, format)?;
    if negative {
        return Err((0, DecodeErrorKind::Overflow { ty: "unsigned" }));
    }
    parse_digits_as(digits, format.tolerant).map_err(|(i, k)| (i + digits_at, k))
}

/// Splits a field into (negative, digit bytes, offset of the digits), honouring blank rules.
fn split_sign<'a>(
    raw: &'a [u8],
    format: &FieldFormat,
) -> Result<(bool, &'a [u8], usize), (usize, DecodeErrorKind)> {
    if is_blank(raw) {
        if format.blank_zero || format.tolerant || raw.is_empty() {
            return Ok((false, &[], 0));
        }
        return Err((0, DecodeErrorKind::Blank));
    }
    let (sign_at, digits, digits_at) = match format.sign {
        Sign::None => return Ok((false, raw, 0)),
        Sign::Leading if !raw.is_empty() => (0, &raw[1..], 1),
        Sign::Trailing if !raw.is_empty() => (raw.len() - 1, &raw[..raw.len() - 1], 0),
        _ => return Ok((false, raw, 0)),
    };
    match raw[sign_at] {
        b'+' => Ok((false, digits, digits_at)),
        b'-' => Ok((true, digits, digits_at)),
        byte => Err((sign_at, DecodeErrorKind::BadSign { byte })),
    }
}

macro_rules! unsigned_field {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            const KIND: ValueKind = ValueKind::UInt;

            #[inline]
            fn encode_field(&self, format: &FieldFormat, buf: &mut BytesMut) -> Result<(), EncodeErrorKind> {
                encode_unsigned(*self as u128, format, buf)
            }

            #[inline]
            fn decode_field(raw: &[u8], format: &FieldFormat) -> Result<Self, (usize, DecodeErrorKind)> {
                let v = decode_unsigned(raw, format)?;
                <$t>::try_from(v).map_err(|_| (0, DecodeErrorKind::Overflow { ty: stringify!($t) }))
            }
        }
    )*};
}
unsigned_field!(u8, u16, u32, u64, u128, usize);

macro_rules! signed_field {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            const KIND: ValueKind = ValueKind::Int;

            fn encode_field(&self, format: &FieldFormat, buf: &mut BytesMut) -> Result<(), EncodeErrorKind> {
                let value = *self as i128;
                if value >= 0 {
                    return encode_unsigned(value as u128, format, buf);
                }
                let start = buf.len();
                let sign_at = match format.sign {
                    Sign::None => return Err(EncodeErrorKind::Negative { value }),
                    Sign::Leading => start,
                    Sign::Trailing => start + format.len - 1,
                };
                encode_unsigned(value.unsigned_abs(), format, buf)?;
                buf[sign_at] = b'-';
                Ok(())
            }

            fn decode_field(raw: &[u8], format: &FieldFormat) -> Result<Self, (usize, DecodeErrorKind)> {
                let (negative, digits, digits_at) = split_sign(raw, format)?;
                let magnitude = parse_digits_as(digits, format.tolerant).map_err(|(i, k)| (i + digits_at, k))?;
                let overflow = (0, DecodeErrorKind::Overflow { ty: stringify!($t) });
                let magnitude = i128::try_from(magnitude).map_err(|_| overflow.clone())?;
                let value = if negative { -magnitude } else { magnitude };
                <$t>::try_from(value).map_err(|_| overflow)
            }
        }
    )*};
}
signed_field!(i8, i16, i32, i64, i128, isize);

// ---------------------------------------------------------------------------------------------
// Option and raw bytes

impl<T: FieldValue> FieldValue for Option<T> {
    const KIND: ValueKind = T::KIND;
    const OPTIONAL: bool = true;

    #[inline]
    fn encode_field(
        &self,
        format: &FieldFormat,
        buf: &mut BytesMut,
    ) -> Result<(), EncodeErrorKind> {
        match self {
            Some(v) => v.encode_field(format, buf),
            None => {
                buf.put_bytes(b' ', format.len);
                Ok(())
            }
        }
    }

    #[inline]
    fn decode_field(raw: &[u8], format: &FieldFormat) -> Result<Self, (usize, DecodeErrorKind)> {
        if is_blank(raw) {
            return Ok(None);
        }
        T::decode_field(raw, format).map(Some)
    }
}

impl FieldValue for Vec<u8> {
    const KIND: ValueKind = ValueKind::Raw;

    fn encode_field(
        &self,
        format: &FieldFormat,
        buf: &mut BytesMut,
    ) -> Result<(), EncodeErrorKind> {
        if self.len() > format.len {
            return Err(EncodeErrorKind::TooLong {
                width: format.len,
                actual: self.len(),
            });
        }
        buf.put_slice(self);
        buf.put_bytes(b' ', format.len - self.len());
        Ok(())
    }

    fn decode_field(raw: &[u8], _: &FieldFormat) -> Result<Self, (usize, DecodeErrorKind)> {
        Ok(raw.to_vec())
    }

    fn encode_rest(&self, _: &FieldFormat, buf: &mut BytesMut) -> Result<(), EncodeErrorKind> {
        buf.put_slice(self);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc<T: FieldValue>(v: &T, f: &FieldFormat) -> Result<Vec<u8>, EncodeErrorKind> {
        let mut b = BytesMut::new();
        v.encode_field(f, &mut b)?;
        assert_eq!(b.len(), f.len, "encode must write exactly the width");
        Ok(b.to_vec())
    }

    const F: FieldFormat = FieldFormat::new("f", 6);

    #[test]
    fn an_is_left_aligned_space_padded_and_trimmed_on_decode() {
        assert_eq!(enc(&"AB".to_string(), &F).unwrap(), b"AB    ");
        assert_eq!(String::decode_field(b"AB    ", &F).unwrap(), "AB");
        // Leading spaces are data.
        assert_eq!(String::decode_field(b"  AB  ", &F).unwrap(), "  AB");
    }

    #[test]
    fn n_is_right_aligned_zero_padded() {
        assert_eq!(enc(&42u32, &F).unwrap(), b"000042");
        assert_eq!(u32::decode_field(b"000042", &F).unwrap(), 42);
        assert_eq!(
            enc(&u128::MAX, &FieldFormat::new("f", 39)).unwrap(),
            u128::MAX.to_string().as_bytes()
        );
    }

    #[test]
    fn n_too_wide_is_an_error() {
        assert_eq!(
            enc(&1_234_567u32, &F),
            Err(EncodeErrorKind::TooLong {
                width: 6,
                actual: 7
            })
        );
    }

    #[test]
    fn n_bad_digit_offset_is_exact() {
        assert_eq!(
            u32::decode_field(b"00 042", &F),
            Err((2, DecodeErrorKind::BadDigit { byte: b' ' }))
        );
        assert_eq!(
            u64::decode_field(&[b'1'; 25][..], &FieldFormat::new("f", 25))
                .unwrap_err()
                .1,
            DecodeErrorKind::Overflow { ty: "u64" }
        );
    }

    #[test]
    fn overflow_of_narrow_type() {
        let f = FieldFormat::new("f", 3);
        assert_eq!(
            u8::decode_field(b"256", &f),
            Err((0, DecodeErrorKind::Overflow { ty: "u8" }))
        );
        assert_eq!(u8::decode_field(b"255", &f), Ok(255));
    }

    #[test]
    fn blank_rules() {
        assert_eq!(
            u32::decode_field(b"      ", &F),
            Err((0, DecodeErrorKind::Blank))
        );
        assert_eq!(Option::<u32>::decode_field(b"      ", &F), Ok(None));
        assert_eq!(enc(&None::<u32>, &F).unwrap(), b"      ");
        let zero = FieldFormat {
            blank_zero: true,
            ..F
        };
        assert_eq!(u32::decode_field(b"      ", &zero), Ok(0));
    }

    #[test]
    fn signs() {
        let lead = FieldFormat {
            sign: Sign::Leading,
            ..F
        };
        let trail = FieldFormat {
            sign: Sign::Trailing,
            ..F
        };
        assert_eq!(enc(&-123i64, &lead).unwrap(), b"-00123");
        assert_eq!(enc(&123i64, &lead).unwrap(), b"+00123");
        assert_eq!(enc(&-123i64, &trail).unwrap(), b"00123-");
        assert_eq!(i64::decode_field(b"00123-", &trail), Ok(-123));
        assert_eq!(
            i64::decode_field(b"*00123", &lead),
            Err((0, DecodeErrorKind::BadSign { byte: b'*' }))
        );
        assert_eq!(
            enc(&-1i32, &F),
            Err(EncodeErrorKind::Negative { value: -1 })
        );
        assert_eq!(i8::decode_field(b"-00128", &lead), Ok(-128));
        assert_eq!(
            i8::decode_field(b"-00129", &lead),
            Err((0, DecodeErrorKind::Overflow { ty: "i8" }))
        );
    }

    #[test]
    fn numeric_text_keeps_leading_zeros() {
        let f = FieldFormat {
            numeric: true,
            ..FieldFormat::new("f", 4)
        };
        assert_eq!(enc(&"42".to_string(), &f).unwrap(), b"0042");
        assert_eq!(String::decode_field(b"0042", &f).unwrap(), "0042");
        assert!(matches!(
            enc(&"4a".to_string(), &f),
            Err(EncodeErrorKind::NotDigits { .. })
        ));
        assert_eq!(
            String::decode_field(b"00x2", &f),
            Err((2, DecodeErrorKind::BadDigit { byte: b'x' }))
        );
    }

    #[test]
    fn nfd_hangul_is_composed_before_encoding() {
        let nfd = "\u{1112}\u{1161}\u{11ab}"; // 한 decomposed into jamo
        let f = FieldFormat::new("f", 2);
        assert_eq!(
            enc(&nfd.to_string(), &f).unwrap(),
            enc(&"한".to_string(), &f).unwrap()
        );
    }

    #[test]
    fn hangul_composition_covers_lv_lvt_and_leaves_the_rest_alone() {
        let compose = |s: &str| ComposeHangul::new(s.chars()).collect::<String>();
        assert_eq!(compose("\u{1100}\u{1161}"), "가");
        assert_eq!(compose("\u{1100}\u{1161}\u{11A8}"), "각");
        assert_eq!(
            compose("가\u{11A8}"),
            "각",
            "precomposed LV + trailing consonant"
        );
        assert_eq!(
            compose("각\u{11A8}"),
            "각\u{11A8}",
            "LVT takes no second trailing consonant"
        );
        assert_eq!(
            compose("\u{1100}x"),
            "\u{1100}x",
            "a lone leading consonant stays"
        );
        assert_eq!(
            compose("\u{F996}\u{2126}A"),
            "\u{F996}\u{2126}A",
            "no compatibility folding"
        );
        // Every syllable, decomposed by an independent NFD, composes back.
        use unicode_normalization::UnicodeNormalization;
        for cp in 0xAC00u32..=0xD7A3 {
            let syllable = char::from_u32(cp).unwrap().to_string();
            assert_eq!(compose(&syllable.nfd().collect::<String>()), syllable);
        }
    }

    #[test]
    fn fullwidth_maps_ascii_and_back() {
        let f = FieldFormat {
            fullwidth: true,
            ..FieldFormat::new("f", 8)
        };
        let bytes = enc(&"A1 ".to_string(), &f).unwrap();
        // Ａ = 0xA3C1, １ = 0xA3B1, ideographic space = 0xA1A1, then 0x20 padding.
        assert_eq!(bytes, [0xA3, 0xC1, 0xA3, 0xB1, 0xA1, 0xA1, b' ', b' ']);
        assert_eq!(String::decode_field(&bytes, &f).unwrap(), "A1 ");
    }

    #[test]
    fn control_bytes_are_refused_both_ways() {
        assert!(matches!(
            enc(&"a\tb".to_string(), &F),
            Err(EncodeErrorKind::Unmappable { ch: '\t', .. })
        ));
        assert_eq!(
            String::decode_field(b"a\0b   ", &F),
            Err((1, DecodeErrorKind::ControlByte { byte: 0 }))
        );
    }

    #[test]
    fn decode_scalar_reports_absolute_offset_and_short_input() {
        let input = b"XXXX00A042";
        let mut pos = 4;
        let err = decode_scalar::<u32>(input, &mut pos, &F).unwrap_err();
        assert_eq!(err.offset(), 6);
        assert_eq!(err.path(), "f");
        assert_eq!(pos, 4, "position must not advance on error");
        let mut pos = 8;
        let err = decode_scalar::<u32>(input, &mut pos, &F).unwrap_err();
        assert_eq!(
            err.kind(),
            &DecodeErrorKind::WrongLength {
                expected: 14,
                actual: 10
            }
        );
        assert_eq!(err.offset(), 10, "the first missing byte");
    }

    #[test]
    fn failed_encode_leaves_buffer_unchanged() {
        let mut b = BytesMut::from(&b"head"[..]);
        assert!("가나다라".to_string().encode_field(&F, &mut b).is_err());
        assert!(1_000_000u32.encode_field(&F, &mut b).is_err());
        assert_eq!(&b[..], b"head");
    }

    #[test]
    fn rest_is_verbatim() {
        let f = FieldFormat::new("filler", 0);
        let mut b = BytesMut::new();
        "  가 ".to_string().encode_rest(&f, &mut b).unwrap();
        assert_eq!(&b[..], [b' ', b' ', 0xB0, 0xA1, b' ']);
        assert_eq!(String::decode_rest(&b, &f).unwrap(), "  가 ");
    }
}
