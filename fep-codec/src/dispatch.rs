//! Message dispatch: pick a family member from its header's key fields in one look at the bytes.
//!
//! The derive on an enum resolves each key field's offset and width from the header's layout
//! once, then compares the raw key bytes of every incoming frame against each variant's key —
//! no trial decoding, and the header is decoded exactly once (by the chosen variant).

use std::sync::OnceLock;

use crate::error::{DecodeError, DecodeErrorKind};
use crate::layout::{FieldKind, Layout};
use crate::Telegram;

/// A family of telegrams that share a header whose key fields select the variant.
///
/// Implemented by `#[derive(Telegram)]` on an enum; see the crate docs for the syntax.
pub trait TelegramFamily: Telegram {
    /// Names of the header's key fields, e.g. `["msg_type", "biz_type"]`.
    const KEY_FIELDS: &'static [&'static str];

    /// Every variant's key, in declaration order.
    fn keys() -> &'static [&'static [&'static str]];

    /// This value's key, e.g. `["2000", "100"]`.
    fn key(&self) -> &'static [&'static str];

    /// The layout of the variant selected by `key`, if any.
    fn layout_for_key(key: &[&str]) -> Option<&'static Layout>;
}

/// Where one key field sits in the header, resolved from the header's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyField {
    name: &'static str,
    offset: usize,
    len: usize,
    right_aligned: bool,
}

impl KeyField {
    /// True when `raw` (the field's bytes) holds `key` formatted as this field formats it.
    fn holds(&self, raw: &[u8], key: &str) -> bool {
        key_holds(raw, key, self.right_aligned)
    }
}

/// True when a key field's bytes `raw` hold `key`: zero-padded on the left for N fields,
/// space-padded on the right for AN fields.
pub(crate) fn key_holds(raw: &[u8], key: &str, right_aligned: bool) -> bool {
    let key = key.as_bytes();
    if key.len() > raw.len() {
        return false;
    }
    let pad = raw.len() - key.len();
    if right_aligned {
        raw[..pad].iter().all(|&b| b == b'0') && &raw[pad..] == key
    } else {
        &raw[..key.len()] == key && raw[key.len()..].iter().all(|&b| b == b' ')
    }
}

/// Resolves key field names against the header layout (once per family, cached by the caller).
pub fn resolve_keys(header: &Layout, names: &[&'static str]) -> Result<Vec<KeyField>, String> {
    names
        .iter()
        .map(|&name| {
            let f = header.field(name).ok_or_else(|| {
                format!("key field `{name}` is not in header `{}`", header.name())
            })?;
            match (f.offset, f.len) {
                (Some(offset), Some(len)) => Ok(KeyField {
                    name,
                    offset,
                    len,
                    right_aligned: !matches!(f.kind, FieldKind::Text | FieldKind::Raw),
                }),
                _ => Err(format!(
                    "key field `{name}` has no fixed offset in `{}`",
                    header.name()
                )),
            }
        })
        .collect()
}

/// Writes a variant's key into the telegram just encoded at `start`, so the bytes always decode
/// back to the variant they were encoded from, whatever the header's key fields held.
pub fn write_key(
    cache: &'static OnceLock<Result<Vec<KeyField>, String>>,
    header: fn() -> &'static Layout,
    names: &[&'static str],
    key: &[&str],
    buf: &mut [u8],
    start: usize,
) -> Result<(), crate::EncodeError> {
    let fields = cache
        .get_or_init(|| resolve_keys(header(), names))
        .as_ref()
        .map_err(|reason| {
            crate::EncodeError::new(
                crate::EncodeErrorKind::Unsupported {
                    reason: reason.clone(),
                },
                "",
                None,
            )
        })?;
    for (f, k) in fields.iter().zip(key) {
        let too_long = || {
            crate::EncodeError::new(
                crate::EncodeErrorKind::TooLong {
                    width: f.len,
                    actual: k.len(),
                },
                f.name,
                Some(f.offset),
            )
        };
        let slot = buf
            .get_mut(start + f.offset..start + f.offset + f.len)
            .ok_or_else(too_long)?;
        let k = k.as_bytes();
        if k.len() > slot.len() {
            return Err(too_long());
        }
        let pad = slot.len() - k.len();
        if f.right_aligned {
            slot[..pad].fill(b'0');
            slot[pad..].copy_from_slice(k);
        } else {
            slot[..k.len()].copy_from_slice(k);
            slot[k.len()..].fill(b' ');
        }
    }
    Ok(())
}

/// Finds which of `keys` the frame starting at `pos` carries; the index into `keys`.
pub fn select(
    cache: &'static OnceLock<Result<Vec<KeyField>, String>>,
    header: fn() -> &'static Layout,
    names: &[&'static str],
    keys: &[&[&str]],
    input: &[u8],
    pos: usize,
) -> Result<usize, DecodeError> {
    let fields = cache
        .get_or_init(|| resolve_keys(header(), names))
        .as_ref()
        .map_err(|reason| {
            DecodeError::new(
                DecodeErrorKind::UnknownKey {
                    key: reason.clone(),
                },
                "",
                pos,
                &[],
            )
        })?;
    let mut raws = Vec::with_capacity(fields.len());
    for f in fields {
        raws.push(crate::field::take(input, pos + f.offset, f.len, f.name)?);
    }
    for (i, key) in keys.iter().enumerate() {
        if fields
            .iter()
            .zip(key.iter())
            .zip(&raws)
            .all(|((f, k), raw)| f.holds(raw, k))
        {
            return Ok(i);
        }
    }
    let shown: Vec<String> = raws
        .iter()
        .map(|r| String::from_utf8_lossy(r).trim().to_owned())
        .collect();
    let (name, at) = fields
        .first()
        .map_or(("", pos), |f| (f.name, pos + f.offset));
    Err(DecodeError::new(
        DecodeErrorKind::UnknownKey {
            key: shown.join("/"),
        },
        name,
        at,
        raws.first().copied().unwrap_or_default(),
    ))
}
