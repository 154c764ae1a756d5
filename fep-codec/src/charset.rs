//! Charsets of text fields: strict EUC-KR (KS X 1001), CP949 (UHC) and ASCII.
//!
//! encoding_rs does the mapping, always through its `*_without_replacement` entry points, so an
//! unmappable character is an error and never `&#NNNN;` or `?`. encoding_rs's `EUC_KR` is the
//! WHATWG encoding, i.e. windows-949; strict EUC-KR is that mapping restricted to KS X 1001
//! code points (both bytes in 0xA1..=0xFE), which we check ourselves.

use std::fmt;

use encoding_rs::{DecoderResult, EncoderResult, EUC_KR};
#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

use crate::error::{DecodeErrorKind, EncodeErrorKind};

/// The charset of a text field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub enum Charset {
    /// Printable ASCII only (0x20..=0x7E).
    #[cfg_attr(feature = "serde", serde(rename = "ascii"))]
    Ascii,
    /// EUC-KR restricted to KS X 1001 (2,350 precomposed Hangul, Hanja, symbols).
    #[default]
    #[cfg_attr(feature = "serde", serde(rename = "euc-kr"))]
    EucKr,
    /// Windows code page 949 (Unified Hangul Code): all 11,172 Hangul syllables.
    #[cfg_attr(feature = "serde", serde(rename = "cp949"))]
    Cp949,
}

impl Charset {
    /// Parses a charset name as written in attributes and spec files.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "ascii" | "us-ascii" => Some(Self::Ascii),
            "euc-kr" | "euckr" | "ksc5601" | "ks_c_5601-1987" | "ks-x-1001" => Some(Self::EucKr),
            "cp949" | "windows-949" | "ms949" | "uhc" => Some(Self::Cp949),
            _ => None,
        }
    }

    /// The canonical name (`"ascii"`, `"euc-kr"`, `"cp949"`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Ascii => "ascii",
            Self::EucKr => "euc-kr",
            Self::Cp949 => "cp949",
        }
    }

    /// Encodes `chars` into the front of `out`, returning the bytes written.
    ///
    /// Stops before a character that does not fit: with `truncate` that is success (a 2-byte
    /// character is never split), otherwise `TooLong` with the value's full byte length.
    pub(crate) fn encode_chars(
        self,
        chars: impl Iterator<Item = char> + Clone,
        out: &mut [u8],
        truncate: bool,
    ) -> Result<usize, EncodeErrorKind> {
        let mut encoder = EUC_KR.new_encoder();
        let mut pos = 0;
        let mut rest = chars.clone();
        while let Some(c) = rest.next() {
            // Refuse a character the charset cannot hold before judging the width.
            if (self == Self::Ascii && !c.is_ascii())
                || (c.is_ascii() && !is_printable_ascii(c as u8))
            {
                return Err(EncodeErrorKind::Unmappable {
                    ch: c,
                    charset: self,
                });
            }
            let needed = if c.is_ascii() { 1 } else { 2 };
            if pos + needed > out.len() {
                if truncate {
                    return Ok(pos);
                }
                let actual = pos + needed + rest.map(encoded_len_estimate).sum::<usize>();
                return Err(EncodeErrorKind::TooLong {
                    width: out.len(),
                    actual,
                });
            }
            if c.is_ascii() {
                let b = c as u8;
                if !is_printable_ascii(b) {
                    return Err(EncodeErrorKind::Unmappable {
                        ch: c,
                        charset: self,
                    });
                }
                out[pos] = b;
                pos += 1;
                continue;
            }
            let unmappable = EncodeErrorKind::Unmappable {
                ch: c,
                charset: self,
            };
            if self == Self::Ascii {
                return Err(unmappable);
            }
            let mut utf8 = [0u8; 4];
            let (result, _, written) = encoder.encode_from_utf8_without_replacement(
                c.encode_utf8(&mut utf8),
                &mut out[pos..pos + 2],
                false,
            );
            if result != EncoderResult::InputEmpty || written != 2 {
                return Err(unmappable);
            }
            if self == Self::EucKr && !(is_ksx1001_byte(out[pos]) && is_ksx1001_byte(out[pos + 1]))
            {
                return Err(unmappable);
            }
            pos += 2;
        }
        Ok(pos)
    }

    /// [`Charset::encode_chars`] for the common Korean field: `s` holds only ASCII and
    /// precomposed Hangul syllables (so it is already NFC) and the charset is EUC-KR or CP949.
    /// One encoding_rs call encodes the whole field, then the written bytes are checked in
    /// order; results and errors are exactly those of `encode_chars` (same first error, same
    /// `TooLong` length, same truncation point).
    pub(crate) fn encode_hangul(
        self,
        s: &str,
        out: &mut [u8],
        truncate: bool,
    ) -> Result<usize, EncodeErrorKind> {
        debug_assert!(self != Self::Ascii);
        let mut encoder = EUC_KR.new_encoder();
        let mut pos = 0;
        let mut src = s;
        let mut n_chars = 0;
        loop {
            let (result, read, written) =
                encoder.encode_from_utf8_without_replacement(src, &mut out[pos..], true);
            // Every character written is one byte (ASCII) or two (a lead byte >= 0x81 and a
            // trail), so walking the output in order meets the characters in order.
            let end = pos + written;
            while pos < end {
                let b = out[pos];
                let bad = if b < 0x80 {
                    pos += 1;
                    !is_printable_ascii(b)
                } else {
                    let t = out.get(pos + 1).copied().unwrap_or(0);
                    pos += 2;
                    self == Self::EucKr && !(is_ksx1001_byte(b) && is_ksx1001_byte(t))
                };
                if bad {
                    let ch = s
                        .chars()
                        .nth(n_chars)
                        .unwrap_or(char::REPLACEMENT_CHARACTER);
                    return Err(EncodeErrorKind::Unmappable { ch, charset: self });
                }
                n_chars += 1;
            }
            pos = end;
            src = src.get(read..).unwrap_or_default();
            // encoding_rs stopped before `c`: it wants room for a whole 2-byte character
            // (OutputFull, even when `c` is ASCII and would fit), or cannot map `c` (then `c`
            // is already consumed). Judge `c` as encode_chars would.
            let (c, unmappable) = match result {
                EncoderResult::InputEmpty => return Ok(pos),
                EncoderResult::OutputFull => match src.chars().next() {
                    Some(c) => {
                        src = &src[c.len_utf8()..];
                        (c, false)
                    }
                    None => return Ok(pos),
                },
                EncoderResult::Unmappable(c) => (c, true),
            };
            if c.is_ascii() && !is_printable_ascii(c as u8) {
                return Err(EncodeErrorKind::Unmappable {
                    ch: c,
                    charset: self,
                });
            }
            let needed = encoded_len_estimate(c);
            if pos + needed > out.len() {
                if truncate {
                    return Ok(pos);
                }
                let actual = pos + needed + src.chars().map(encoded_len_estimate).sum::<usize>();
                return Err(EncodeErrorKind::TooLong {
                    width: out.len(),
                    actual,
                });
            }
            let refused = EncodeErrorKind::Unmappable {
                ch: c,
                charset: self,
            };
            if unmappable {
                return Err(refused);
            }
            // `c` fits: encode it alone, then carry on with the rest.
            if c.is_ascii() {
                out[pos] = c as u8;
                pos += 1;
            } else {
                let mut utf8 = [0u8; 4];
                let (r, _, w) = encoder.encode_from_utf8_without_replacement(
                    c.encode_utf8(&mut utf8),
                    &mut out[pos..pos + 2],
                    true,
                );
                if r != EncoderResult::InputEmpty
                    || w != 2
                    || (self == Self::EucKr
                        && !(is_ksx1001_byte(out[pos]) && is_ksx1001_byte(out[pos + 1])))
                {
                    return Err(refused);
                }
                pos += 2;
            }
            n_chars += 1;
        }
    }

    /// Checks `raw` byte by byte for this charset's structure; returns the offset of the first
    /// bad byte. Structure only: unassigned code points are caught by [`Charset::decode`].
    fn validate(self, raw: &[u8]) -> Result<(), (usize, DecodeErrorKind)> {
        let mut i = 0;
        while i < raw.len() {
            let b = raw[i];
            if b < 0x80 {
                if !is_printable_ascii(b) {
                    return Err((i, DecodeErrorKind::ControlByte { byte: b }));
                }
                i += 1;
                continue;
            }
            let malformed = DecodeErrorKind::Malformed { charset: self };
            let lead_ok = match self {
                Self::Ascii => false,
                Self::EucKr => is_ksx1001_byte(b),
                Self::Cp949 => (0x81..=0xFE).contains(&b),
            };
            if !lead_ok {
                return Err((i, malformed));
            }
            let Some(&t) = raw.get(i + 1) else {
                return Err((i, malformed));
            };
            let trail_ok = match self {
                Self::Ascii => false,
                Self::EucKr => is_ksx1001_byte(t),
                Self::Cp949 => matches!(t, 0x41..=0x5A | 0x61..=0x7A | 0x81..=0xFE),
            };
            if !trail_ok {
                return Err((i + 1, malformed));
            }
            i += 2;
        }
        Ok(())
    }

    /// Decodes `raw` (already stripped of padding) to a `String`; on failure returns the
    /// offset of the first offending byte within `raw`.
    pub(crate) fn decode(self, raw: &[u8]) -> Result<String, (usize, DecodeErrorKind)> {
        // Fast path for the common field of printable ASCII only: one branch-free pass (the
        // fold does not stop early, so it vectorises) instead of validate()'s byte loop.
        if raw.iter().fold(true, |ok, &b| ok & is_printable_ascii(b)) {
            return std::str::from_utf8(raw).map(str::to_owned).map_err(|e| {
                (
                    e.valid_up_to(),
                    DecodeErrorKind::Malformed { charset: self },
                )
            });
        }
        self.validate(raw)?;
        if raw.is_ascii() {
            // validate() accepted only printable ASCII, so this cannot fail.
            return std::str::from_utf8(raw).map(str::to_owned).map_err(|e| {
                (
                    e.valid_up_to(),
                    DecodeErrorKind::Malformed { charset: self },
                )
            });
        }
        let mut decoder = EUC_KR.new_decoder_without_bom_handling();
        let capacity = decoder
            .max_utf8_buffer_length_without_replacement(raw.len())
            .ok_or((0, DecodeErrorKind::Malformed { charset: self }))?;
        let mut out = String::with_capacity(capacity);
        let (result, read) = decoder.decode_to_string_without_replacement(raw, &mut out, true);
        match result {
            DecoderResult::InputEmpty => Ok(out),
            DecoderResult::Malformed(bad, extra) => {
                let at = read.saturating_sub(bad as usize + extra as usize);
                Err((at, DecodeErrorKind::Malformed { charset: self }))
            }
            DecoderResult::OutputFull => Err((read, DecodeErrorKind::Malformed { charset: self })),
        }
    }
}

impl fmt::Display for Charset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Charset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
            .ok_or_else(|| format!("unknown charset {s:?} (expected ascii, euc-kr or cp949)"))
    }
}

/// Printable ASCII: the only single bytes a text field may hold.
#[inline]
pub(crate) fn is_printable_ascii(b: u8) -> bool {
    (0x20..=0x7E).contains(&b)
}

/// Both bytes of a KS X 1001 character lie in 0xA1..=0xFE.
#[inline]
fn is_ksx1001_byte(b: u8) -> bool {
    (0xA1..=0xFE).contains(&b)
}

fn encoded_len_estimate(c: char) -> usize {
    if c.is_ascii() {
        1
    } else {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(cs: Charset, s: &str, width: usize) -> Result<Vec<u8>, EncodeErrorKind> {
        let mut out = vec![b' '; width];
        let n = cs.encode_chars(s.chars(), &mut out, false)?;
        out.truncate(n);
        Ok(out)
    }

    #[test]
    fn euc_kr_encodes_ksx1001_hangul() {
        // 홍길동 in KS X 1001, from the KS X 1001 code table.
        assert_eq!(
            enc(Charset::EucKr, "홍길동", 6).unwrap(),
            [0xC8, 0xAB, 0xB1, 0xE6, 0xB5, 0xBF]
        );
    }

    #[test]
    fn strict_euc_kr_refuses_uhc_only_syllable() {
        // 똠 exists only in the UHC extension (0x8C63), not in KS X 1001.
        let err = enc(Charset::EucKr, "똠", 2).unwrap_err();
        assert_eq!(
            err,
            EncodeErrorKind::Unmappable {
                ch: '똠',
                charset: Charset::EucKr
            }
        );
        assert_eq!(enc(Charset::Cp949, "똠", 2).unwrap(), [0x8C, 0x63]);
    }

    #[test]
    fn emoji_is_unmappable_everywhere() {
        for cs in [Charset::EucKr, Charset::Cp949, Charset::Ascii] {
            assert!(matches!(
                enc(cs, "a😀", 8),
                Err(EncodeErrorKind::Unmappable { ch: '😀', .. })
            ));
        }
    }

    #[test]
    fn too_long_reports_full_length() {
        let err = enc(Charset::EucKr, "가나다", 4).unwrap_err();
        assert_eq!(
            err,
            EncodeErrorKind::TooLong {
                width: 4,
                actual: 6
            }
        );
    }

    #[test]
    fn truncate_never_splits_a_character() {
        let mut out = [b' '; 5];
        let n = Charset::EucKr
            .encode_chars("가나다".chars(), &mut out, true)
            .unwrap();
        assert_eq!(n, 4);
        assert_eq!(out[4], b' ');
    }

    #[test]
    fn decode_points_at_bad_trail_byte() {
        // 0xB0 0x20: lead byte followed by a space.
        let err = Charset::EucKr.decode(&[b'A', 0xB0, 0x20]).unwrap_err();
        assert_eq!(err.0, 2);
        let err = Charset::Ascii.decode(b"ab\x01").unwrap_err();
        assert_eq!(err, (2, DecodeErrorKind::ControlByte { byte: 1 }));
    }

    #[test]
    fn strict_euc_kr_refuses_uhc_bytes_on_decode() {
        let err = Charset::EucKr.decode(&[0x8C, 0x63]).unwrap_err();
        assert_eq!(err.0, 0);
        assert_eq!(Charset::Cp949.decode(&[0x8C, 0x63]).unwrap(), "똠");
    }

    #[test]
    fn encode_hangul_matches_encode_chars() {
        let inputs = [
            "",
            "가",
            "홍길동",
            "급여이체",
            "A가B",
            "가나다라마",
            "똠",
            "가똠",
            "가\t",
            "\t가",
            "가나\u{1}",
            "ab가",
            "가 나",
            "가나다😀",
            "가😀",
            "😀",
            "abc",
            "가\u{7f}",
        ];
        for cs in [Charset::EucKr, Charset::Cp949] {
            for s in inputs {
                for width in 0..12 {
                    for truncate in [false, true] {
                        let mut a = vec![b' '; width];
                        let mut b = vec![b' '; width];
                        let ra = cs.encode_chars(s.chars(), &mut a, truncate);
                        let rb = cs.encode_hangul(s, &mut b, truncate);
                        assert_eq!(ra, rb, "{cs} {s:?} width {width} truncate {truncate}");
                        if let Ok(n) = ra {
                            assert_eq!(a[..n], b[..n], "{cs} {s:?} width {width}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn names_parse_back() {
        for cs in [Charset::Ascii, Charset::EucKr, Charset::Cp949] {
            assert_eq!(Charset::parse(cs.name()), Some(cs));
        }
        assert_eq!(Charset::parse("UHC"), Some(Charset::Cp949));
        assert_eq!(Charset::parse("latin1"), None);
    }
}
