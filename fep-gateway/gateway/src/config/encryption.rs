//! `[institution.encryption]`: the table as written and its structural rules. Its resolution
//! into an [`EncryptionSettings`](crate::crypto::EncryptionSettings) (key read from its file or
//! variable, IV rule and scope located in the family's layouts) is in `resolve/encryption.rs`.

use std::path::PathBuf;

use serde::Deserialize;

use crate::crypto::{Algorithm, KeyFormat, Mode, Padding, SecretKey, BLOCK};

/// `[institution.encryption]`: how this institution's telegrams are encrypted on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    /// `aria-128` … `aria-256`, `aes-128` … `aes-256`.
    pub algorithm: Algorithm,
    /// `cbc` or `ctr`.
    pub mode: Mode,
    /// CBC: `pkcs7`, `zero` or `none` (required); CTR: absent or `none`.
    #[serde(default)]
    pub padding: Option<Padding>,
    /// File holding the key (relative paths from the config file's directory).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Environment variable holding the key (instead of `key_file`).
    #[serde(default)]
    pub key_env: Option<String>,
    /// How the key file or variable encodes the key: `hex` or `raw`.
    pub key_format: KeyFormat,
    /// `"zero"`, `{ hex = "…" }`, `{ file = "…" }` (read as `key_format` says) or
    /// `{ field = "header.iv" }` (a 16-byte header field whose bytes are the IV).
    pub iv: IvConfig,
    /// `"body"` (everything after the header) or `{ fields = ["path", …] }`.
    pub scope: ScopeConfig,
    /// Journal the decrypted view beside the wire bytes.
    #[serde(default)]
    pub journal_plaintext: bool,
}

/// `iv` as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IvConfig {
    /// Sixteen zero bytes.
    Zero,
    /// A fixed IV, 32 hex digits.
    Hex(String),
    /// A fixed IV in a file.
    File(PathBuf),
    /// A 16-byte header field, by path.
    Field(String),
}

/// `scope` as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeConfig {
    /// Everything after the header.
    Body,
    /// These fields (paths of the spec), in place.
    Fields(Vec<String>),
}

/// The structural rules: one key source, padding as the mode needs, a well-formed IV.
pub(super) fn validate(enc: &Encryption, p: &str, err: &mut impl FnMut(String, String)) {
    let p = format!("{p}.encryption");
    match (&enc.key_file, &enc.key_env) {
        (None, None) => err(
            p.clone(),
            "needs the key: key_file = \"path\" or key_env = \"VARIABLE\"".into(),
        ),
        (Some(_), Some(_)) => err(
            format!("{p}.key_env"),
            "give key_file or key_env, not both".into(),
        ),
        (None, Some(v)) if v.is_empty() => err(format!("{p}.key_env"), "must not be empty".into()),
        _ => {}
    }
    match (enc.mode, enc.padding) {
        (Mode::Cbc, None) => err(
            p.clone(),
            "cbc needs padding = \"pkcs7\", \"zero\" or \"none\"".into(),
        ),
        (Mode::Ctr, Some(pad)) if pad != Padding::None => err(
            format!("{p}.padding"),
            format!("ctr keeps the length and takes no padding (got \"{pad}\"): remove it"),
        ),
        (Mode::Cbc, Some(pad)) if pad != Padding::None && enc.scope != ScopeConfig::Body => err(
            format!("{p}.padding"),
            format!("fields are encrypted in place, so padding must be \"none\" (got \"{pad}\")"),
        ),
        _ => {}
    }
    if let IvConfig::Hex(text) = &enc.iv {
        if let Err(m) = fixed_iv(KeyFormat::Hex, text.as_bytes()) {
            err(format!("{p}.iv.hex"), m);
        }
    }
    if let ScopeConfig::Fields(fields) = &enc.scope {
        if fields.is_empty() {
            err(
                format!("{p}.scope.fields"),
                "list at least one field".into(),
            );
        }
    }
}

/// A fixed IV from text or file bytes: 16 bytes.
pub(super) fn fixed_iv(format: KeyFormat, bytes: &[u8]) -> Result<[u8; BLOCK], String> {
    let iv = SecretKey::parse(format, bytes).map_err(|e| format!("IV: {e}"))?;
    <[u8; BLOCK]>::try_from(iv.expose())
        .map_err(|_| format!("the IV must be {BLOCK} bytes, it has {}", iv.len()))
}
