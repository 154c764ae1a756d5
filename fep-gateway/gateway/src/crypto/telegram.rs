//! [`TelegramCipher`]: one institution's cipher applied to whole telegrams.

use std::fmt;

use super::block::{Algorithm, Keyed, Mode, BLOCK};
use super::{CipherConfig, CipherError, IvSource, Padding, Scope};
use crate::domain::MsgKey;
use crate::profile::Span;

/// Encrypts and decrypts an institution's telegrams as its `[institution.encryption]` says.
///
/// The listed fields of a field scope are taken in offset order and processed as one message
/// (CBC chains from one field into the next, CTR's counter runs on), so two fields never
/// share a keystream within a telegram.
///
/// `Debug` shows the algorithm, mode, padding, IV rule, scope and a key fingerprint
/// (`sha256:` + 8 hex digits): never the key.
#[derive(Clone)]
pub struct TelegramCipher {
    algorithm: Algorithm,
    mode: Mode,
    padding: Padding,
    keyed: Keyed,
    iv: IvSource,
    scope: Scope,
    fingerprint: String,
}

impl TelegramCipher {
    /// A cipher for `config` over `scope`. Refuses what could not work on any telegram: a key
    /// of the wrong length, padding with CTR or with fields, CBC fields that are not whole
    /// blocks, overlapping fields, an IV field that is not 16 bytes or that lies in the
    /// encrypted part.
    pub fn new(config: &CipherConfig, scope: Scope) -> Result<TelegramCipher, CipherError> {
        let keyed = Keyed::new(config.algorithm, config.key.expose())?;
        let (mode, padding) = (config.mode, config.padding);
        if mode == Mode::Ctr && padding != Padding::None {
            return Err(CipherError::PaddingWithCtr { padding });
        }
        let scope = match scope {
            Scope::Body { offset } => Scope::Body { offset },
            Scope::Fields(spans) => Scope::Fields(checked_fields(spans, mode, padding)?),
            Scope::FieldsByMessage {
                key_fields,
                messages,
            } => {
                let mut checked = Vec::with_capacity(messages.len());
                for (key, spans) in messages {
                    checked.push((key, checked_fields(spans, mode, padding)?));
                }
                Scope::FieldsByMessage {
                    key_fields,
                    messages: checked,
                }
            }
        };
        if let IvSource::Field(iv) = config.iv {
            if iv.len != BLOCK {
                return Err(CipherError::IvFieldWidth {
                    offset: iv.offset,
                    len: iv.len,
                });
            }
            let overlaps = |s: &Span| s.offset < iv.offset + iv.len && iv.offset < s.offset + s.len;
            let encrypted = match &scope {
                Scope::Body { offset } => iv.offset + iv.len > *offset,
                Scope::Fields(spans) => spans.iter().any(overlaps),
                Scope::FieldsByMessage { messages, .. } => {
                    messages.iter().any(|(_, spans)| spans.iter().any(overlaps))
                }
            };
            if encrypted {
                return Err(CipherError::IvFieldEncrypted {
                    offset: iv.offset,
                    len: iv.len,
                });
            }
        }
        Ok(TelegramCipher {
            algorithm: config.algorithm,
            mode,
            padding,
            keyed,
            iv: config.iv.clone(),
            scope,
            fingerprint: config.key.fingerprint(),
        })
    }

    /// The block cipher.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The header field the IV is read from, when the IV rule is a field: the sender writes
    /// a fresh 16-byte value there before [`TelegramCipher::encrypt`].
    pub fn iv_field(&self) -> Option<Span> {
        match self.iv {
            IvSource::Field(s) => Some(s),
            _ => None,
        }
    }

    /// The key's fingerprint (`sha256:` + 8 hex digits), to tell keys apart in logs.
    pub fn key_fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The wire form of a complete, stamped telegram. With CBC over the body the result is
    /// longer (padding to whole blocks); otherwise it has the telegram's length.
    pub fn encrypt(&self, telegram: &[u8]) -> Result<Vec<u8>, CipherError> {
        let iv = self.iv_of(telegram)?;
        match self.spans_of(telegram) {
            Targets::Body(offset) => {
                let (header, body) = split_at_header(telegram, offset)?;
                let mut out = header.to_vec();
                match self.mode {
                    Mode::Cbc => {
                        let mut padded = self.padding.pad(body)?;
                        self.keyed.cbc_encrypt(&iv, &mut padded)?;
                        out.extend_from_slice(&padded);
                    }
                    Mode::Ctr => {
                        out.extend_from_slice(body);
                        self.keyed.ctr_apply(&iv, &mut out[offset..])?;
                    }
                }
                Ok(out)
            }
            Targets::Fields(spans) => self.fields(telegram, spans, &iv, true),
        }
    }

    /// The plaintext of a telegram as received. Errors (never a panic) when it cannot be
    /// decrypted: shorter than its header, not whole blocks, bad padding, IV field missing.
    pub fn decrypt(&self, wire: &[u8]) -> Result<Vec<u8>, CipherError> {
        let iv = self.iv_of(wire)?;
        match self.spans_of(wire) {
            Targets::Body(offset) => {
                let (header, body) = split_at_header(wire, offset)?;
                let mut out = header.to_vec();
                let mut body = body.to_vec();
                match self.mode {
                    Mode::Cbc => {
                        self.keyed.cbc_decrypt(&iv, &mut body)?;
                        let len = self.padding.unpadded_len(&body)?;
                        body.truncate(len);
                    }
                    Mode::Ctr => self.keyed.ctr_apply(&iv, &mut body)?,
                }
                out.extend_from_slice(&body);
                Ok(out)
            }
            Targets::Fields(spans) => self.fields(wire, spans, &iv, false),
        }
    }

    /// Encrypts (or decrypts) `spans` of `telegram` in place, as one message.
    fn fields(
        &self,
        telegram: &[u8],
        spans: &[Span],
        iv: &[u8; BLOCK],
        encrypt: bool,
    ) -> Result<Vec<u8>, CipherError> {
        let mut joined = Vec::with_capacity(spans.iter().map(|s| s.len).sum());
        for s in spans {
            let bytes = s.get(telegram).ok_or(CipherError::FieldMissing {
                offset: s.offset,
                len: s.len,
                telegram_len: telegram.len(),
            })?;
            joined.extend_from_slice(bytes);
        }
        match (self.mode, encrypt) {
            (Mode::Cbc, true) => self.keyed.cbc_encrypt(iv, &mut joined)?,
            (Mode::Cbc, false) => self.keyed.cbc_decrypt(iv, &mut joined)?,
            (Mode::Ctr, _) => self.keyed.ctr_apply(iv, &mut joined)?,
        }
        let mut out = telegram.to_vec();
        let mut at = 0;
        for s in spans {
            // Every span was read from `telegram` above, and `joined` is their concatenation.
            if let (Some(dst), Some(src)) = (
                out.get_mut(s.offset..s.offset + s.len),
                joined.get(at..at + s.len),
            ) {
                dst.copy_from_slice(src);
            }
            at += s.len;
        }
        Ok(out)
    }

    fn iv_of(&self, telegram: &[u8]) -> Result<[u8; BLOCK], CipherError> {
        match &self.iv {
            IvSource::Zero => Ok([0; BLOCK]),
            IvSource::Fixed(iv) => Ok(*iv),
            IvSource::Field(s) => s
                .get(telegram)
                .and_then(|b| <[u8; BLOCK]>::try_from(b).ok())
                .ok_or(CipherError::IvFieldMissing {
                    offset: s.offset,
                    len: s.len,
                    telegram_len: telegram.len(),
                }),
        }
    }

    fn spans_of(&self, telegram: &[u8]) -> Targets<'_> {
        match &self.scope {
            Scope::Body { offset } => Targets::Body(*offset),
            Scope::Fields(spans) => Targets::Fields(spans),
            Scope::FieldsByMessage {
                key_fields,
                messages,
            } => {
                let mut parts = Vec::with_capacity(key_fields.len());
                for f in key_fields {
                    match f.span.text(telegram) {
                        Some(p) => parts.push(p),
                        None => return Targets::Fields(&[]),
                    }
                }
                let key = MsgKey::from_parts(&parts);
                let spans = messages
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map_or(&[][..], |(_, s)| s.as_slice());
                Targets::Fields(spans)
            }
        }
    }
}

/// The part of one telegram to encrypt.
enum Targets<'a> {
    Body(usize),
    Fields(&'a [Span]),
}

fn split_at_header(telegram: &[u8], offset: usize) -> Result<(&[u8], &[u8]), CipherError> {
    if telegram.len() < offset {
        return Err(CipherError::ShorterThanHeader {
            len: telegram.len(),
            header: offset,
        });
    }
    Ok(telegram.split_at(offset))
}

/// Spans sorted by offset, refused when CBC cannot take them in place or they overlap.
fn checked_fields(
    mut spans: Vec<Span>,
    mode: Mode,
    padding: Padding,
) -> Result<Vec<Span>, CipherError> {
    if mode == Mode::Cbc && padding != Padding::None {
        return Err(CipherError::FieldsNeedNoPadding { padding });
    }
    spans.sort_by_key(|s| (s.offset, s.len));
    spans.dedup();
    for s in &spans {
        if mode == Mode::Cbc && (s.len == 0 || !s.len.is_multiple_of(BLOCK)) {
            return Err(CipherError::FieldNotBlockMultiple {
                offset: s.offset,
                len: s.len,
            });
        }
    }
    for w in spans.windows(2) {
        if w[0].offset + w[0].len > w[1].offset {
            return Err(CipherError::FieldsOverlap {
                first: w[0].offset,
                second: w[1].offset,
            });
        }
    }
    Ok(spans)
}

impl fmt::Debug for TelegramCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = match &self.scope {
            Scope::Body { offset } => format!("body from {offset}"),
            Scope::Fields(spans) => format!("{} fields", spans.len()),
            Scope::FieldsByMessage { messages, .. } => {
                format!("fields of {} messages", messages.len())
            }
        };
        f.debug_struct("TelegramCipher")
            .field("algorithm", &self.algorithm.as_str())
            .field("mode", &self.mode.as_str())
            .field("padding", &self.padding.as_str())
            .field("iv", &self.iv)
            .field("scope", &scope)
            .field("key", &self.fingerprint)
            .finish()
    }
}
