//! Telegram and field encryption per institution (`[institution.encryption]`), as a family or
//! a contract requires: ARIA-128/192/256 or AES-128/192/256, in CBC (with PKCS#7, zero or no
//! padding) or CTR, over the body after the header or over listed fields. I/O-free: the key
//! arrives as bytes ([`SecretKey`]); the config loader reads key files and variables.
//!
//! SEED (KISA) is not offered: crates.io has no maintained RustCrypto-style `seed` or
//! `kisa-seed` block cipher crate (the `seed` crate is a web framework), and a hand-written
//! cipher is not something to ship in a payment gateway.
//!
//! # Where the engine calls it (`institution/actor/wire.rs`)
//!
//! [`InstitutionSettings::encryption`](crate::settings::InstitutionSettings::encryption) is
//! `Some(EncryptionSettings)` when the institution has an `[institution.encryption]` table.
//!
//! * **Outbound** (requests, session telegrams, inquiries, acknowledgements — every telegram
//!   the gateway writes to this institution, polls excepted): after the telegram is complete
//!   and stamped (전문번호, 전송일자, 전송시간, header constants, and the IV field when the IV
//!   rule is [`IvSource::Field`]: the gateway must write a fresh value there first), call
//!   [`TelegramCipher::encrypt`] and journal **its result** (what goes on the wire); then
//!   frame and send those bytes. With CBC over the body the length changes (padding): frame
//!   the new length. When [`EncryptionSettings::journal_plaintext`] is true, journal the
//!   plaintext too, as the decrypted view; otherwise only the wire bytes are kept.
//! * **Inbound** (every frame but polls): call [`TelegramCipher::decrypt`] on the frame
//!   before [`Profile::classify`](crate::profile::Profile::classify) and before reading any
//!   field; journal the frame as received (wire bytes), the plaintext only when
//!   `journal_plaintext`. A decryption error (bad padding, wrong length, IV field missing)
//!   means the frame cannot be read: log the error's message (it names no key material),
//!   count it, and treat the frame as unreadable (`FrameKind::Other`); never answer it.
//! * The correlation key, message key and response code are read from the **plaintext**.
//!   The header is never encrypted with `scope = "body"`, and a field scope never covers the
//!   header's key fields (refused at config time), so routing works on either view.
//!
//! Both calls are pure functions of their input and the configuration: safe to call from any
//! task, never panicking, whatever the bytes.

use std::fmt;

use crate::domain::MsgKey;
use crate::profile::{FieldSpan, Span};

mod block;
mod key;
mod padding;
mod telegram;

pub use block::{Algorithm, Mode, BLOCK};
pub use key::{KeyError, KeyFormat, SecretKey};
pub use padding::Padding;
pub use telegram::TelegramCipher;

/// What went wrong building a cipher, encrypting or decrypting. No message quotes key bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// The key does not have the algorithm's length.
    #[error("{algorithm} needs a {expected}-byte key, the key has {got} bytes")]
    KeyLength {
        /// The algorithm.
        algorithm: Algorithm,
        /// Bytes it needs.
        expected: usize,
        /// Bytes the key has.
        got: usize,
    },
    /// A fixed IV that is not one block long.
    #[error("the IV must be {BLOCK} bytes, it has {got}")]
    IvLength {
        /// Bytes given.
        got: usize,
    },
    /// An IV field that is not one block wide.
    #[error("the IV field (offset {offset}) must be {BLOCK} bytes wide, it is {len}")]
    IvFieldWidth {
        /// Offset of the field.
        offset: usize,
        /// Its width.
        len: usize,
    },
    /// The IV field lies where the data is encrypted: the receiver could not read it.
    #[error("the IV field (offset {offset}, {len} bytes) lies inside the encrypted part")]
    IvFieldEncrypted {
        /// Offset of the field.
        offset: usize,
        /// Its width.
        len: usize,
    },
    /// The telegram ends before its IV field does.
    #[error(
        "IV field missing: the telegram has {telegram_len} bytes, the IV field is at \
         {offset}..{}", offset + len
    )]
    IvFieldMissing {
        /// Offset of the field.
        offset: usize,
        /// Its width.
        len: usize,
        /// The telegram's length.
        telegram_len: usize,
    },
    /// The telegram ends before a field to encrypt or decrypt does.
    #[error(
        "field missing: the telegram has {telegram_len} bytes, the field is at \
         {offset}..{}", offset + len
    )]
    FieldMissing {
        /// Offset of the field.
        offset: usize,
        /// Its width.
        len: usize,
        /// The telegram's length.
        telegram_len: usize,
    },
    /// The telegram is shorter than its header.
    #[error("the telegram has {len} bytes, less than its {header}-byte header")]
    ShorterThanHeader {
        /// The telegram's length.
        len: usize,
        /// The header's length (where the body starts).
        header: usize,
    },
    /// CBC data (a ciphertext, or a plaintext with `padding = "none"`) of a partial block.
    #[error("length {len} is not a multiple of the {BLOCK}-byte block")]
    NotBlockMultiple {
        /// The data's length.
        len: usize,
    },
    /// The decrypted padding is not valid PKCS#7: a wrong key or IV, or a damaged telegram.
    #[error("bad padding after decryption (wrong key or IV, or a damaged telegram)")]
    BadPadding,
    /// A field CBC cannot encrypt in place: its width is not a whole number of blocks.
    #[error(
        "the field at offset {offset} is {len} bytes wide: CBC encrypts fields in place only \
         when they are a multiple of {BLOCK} bytes (use ctr, or a wider field)"
    )]
    FieldNotBlockMultiple {
        /// Offset of the field.
        offset: usize,
        /// Its width.
        len: usize,
    },
    /// Padding would change a field's width.
    #[error("fields are encrypted in place: padding must be \"none\" (it is \"{padding}\")")]
    FieldsNeedNoPadding {
        /// The padding configured.
        padding: Padding,
    },
    /// CTR keeps the length and takes no padding.
    #[error("ctr takes no padding (padding = \"{padding}\"): leave it out or set \"none\"")]
    PaddingWithCtr {
        /// The padding configured.
        padding: Padding,
    },
    /// Two fields to encrypt overlap.
    #[error("the fields at offsets {first} and {second} overlap")]
    FieldsOverlap {
        /// Offset of one.
        first: usize,
        /// Offset of the other.
        second: usize,
    },
    /// The CTR keystream would repeat (never for telegram sizes).
    #[error("{len} bytes exceed what the CTR counter can cover")]
    KeystreamExhausted {
        /// The data's length.
        len: usize,
    },
}

/// Where the IV comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum IvSource {
    /// Sixteen zero bytes (what many bank contracts specify; identical plaintexts then give
    /// identical ciphertexts, and CTR reuses its keystream: prefer a field).
    Zero,
    /// A fixed IV agreed with the institution.
    Fixed([u8; BLOCK]),
    /// The bytes of a 16-byte header field (written by the sender, read in clear).
    Field(Span),
}

impl fmt::Debug for IvSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IvSource::Zero => f.write_str("zero"),
            // An IV is not secret, but there is no reason to print it.
            IvSource::Fixed(_) => f.write_str("fixed"),
            IvSource::Field(s) => write!(f, "field@{}+{}", s.offset, s.len),
        }
    }
}

/// A cipher's settings, the key included.
#[derive(Debug, Clone)]
pub struct CipherConfig {
    /// Block cipher and key size.
    pub algorithm: Algorithm,
    /// CBC or CTR.
    pub mode: Mode,
    /// CBC padding (must be [`Padding::None`] for CTR and for field scopes).
    pub padding: Padding,
    /// The key (the algorithm's length).
    pub key: SecretKey,
    /// The IV rule.
    pub iv: IvSource,
}

/// What part of a telegram is encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything from `offset` (the header's length, from the family's header layout) on.
    Body {
        /// Where the body starts.
        offset: usize,
    },
    /// These fields of every telegram, in place.
    Fields(Vec<Span>),
    /// Fields that depend on the message: the message key is read from `key_fields` (in
    /// clear), and a telegram whose key is not listed is left as it is.
    FieldsByMessage {
        /// The header's message key fields (the profile's `key_fields`).
        key_fields: Vec<FieldSpan>,
        /// Each message key with the spans of its listed fields.
        messages: Vec<(MsgKey, Vec<Span>)>,
    },
}

/// An institution's encryption as the engine reads it.
#[derive(Debug, Clone)]
pub struct EncryptionSettings {
    /// Encrypts what is sent, decrypts what is received.
    pub cipher: TelegramCipher,
    /// Journal the decrypted view beside the wire bytes (`journal_plaintext`).
    pub journal_plaintext: bool,
}

#[cfg(test)]
mod tests;
