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

    /// The layout of the (first) variant selected by `key`, if any.
    fn layout_for_key(key: &[&str]) -> Option<&'static Layout>;

    /// Every variant's `when` conditions — (header field, value) pairs that tell apart
    /// variants sharing a key, e.g. `[("sr_flag", "6")]` — in declaration order; an empty
    /// list when the key alone selects the variant.
    fn conditions() -> &'static [&'static [(&'static str, &'static str)]] {
        &[]
    }

    /// This value's variant index (declaration order, as [`TelegramFamily::keys`]).
    fn variant_index(&self) -> usize {
        let key = self.key();
        Self::keys().iter().position(|k| *k == key).unwrap_or(0)
    }

    /// This value's `when` conditions (empty when its key alone selects it).
    fn condition(&self) -> &'static [(&'static str, &'static str)] {
        Self::conditions()
            .get(self.variant_index())
            .copied()
            .unwrap_or(&[])
    }

    /// The layout of the variant at `index` (declaration order, as [`TelegramFamily::keys`]).
    fn variant_layout(index: usize) -> Option<&'static Layout> {
        Self::keys()
            .get(index)
            .and_then(|k| Self::layout_for_key(k))
    }
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

/// The resolved selector fields of a family, or why they could not be resolved.
pub type KeyCache = OnceLock<Result<Vec<KeyField>, String>>;

fn resolved<'c>(
    cache: &'c KeyCache,
    header: fn() -> &'static Layout,
    names: &[&'static str],
) -> Result<&'c [KeyField], &'c String> {
    cache
        .get_or_init(|| resolve_keys(header(), names))
        .as_ref()
        .map(Vec::as_slice)
}

/// Writes a variant's selector values (its key, then its `when` values; `None` leaves a field
/// as encoded) into the telegram just encoded at `start`, so the bytes always decode back to
/// the variant they were encoded from, whatever the header's fields held.
pub fn write_key(
    cache: &'static KeyCache,
    header: fn() -> &'static Layout,
    names: &[&'static str],
    pattern: &[Option<&str>],
    buf: &mut [u8],
    start: usize,
) -> Result<(), crate::EncodeError> {
    let fields = resolved(cache, header, names).map_err(|reason| {
        crate::EncodeError::new(
            crate::EncodeErrorKind::Unsupported {
                reason: reason.clone(),
            },
            "",
            None,
        )
    })?;
    for (f, k) in fields.iter().zip(pattern) {
        let Some(k) = k else { continue };
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

/// Finds which of `patterns` the frame starting at `pos` carries (the first whose every
/// `Some` value its selector field holds); the index into `patterns`.
pub fn select(
    cache: &'static KeyCache,
    header: fn() -> &'static Layout,
    names: &[&'static str],
    patterns: &[&[Option<&str>]],
    input: &[u8],
    pos: usize,
) -> Result<usize, DecodeError> {
    let fields = resolved(cache, header, names).map_err(|reason| {
        DecodeError::new(
            DecodeErrorKind::UnknownKey {
                key: reason.clone(),
            },
            "",
            pos,
            &[],
        )
    })?;
    // Every selector field must be there: a short frame reports its first missing byte.
    for f in fields {
        crate::field::take(input, pos + f.offset, f.len, f.name)?;
    }
    let raw = |f: &KeyField| &input[pos + f.offset..pos + f.offset + f.len];
    for (i, pattern) in patterns.iter().enumerate() {
        if fields
            .iter()
            .zip(pattern.iter())
            .all(|(f, k)| k.is_none_or(|k| f.holds(raw(f), k)))
        {
            return Ok(i);
        }
    }
    let shown: Vec<String> = fields
        .iter()
        .map(|f| String::from_utf8_lossy(raw(f)).trim().to_owned())
        .collect();
    let (name, at, bytes) = fields
        .first()
        .map_or(("", pos, &[][..]), |f| (f.name, pos + f.offset, raw(f)));
    Err(DecodeError::new(
        DecodeErrorKind::UnknownKey {
            key: shown.join("/"),
        },
        name,
        at,
        bytes,
    ))
}
