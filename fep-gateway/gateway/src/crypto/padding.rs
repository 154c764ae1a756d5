//! CBC padding: PKCS#7, zero bytes, or none (the data must already be whole blocks).

use std::fmt;

use serde::Deserialize;

use super::block::BLOCK;
use super::CipherError;

/// How CBC fills the last block (`padding` in `[institution.encryption]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// PKCS#7 (RFC 5652 §6.3): 1 to 16 bytes each holding the pad length; always added, so a
    /// block-aligned body grows by a whole block. Checked strictly on decryption.
    Pkcs7,
    /// Zero bytes up to the next block boundary, none when already aligned; decryption strips
    /// the trailing zero bytes of the last block (at most 15), so the plaintext must not end
    /// in a zero byte (text telegrams never do).
    Zero,
    /// No padding: the data must be a whole number of blocks.
    None,
}

impl Padding {
    /// The name as written in the config (`pkcs7`).
    pub fn as_str(self) -> &'static str {
        match self {
            Padding::Pkcs7 => "pkcs7",
            Padding::Zero => "zero",
            Padding::None => "none",
        }
    }

    /// `data` padded to whole blocks.
    pub(crate) fn pad(self, data: &[u8]) -> Result<Vec<u8>, CipherError> {
        let rem = data.len() % BLOCK;
        let pad = match self {
            Padding::Pkcs7 => BLOCK - rem,
            Padding::Zero if rem == 0 => 0,
            Padding::Zero => BLOCK - rem,
            Padding::None if rem == 0 => 0,
            Padding::None => return Err(CipherError::NotBlockMultiple { len: data.len() }),
        };
        let mut out = Vec::with_capacity(data.len() + pad);
        out.extend_from_slice(data);
        // `pad` is 1..=16 for PKCS#7: it fits a byte.
        let fill = if self == Padding::Pkcs7 { pad as u8 } else { 0 };
        out.resize(data.len() + pad, fill);
        Ok(out)
    }

    /// The length of `data` (decrypted whole blocks) without its padding.
    pub(crate) fn unpadded_len(self, data: &[u8]) -> Result<usize, CipherError> {
        if !data.len().is_multiple_of(BLOCK) {
            return Err(CipherError::NotBlockMultiple { len: data.len() });
        }
        match self {
            Padding::None => Ok(data.len()),
            Padding::Zero => {
                let zeros = data
                    .iter()
                    .rev()
                    .take(BLOCK - 1)
                    .take_while(|b| **b == 0)
                    .count();
                Ok(data.len() - zeros)
            }
            Padding::Pkcs7 => {
                let Some(&last) = data.last() else {
                    return Err(CipherError::BadPadding);
                };
                let n = usize::from(last);
                if n == 0 || n > BLOCK || n > data.len() {
                    return Err(CipherError::BadPadding);
                }
                if data[data.len() - n..].iter().any(|b| *b != last) {
                    return Err(CipherError::BadPadding);
                }
                Ok(data.len() - n)
            }
        }
    }
}

impl fmt::Display for Padding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs7_adds_a_whole_block_to_aligned_data_and_checks_every_pad_byte() {
        let padded = Padding::Pkcs7.pad(&[7; 16]).unwrap();
        assert_eq!(padded.len(), 32);
        assert!(padded[16..].iter().all(|b| *b == 16));
        assert_eq!(Padding::Pkcs7.unpadded_len(&padded).unwrap(), 16);
        let mut bad = padded.clone();
        bad[20] = 15;
        assert!(matches!(
            Padding::Pkcs7.unpadded_len(&bad),
            Err(CipherError::BadPadding)
        ));
        let mut zero = padded;
        zero[31] = 0;
        assert!(matches!(
            Padding::Pkcs7.unpadded_len(&zero),
            Err(CipherError::BadPadding)
        ));
        let mut big = vec![0u8; 16];
        big[15] = 17;
        assert!(Padding::Pkcs7.unpadded_len(&big).is_err());
        assert!(Padding::Pkcs7.unpadded_len(&[]).is_err());
    }

    #[test]
    fn zero_padding_pads_only_when_needed_and_strips_at_most_fifteen_zeros() {
        assert_eq!(Padding::Zero.pad(b"abc").unwrap().len(), 16);
        assert_eq!(Padding::Zero.pad(&[1; 32]).unwrap().len(), 32);
        assert_eq!(Padding::Zero.unpadded_len(&[0; 32]).unwrap(), 17);
        let mut d = vec![b'x'; 16];
        d[10..].fill(0);
        assert_eq!(Padding::Zero.unpadded_len(&d).unwrap(), 10);
    }

    #[test]
    fn no_padding_refuses_partial_blocks() {
        assert!(matches!(
            Padding::None.pad(&[1; 17]),
            Err(CipherError::NotBlockMultiple { len: 17 })
        ));
        assert!(matches!(
            Padding::None.unpadded_len(&[1; 15]),
            Err(CipherError::NotBlockMultiple { len: 15 })
        ));
        assert_eq!(Padding::None.pad(&[]).unwrap().len(), 0);
    }
}
