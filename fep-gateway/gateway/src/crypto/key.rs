//! Key material: [`SecretKey`] (never shown: its `Debug` gives the length only) and how a key
//! file's or variable's bytes are read ([`KeyFormat`]). Reading the file or the environment is
//! the config loader's job; this module only parses bytes.

use std::fmt;

use cipher::zeroize::Zeroize;
use serde::Deserialize;

/// How the bytes of a key file or key variable encode the key (`key_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyFormat {
    /// Hexadecimal text (`00112233…`, either case); surrounding whitespace and a final
    /// newline are ignored.
    Hex,
    /// The bytes as they are (a binary file of exactly the key's length).
    Raw,
}

/// Why key bytes could not be read as a key. The messages never quote the key's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Nothing there.
    #[error("the key is empty")]
    Empty,
    /// Hex text of an odd number of digits.
    #[error("the hex key has an odd number of digits ({digits})")]
    OddHexLength {
        /// Digits found.
        digits: usize,
    },
    /// A character that is not a hex digit.
    #[error("the hex key has a character that is not a hex digit at position {at}")]
    NotHex {
        /// 0-based position in the trimmed text.
        at: usize,
    },
}

/// A key's bytes. Zeroed when dropped; `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    /// A key of these bytes.
    pub fn new(bytes: Vec<u8>) -> SecretKey {
        SecretKey(bytes)
    }

    /// Reads a key from the contents of a key file or variable in `format`.
    pub fn parse(format: KeyFormat, bytes: &[u8]) -> Result<SecretKey, KeyError> {
        let key = match format {
            KeyFormat::Raw => bytes.to_vec(),
            KeyFormat::Hex => {
                let text = bytes.trim_ascii();
                if !text.len().is_multiple_of(2) {
                    return Err(KeyError::OddHexLength { digits: text.len() });
                }
                let digit = |at: usize| -> Result<u8, KeyError> {
                    match text.get(at) {
                        Some(c @ b'0'..=b'9') => Ok(c - b'0'),
                        Some(c @ b'a'..=b'f') => Ok(c - b'a' + 10),
                        Some(c @ b'A'..=b'F') => Ok(c - b'A' + 10),
                        _ => Err(KeyError::NotHex { at }),
                    }
                };
                let mut out = Vec::with_capacity(text.len() / 2);
                for i in (0..text.len()).step_by(2) {
                    out.push(digit(i)? << 4 | digit(i + 1)?);
                }
                out
            }
        };
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(SecretKey(key))
    }

    /// The key's length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for a key of no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The key's bytes, for the key schedule only.
    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }

    /// `sha256:` and the first 8 hex digits of the key's SHA-256: enough to tell two keys
    /// apart (after a rotation), far too little to learn anything about the key.
    pub fn fingerprint(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.0);
        format!("sha256:{}", hex::encode(&digest.as_ref()[..4]))
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_keys_are_trimmed_and_either_case() {
        let k = SecretKey::parse(KeyFormat::Hex, b"  00ff10Ab\n").unwrap();
        assert_eq!(k.expose(), &[0x00, 0xff, 0x10, 0xab]);
        assert_eq!(k.len(), 4);
    }

    #[test]
    fn bad_hex_is_located_without_quoting_the_key() {
        let e = SecretKey::parse(KeyFormat::Hex, b"00fZ").unwrap_err();
        assert_eq!(e, KeyError::NotHex { at: 3 });
        assert!(!e.to_string().contains('Z'));
        assert_eq!(
            SecretKey::parse(KeyFormat::Hex, b"abc").unwrap_err(),
            KeyError::OddHexLength { digits: 3 }
        );
        assert_eq!(
            SecretKey::parse(KeyFormat::Hex, b" \n").unwrap_err(),
            KeyError::Empty
        );
        assert_eq!(
            SecretKey::parse(KeyFormat::Raw, b"").unwrap_err(),
            KeyError::Empty
        );
    }

    #[test]
    fn raw_keys_keep_every_byte_and_debug_shows_the_length_only() {
        let k = SecretKey::parse(KeyFormat::Raw, b"\n0123456789abcde").unwrap();
        assert_eq!(k.len(), 16);
        let shown = format!("{k:?}");
        assert_eq!(shown, "SecretKey(16 bytes)");
        assert!(k.fingerprint().starts_with("sha256:"));
        assert_eq!(k.fingerprint().len(), "sha256:".len() + 8);
    }

    /// What `xxd -r -p key.hex | sha256sum | cut -c1-8` prints (docs/security.md).
    #[test]
    fn the_fingerprint_is_the_start_of_the_keys_sha256() {
        let hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
        let k = SecretKey::parse(KeyFormat::Hex, hex.as_bytes()).unwrap();
        assert_eq!(k.fingerprint(), "sha256:630dcd29");
    }
}
