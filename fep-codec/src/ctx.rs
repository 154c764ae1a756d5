//! The context a telegram's encode and decode carry through nested structs.
//!
//! A field declared as the length of the *outermost* telegram (`auto_len = "telegram"`, e.g.
//! KIBNET's LENGTH as field 1 of a nested 공통부) cannot be filled or checked by the struct it
//! sits in: that struct does not know how long the whole telegram will be. Its encode writes
//! placeholder digits and records the slot in an [`EncodeCtx`]; the top-level encode patches
//! every recorded slot once the whole telegram is written. Decode records the declared value in
//! a [`DecodeCtx`] and the top-level decode checks it after every field has decoded, so a
//! truncated telegram still reports its first missing byte rather than a length mismatch.
//!
//! Both contexts live on the stack with room for [`MAX_DEFERRED`] length fields: no
//! allocation. The same context records where a tolerant trailing filler (`filler`) ended, so
//! the top-level decode can accept a telegram that runs long in blank filler.

use bytes::BytesMut;

use crate::error::{DecodeError, EncodeError, EncodeErrorKind};
use crate::field::FieldFormat;
use crate::layout::{AutoLen, Layout};

/// Most `auto_len = "telegram"` fields one telegram may hold.
pub const MAX_DEFERRED: usize = 4;

#[derive(Debug, Clone, Copy)]
struct LenPatch {
    at: usize,
    format: FieldFormat,
}

/// Encode state shared by a telegram and every struct nested in it.
#[derive(Debug, Clone)]
pub struct EncodeCtx {
    base: usize,
    patches: [Option<LenPatch>; MAX_DEFERRED],
}

impl EncodeCtx {
    /// A context for a telegram whose first byte will be at `base` in the buffer.
    #[inline]
    pub fn new(base: usize) -> Self {
        Self {
            base,
            patches: [None; MAX_DEFERRED],
        }
    }

    /// Index in the buffer where the outermost telegram starts.
    #[inline]
    pub fn base(&self) -> usize {
        self.base
    }

    /// Records the `auto_len = "telegram"` field whose digits start at `at` in the buffer, to
    /// be patched by [`EncodeCtx::finish`].
    pub fn defer_len(&mut self, at: usize, format: &FieldFormat) -> Result<(), EncodeError> {
        match self.patches.iter_mut().find(|p| p.is_none()) {
            Some(slot) => {
                *slot = Some(LenPatch {
                    at,
                    format: *format,
                });
                Ok(())
            }
            None => Err(EncodeError::new(
                EncodeErrorKind::Unsupported {
                    reason: format!(
                        "more than {MAX_DEFERRED} telegram-length fields in one telegram"
                    ),
                },
                format.name,
                Some(at - self.base),
            )),
        }
    }

    /// Writes the telegram's length (everything from `base` to the end of `buf`) into every
    /// recorded length field. `layout` names the fields in errors.
    pub fn finish<'l>(
        &self,
        buf: &mut BytesMut,
        layout: impl FnOnce() -> &'l Layout,
    ) -> Result<(), EncodeError> {
        let total = buf.len() - self.base;
        for p in self.patches.iter().flatten() {
            if let Err(e) = crate::__private::patch_len(buf, p.at, &p.format, total, self.base) {
                return Err(located_encode(e, layout(), p.at - self.base));
            }
        }
        Ok(())
    }
}

/// The path of the telegram-length field at `offset` in `layout`, for errors raised at the top.
fn telegram_len_path(layout: &Layout, offset: usize) -> Option<&str> {
    layout
        .fields()
        .iter()
        .find(|f| f.offset == Some(offset) && f.auto_len == Some(AutoLen::Telegram))
        .map(|f| f.path.as_str())
}

fn located_encode(e: EncodeError, layout: &Layout, offset: usize) -> EncodeError {
    match telegram_len_path(layout, offset) {
        Some(path) => EncodeError::new(e.kind().clone(), path, e.offset()),
        None => e,
    }
}

#[derive(Debug, Clone, Copy)]
struct LenCheck {
    at: usize,
    declared: u128,
    name: &'static str,
}

/// Decode state shared by a telegram and every struct nested in it.
#[derive(Debug, Clone)]
pub struct DecodeCtx {
    start: usize,
    filler_end: Option<usize>,
    checks: [Option<LenCheck>; MAX_DEFERRED],
}

impl DecodeCtx {
    /// A context for a telegram starting at `start` in the input.
    #[inline]
    pub fn new(start: usize) -> Self {
        Self {
            start,
            filler_end: None,
            checks: [None; MAX_DEFERRED],
        }
    }

    /// Index in the input where the outermost telegram starts.
    #[inline]
    pub fn start(&self) -> usize {
        self.start
    }

    /// Records an `auto_len = "telegram"` field's value (digits at `at`), checked against the
    /// telegram's length by [`DecodeCtx::finish`].
    pub fn defer_len_check(
        &mut self,
        name: &'static str,
        declared: u128,
        at: usize,
        input: &[u8],
    ) -> Result<(), DecodeError> {
        let check = LenCheck { at, declared, name };
        match self.checks.iter_mut().find(|c| c.is_none()) {
            Some(slot) => {
                *slot = Some(check);
                Ok(())
            }
            // No room left: check against the whole input now.
            None => crate::__private::check_len(
                name,
                declared,
                input.len().saturating_sub(self.start),
                at,
                input,
            ),
        }
    }

    /// A tolerant trailing filler ended at `end`.
    #[inline]
    pub fn filler_ended(&mut self, end: usize) {
        self.filler_end = Some(end);
    }

    /// After the outermost telegram decoded up to `pos`: with `whole`, bytes left over are an
    /// error unless they are spaces right after a tolerant filler (the telegram ran long in its
    /// blank filler); then every recorded length field must equal the telegram's length.
    /// `layout` names the fields in errors.
    pub fn finish<'l>(
        &self,
        input: &[u8],
        pos: usize,
        whole: bool,
        layout: impl FnOnce() -> &'l Layout,
    ) -> Result<(), DecodeError> {
        let end = if whole {
            telegram_end(input, pos, self.filler_end)?
        } else {
            pos
        };
        let actual = end - self.start;
        for c in self.checks.iter().flatten() {
            if let Err(e) = crate::__private::check_len(c.name, c.declared, actual, c.at, input) {
                return Err(match telegram_len_path(layout(), c.at - self.start) {
                    Some(path) => DecodeError::new(e.kind().clone(), path, e.offset(), e.excerpt()),
                    None => e,
                });
            }
        }
        Ok(())
    }
}

/// Where a whole telegram decoded up to `pos` ends: the end of the input, when every byte was
/// consumed or the bytes left over are spaces right after a tolerant filler that ended at
/// `filler_end` (the telegram ran long in its blank filler). Any other leftover is an error at
/// the first byte that cannot belong to the telegram.
pub(crate) fn telegram_end(
    input: &[u8],
    pos: usize,
    filler_end: Option<usize>,
) -> Result<usize, DecodeError> {
    if pos == input.len() {
        return Ok(pos);
    }
    let tail = input.get(pos..).unwrap_or_default();
    match tail.iter().position(|&b| b != b' ') {
        None if filler_end == Some(pos) => Ok(input.len()),
        Some(i) if filler_end == Some(pos) => Err(DecodeError::trailing(input, pos + i)),
        _ => Err(DecodeError::trailing(input, pos)),
    }
}
