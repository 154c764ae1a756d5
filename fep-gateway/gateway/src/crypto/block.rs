//! The keyed block ciphers (ARIA and AES, RustCrypto) and the two modes on top of them (CBC
//! from the `cbc` crate, CTR from the `ctr` crate with a 128-bit big-endian counter, as in
//! NIST SP 800-38A). Everything here works on whole buffers the caller has sized: padding and
//! telegram layout are the business of [`super::padding`] and [`super::TelegramCipher`].

use std::fmt;

use cipher::array::Array;
use cipher::consts::U16;
use cipher::{
    BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, BlockSizeUser,
    InnerIvInit, KeyInit, StreamCipher,
};
use serde::Deserialize;

use super::CipherError;

/// The block size of every supported cipher (ARIA and AES): 16 bytes.
pub const BLOCK: usize = 16;

/// A block cipher and key size (`algorithm` in `[institution.encryption]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Algorithm {
    /// ARIA with a 128-bit key (RFC 5794).
    #[serde(rename = "aria-128")]
    Aria128,
    /// ARIA with a 192-bit key.
    #[serde(rename = "aria-192")]
    Aria192,
    /// ARIA with a 256-bit key.
    #[serde(rename = "aria-256")]
    Aria256,
    /// AES with a 128-bit key (FIPS 197).
    #[serde(rename = "aes-128")]
    Aes128,
    /// AES with a 192-bit key.
    #[serde(rename = "aes-192")]
    Aes192,
    /// AES with a 256-bit key.
    #[serde(rename = "aes-256")]
    Aes256,
}

impl Algorithm {
    /// Every algorithm offered.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Aria128,
        Algorithm::Aria192,
        Algorithm::Aria256,
        Algorithm::Aes128,
        Algorithm::Aes192,
        Algorithm::Aes256,
    ];

    /// The key length the algorithm takes, in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Algorithm::Aria128 | Algorithm::Aes128 => 16,
            Algorithm::Aria192 | Algorithm::Aes192 => 24,
            Algorithm::Aria256 | Algorithm::Aes256 => 32,
        }
    }

    /// The name as written in the config (`aria-256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Aria128 => "aria-128",
            Algorithm::Aria192 => "aria-192",
            Algorithm::Aria256 => "aria-256",
            Algorithm::Aes128 => "aes-128",
            Algorithm::Aes192 => "aes-192",
            Algorithm::Aes256 => "aes-256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A block cipher mode (`mode` in `[institution.encryption]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Cipher block chaining: the data is a whole number of blocks (padding makes it one).
    Cbc,
    /// Counter mode (128-bit big-endian counter starting at the IV): keeps the length.
    Ctr,
}

impl Mode {
    /// The name as written in the config (`cbc`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Cbc => "cbc",
            Mode::Ctr => "ctr",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An expanded key: the cipher's key schedule (the key itself is not kept). Each cipher
/// zeroizes its schedule when dropped.
#[derive(Clone)]
pub(crate) enum Keyed {
    Aria128(aria::Aria128),
    Aria192(aria::Aria192),
    Aria256(aria::Aria256),
    Aes128(aes::Aes128),
    Aes192(aes::Aes192),
    Aes256(aes::Aes256),
}

/// Runs `$body` with `$c` bound to the concrete cipher of `$keyed`.
macro_rules! with_cipher {
    ($keyed:expr, $c:ident => $body:expr) => {
        match $keyed {
            Keyed::Aria128($c) => $body,
            Keyed::Aria192($c) => $body,
            Keyed::Aria256($c) => $body,
            Keyed::Aes128($c) => $body,
            Keyed::Aes192($c) => $body,
            Keyed::Aes256($c) => $body,
        }
    };
}

/// What the mode functions need of a cipher.
trait Cipher16:
    BlockCipherEncrypt + BlockCipherDecrypt + BlockSizeUser<BlockSize = U16> + Clone
{
}

impl<C> Cipher16 for C where
    C: BlockCipherEncrypt + BlockCipherDecrypt + BlockSizeUser<BlockSize = U16> + Clone
{
}

impl Keyed {
    /// Expands `key` for `algorithm`; the key must have the algorithm's length.
    pub(crate) fn new(algorithm: Algorithm, key: &[u8]) -> Result<Keyed, CipherError> {
        let bad = || CipherError::KeyLength {
            algorithm,
            expected: algorithm.key_len(),
            got: key.len(),
        };
        if key.len() != algorithm.key_len() {
            return Err(bad());
        }
        Ok(match algorithm {
            Algorithm::Aria128 => Keyed::Aria128(KeyInit::new_from_slice(key).map_err(|_| bad())?),
            Algorithm::Aria192 => Keyed::Aria192(KeyInit::new_from_slice(key).map_err(|_| bad())?),
            Algorithm::Aria256 => Keyed::Aria256(KeyInit::new_from_slice(key).map_err(|_| bad())?),
            Algorithm::Aes128 => Keyed::Aes128(KeyInit::new_from_slice(key).map_err(|_| bad())?),
            Algorithm::Aes192 => Keyed::Aes192(KeyInit::new_from_slice(key).map_err(|_| bad())?),
            Algorithm::Aes256 => Keyed::Aes256(KeyInit::new_from_slice(key).map_err(|_| bad())?),
        })
    }

    /// Encrypts one block in place (the raw cipher, ECB on one block: for test vectors).
    #[cfg(test)]
    pub(crate) fn encrypt_block(&self, block: &mut [u8; BLOCK]) {
        let b = <&mut Array<u8, U16>>::from(block);
        with_cipher!(self, c => c.encrypt_block(b));
    }

    /// Decrypts one block in place.
    #[cfg(test)]
    pub(crate) fn decrypt_block(&self, block: &mut [u8; BLOCK]) {
        let b = <&mut Array<u8, U16>>::from(block);
        with_cipher!(self, c => c.decrypt_block(b));
    }

    /// CBC-encrypts `data` in place; its length must be a multiple of [`BLOCK`].
    pub(crate) fn cbc_encrypt(&self, iv: &[u8; BLOCK], data: &mut [u8]) -> Result<(), CipherError> {
        with_cipher!(self, c => cbc_encrypt(c, iv, data))
    }

    /// CBC-decrypts `data` in place; its length must be a multiple of [`BLOCK`].
    pub(crate) fn cbc_decrypt(&self, iv: &[u8; BLOCK], data: &mut [u8]) -> Result<(), CipherError> {
        with_cipher!(self, c => cbc_decrypt(c, iv, data))
    }

    /// Applies the CTR keystream starting at counter block `iv` to `data` (encrypts and
    /// decrypts alike).
    pub(crate) fn ctr_apply(&self, iv: &[u8; BLOCK], data: &mut [u8]) -> Result<(), CipherError> {
        with_cipher!(self, c => ctr_apply(c, iv, data))
    }
}

fn whole_blocks(data: &mut [u8]) -> Result<&mut [Array<u8, U16>], CipherError> {
    let len = data.len();
    let (blocks, rest) = Array::<u8, U16>::slice_as_chunks_mut(data);
    if !rest.is_empty() {
        return Err(CipherError::NotBlockMultiple { len });
    }
    Ok(blocks)
}

fn cbc_encrypt<C: Cipher16>(c: &C, iv: &[u8; BLOCK], data: &mut [u8]) -> Result<(), CipherError> {
    let blocks = whole_blocks(data)?;
    let mut mode = cbc::Encryptor::<C>::inner_iv_init(c.clone(), <&Array<u8, U16>>::from(iv));
    mode.encrypt_blocks(blocks);
    Ok(())
}

fn cbc_decrypt<C: Cipher16>(c: &C, iv: &[u8; BLOCK], data: &mut [u8]) -> Result<(), CipherError> {
    let blocks = whole_blocks(data)?;
    let mut mode = cbc::Decryptor::<C>::inner_iv_init(c.clone(), <&Array<u8, U16>>::from(iv));
    mode.decrypt_blocks(blocks);
    Ok(())
}

fn ctr_apply<C: Cipher16>(c: &C, iv: &[u8; BLOCK], data: &mut [u8]) -> Result<(), CipherError> {
    let core = ctr::CtrCore::<C, ctr::flavors::Ctr128BE>::inner_iv_init(
        c.clone(),
        <&Array<u8, U16>>::from(iv),
    );
    let mut mode = ctr::Ctr128BE::<C>::from_core(core);
    mode.try_apply_keystream(data)
        .map_err(|_| CipherError::KeystreamExhausted { len: data.len() })
}
