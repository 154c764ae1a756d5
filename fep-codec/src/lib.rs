//! Byte-exact, charset-aware codec for fixed-length telegrams (전문).
//!
//! A struct with `#[derive(Telegram)]` *is* its 전문설계서: fields in wire order, each with a
//! byte width, a type (AN text / N digits) and a charset. The derive checks widths, offsets and
//! repeat-group counts at compile time and generates straight-line encode/decode code.
//!
//! ```
//! use fep_codec::Telegram;
//!
//! #[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
//! #[telegram(charset = "euc-kr", len = 37)]
//! pub struct Transfer {
//!     #[telegram(len = 4, numeric, label = "전문구분코드")]
//!     pub msg_type: String,
//!     #[telegram(len = 6, offset = 4, label = "전문번호")]
//!     pub msg_no: u32,
//!     #[telegram(len = 13, label = "금액")]
//!     pub amount: u64,
//!     #[telegram(len = 14, label = "적요")]
//!     pub memo: String,
//! }
//!
//! let t = Transfer { msg_type: "2000".into(), msg_no: 17, amount: 50_000, memo: "급여".into() };
//! let bytes = t.encode()?;
//! assert_eq!(&bytes[..23], b"20000000170000000050000");
//! assert_eq!(&bytes[23..27], &[0xB1, 0xDE, 0xBF, 0xA9]); // 급여 in EUC-KR
//! assert_eq!(Transfer::decode(&bytes)?, t);
//!
//! let mut bad = bytes.clone();
//! bad[15] = b'X';
//! let err = Transfer::decode(&bad).unwrap_err();
//! assert_eq!((err.path(), err.offset()), ("amount", 15));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Field attributes
//!
//! | attribute | meaning |
//! |---|---|
//! | `len = N` | width in bytes (required on scalars) |
//! | `label = "…"` | human label shown in layouts and dumps |
//! | `offset = N` | compile-time check of the field's offset within its struct |
//! | `charset = "ascii" \| "euc-kr" \| "cp949"` | per-field charset (container default: `euc-kr`) |
//! | `numeric` | `String` holding N digits (leading zeros kept) |
//! | `fullwidth` | ASCII mapped to full-width on encode, back on decode |
//! | `truncate` | over-long text is cut at a character boundary |
//! | `sign = "leading" \| "trailing"` | sign byte of signed integers |
//! | `blank = "zero"` | an all-spaces N field decodes as 0 |
//! | `mask` | sensitive: masked by [`dump`] and tools |
//! | `count = field, max = N` | `Vec<T>` whose length is an earlier integer field |
//! | `rest` | last field only: every remaining byte, verbatim |
//! | `auto_len = "total" \| "rest"`, `lenient` | length field filled on encode, checked on decode: the struct it is declared in, or the bytes after it |
//! | `auto_len = "telegram"` | length of the **outermost** telegram, whatever struct the field sits in (a LENGTH inside a nested header) |
//! | `tolerant` | N field: spaces accepted for leading zeros, blank as `None`/0 (decode only) |
//! | `filler` | last String field: the telegram may end early inside it, or run long in spaces |
//!
//! Container attributes: `charset = "…"` (default for text fields), `len = N` (compile-time
//! check of the fixed total), `tolerant` (every N field of the struct).
//!
//! The derive parses attributes once into typed values, checks the whole struct, then
//! generates code; every mistake of a struct is reported in one compile, each at its span: a
//! repeated attribute, one that does not apply (`max` without `count`, `lenient` without
//! `auto_len`, `fullwidth` on an integer, `filler` anywhere but last …), an offset or total
//! that disagrees with the widths.
//!
//! # A length inside the telegram
//!
//! KIBNET's and 신한's telegrams start with LENGTH (N 4) counting the whole telegram, itself
//! included, as field 1 of a nested 공통부. Declared `auto_len = "telegram"`, the field is
//! written with placeholder digits and patched by the top-level encode once the whole
//! telegram is written (no allocation), and checked by the top-level decode after every field
//! decoded — so a truncated telegram still reports its first missing byte:
//!
//! ```
//! use fep_codec::Telegram;
//!
//! #[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
//! #[telegram(charset = "ascii", len = 8)]
//! pub struct Header {
//!     #[telegram(len = 4, auto_len = "telegram", label = "LENGTH")]
//!     pub length: u16,
//!     #[telegram(len = 4, numeric)]
//!     pub msg_type: String,
//! }
//!
//! #[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
//! #[telegram(charset = "ascii", tolerant)]
//! pub struct Deposit {
//!     pub header: Header,
//!     #[telegram(len = 6)]
//!     pub amount: u32,
//!     #[telegram(len = 4, filler)]
//!     pub filler: String,
//! }
//!
//! let d = Deposit { header: Header { length: 0, msg_type: "0200".into() }, amount: 42, ..Default::default() };
//! assert_eq!(d.encode()?, b"00180200000042    ");
//! // Tolerant decoding: spaces for zeros, a filler cut short (LENGTH says 16); encoding is canonical.
//! let real = Deposit::decode(b"00160200    42  ")?;
//! assert_eq!((real.header.length, real.amount), (16, 42));
//! assert_eq!(real.encode()?, b"00180200000042    ");
//! let err = Deposit::decode(b"00990200000042    ").unwrap_err();
//! assert_eq!((err.path(), err.offset()), ("header.length", 0));
//! assert_eq!(Deposit::decode(b"001802000").unwrap_err().offset(), 9);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Message dispatch
//!
//! A family shares a header whose key fields select the body. Derive `Telegram` on an enum
//! whose variants each hold one complete telegram struct starting with that header:
//!
//! ```
//! use fep_codec::{Telegram, TelegramFamily};
//!
//! #[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
//! #[telegram(len = 7)]
//! pub struct Header {
//!     #[telegram(len = 4)]
//!     pub msg_type: String,
//!     #[telegram(len = 3)]
//!     pub biz_type: String,
//! }
//!
//! #[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
//! pub struct Ping {
//!     pub header: Header,
//! }
//!
//! #[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
//! pub struct Transfer {
//!     pub header: Header,
//!     #[telegram(len = 5)]
//!     pub amount: u32,
//! }
//!
//! #[derive(Telegram, Debug, Clone, PartialEq, Eq)]
//! #[telegram(header = Header, key(msg_type, biz_type))]
//! pub enum Message {
//!     #[telegram(key("1000", "500"))]
//!     Ping(Ping),
//!     #[telegram(key("2000", "100"))]
//!     Transfer(Transfer),
//! }
//!
//! let m = Message::decode(b"200010000042")?;
//! assert!(matches!(&m, Message::Transfer(t) if t.amount == 42));
//! assert_eq!(m.key(), ["2000", "100"]);
//! let err = Message::decode(b"9999999").unwrap_err();
//! assert!(err.to_string().contains("9999/999"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The key fields are read straight from the frame's bytes at their header offsets, so
//! decoding looks at the header once and decodes only the chosen variant. Encoding writes the
//! variant's key into those fields, so a value always encodes to bytes that decode back to the
//! same variant. There may be any number of key fields.
//!
//! When one key names several layouts told apart by another header field (KIBNET's 0200/1100
//! is a deposit from the network with FLAG 6, a payment to it with FLAG 5), the variants say so
//! with `when(field = "value", …)`; the first variant whose key and conditions the frame holds
//! is chosen, and encoding writes the conditions too. Variants may start with different header
//! flavours as long as the selector fields sit at the same offsets (the `header = …` type gives
//! them):
//!
//! ```
//! # use fep_codec::{Telegram, TelegramFamily};
//! # #[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
//! # #[telegram(len = 5)]
//! # pub struct Header {
//! #     #[telegram(len = 4)]
//! #     pub msg_type: String,
//! #     #[telegram(len = 1)]
//! #     pub flag: String,
//! # }
//! # #[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
//! # pub struct Deposit { pub header: Header }
//! # #[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
//! # pub struct Payment { pub header: Header, #[telegram(len = 2)] pub code: String }
//! #[derive(Telegram, Debug, Clone, PartialEq, Eq)]
//! #[telegram(header = Header, key(msg_type))]
//! pub enum Message {
//!     #[telegram(key("0200"), when(flag = "6"))]
//!     Deposit(Deposit),
//!     #[telegram(key("0200"), when(flag = "5"))]
//!     Payment(Payment),
//! }
//!
//! assert!(matches!(Message::decode(b"02006")?, Message::Deposit(_)));
//! assert!(matches!(Message::decode(b"02005AB")?, Message::Payment(_)));
//! assert_eq!(Message::conditions()[1], [("flag", "5")]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

//! # Features
//!
//! - `spec` (default): the spec-file model, the `spec` module — families described in TOML, the
//!   dynamic codec over them, Rust code generation and documentation. Brings toml,
//!   serde_json and serde.
//! - `serde` (implied by `spec`): serde derives on [`Layout`], [`Charset`] and friends, and
//!   `Serialize` on [`Record`] / [`Value`].
//!
//! A crate that only derives telegrams can depend on `fep-codec` with
//! `default-features = false` and carries none of them.

#![deny(missing_docs)]

mod charset;
mod ctx;
mod dispatch;
mod dump;
mod dynamic;
mod error;
mod field;
mod layout;
#[cfg(feature = "spec")]
pub mod spec;

use bytes::BytesMut;

pub use charset::Charset;
pub use ctx::{DecodeCtx, EncodeCtx};
pub use dispatch::TelegramFamily;
pub use dump::{dump, mask_value};
pub use dynamic::{Record, Value};
pub use error::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind};
pub use fep_derive::Telegram;
pub use field::{FieldFormat, FieldValue, Sign, ValueKind};
pub use layout::{AutoLen, FieldKind, FieldLayout, Layout, LayoutBuilder};

/// A fixed-length telegram type: byte-exact encode and decode plus its layout.
///
/// Implement it with `#[derive(Telegram)]`; the hidden methods are the derive's plumbing.
pub trait Telegram: Sized {
    /// The encoded size when every field has a fixed width (compile-time constant).
    const FIXED_LEN: Option<usize>;

    /// The ordered, flattened field list.
    fn layout() -> &'static Layout;

    /// Encodes to a new buffer.
    fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut buf = BytesMut::with_capacity(Self::FIXED_LEN.unwrap_or(256));
        self.encode_into(&mut buf)?;
        Ok(buf.into())
    }

    /// Appends the encoding to `buf`, writing each field straight into it; on error `buf` is
    /// left as it was.
    fn encode_into(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        let start = buf.len();
        if let Some(n) = Self::FIXED_LEN {
            buf.reserve(n);
        }
        let result = __private::encode_top(self, buf, start);
        if result.is_err() {
            buf.truncate(start);
        }
        result
    }

    /// Decodes a whole telegram; every byte of `bytes` must be consumed (unless the layout
    /// ends in a tolerant `filler` and the extra bytes are spaces).
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        __private::decode_top(bytes, &mut 0, true)
    }

    /// Appends the encoding as a telegram of its own; `base` is the index in `buf` where the
    /// telegram starts.
    #[doc(hidden)]
    fn encode_at(&self, buf: &mut BytesMut, base: usize) -> Result<(), EncodeError>;

    /// Decodes a telegram of its own starting at `*pos`, advancing it past the consumed bytes.
    #[doc(hidden)]
    fn decode_at(input: &[u8], pos: &mut usize) -> Result<Self, DecodeError>;

    /// Appends the encoding as part of the telegram described by `ctx` (a nested struct
    /// records its telegram-length fields there instead of filling them).
    #[doc(hidden)]
    fn encode_in(&self, buf: &mut BytesMut, ctx: &mut EncodeCtx) -> Result<(), EncodeError> {
        self.encode_at(buf, ctx.base())
    }

    /// Decodes as part of the telegram described by `ctx`, advancing `*pos`.
    #[doc(hidden)]
    fn decode_in(input: &[u8], pos: &mut usize, ctx: &mut DecodeCtx) -> Result<Self, DecodeError> {
        let _ = ctx;
        Self::decode_at(input, pos)
    }

    /// The layout of this value's telegram (a dispatch enum: the chosen variant's), used to
    /// name fields in errors raised after the whole telegram was processed.
    #[doc(hidden)]
    fn layout_of(&self) -> &'static Layout {
        Self::layout()
    }
}

/// Support for generated code. Not a public API: may change without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::dispatch::{select, write_key, KeyCache, KeyField};
    pub use crate::field::{
        decode_filler, decode_rest, decode_scalar, encode_rest, encode_scalar, take,
    };
    pub use crate::{DecodeCtx, EncodeCtx};
    pub use bytes::BytesMut;
    pub use std::sync::OnceLock;

    use crate::error::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind};
    use crate::Telegram;

    /// Encodes `value` as a telegram of its own starting at `base` in `buf` (generated
    /// `encode_at`): its fields, then the telegram-length fields patched.
    pub fn encode_top<T: Telegram>(
        value: &T,
        buf: &mut BytesMut,
        base: usize,
    ) -> Result<(), EncodeError> {
        let mut ctx = crate::EncodeCtx::new(base);
        value.encode_in(buf, &mut ctx)?;
        ctx.finish(buf, || value.layout_of())
    }

    /// Decodes a telegram of its own at `*pos` (generated `decode_at`; with `whole`, the input
    /// must end with it): its fields, then the telegram-length fields checked.
    pub fn decode_top<T: Telegram>(
        input: &[u8],
        pos: &mut usize,
        whole: bool,
    ) -> Result<T, DecodeError> {
        let mut ctx = crate::DecodeCtx::new(*pos);
        let value = T::decode_in(input, pos, &mut ctx)?;
        ctx.finish(input, *pos, whole, || value.layout_of())?;
        Ok(value)
    }

    /// `a + b` for optional lengths (None = variable).
    pub const fn add_len(a: Option<usize>, b: Option<usize>) -> Option<usize> {
        match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        }
    }

    /// `a * n` for an optional length.
    pub const fn mul_len(a: Option<usize>, n: usize) -> Option<usize> {
        match a {
            Some(a) => Some(a * n),
            None => None,
        }
    }

    /// True when an optional length is known and equals `n`.
    pub const fn len_is(a: Option<usize>, n: usize) -> bool {
        matches!(a, Some(x) if x == n)
    }

    /// Checks a repeat group against its count field and max before encoding it.
    pub fn check_count(
        name: &str,
        count: u128,
        actual: usize,
        max: usize,
        offset: usize,
    ) -> Result<(), EncodeError> {
        let kind = if actual > max {
            EncodeErrorKind::CountOverMax { actual, max }
        } else if count != actual as u128 {
            EncodeErrorKind::CountMismatch { count, actual }
        } else {
            return Ok(());
        };
        Err(EncodeError::new(kind, name, Some(offset)))
    }

    /// Validates a decoded count against the group's max, returning it as a usize.
    pub fn decoded_count(
        name: &str,
        count: u128,
        max: usize,
        offset: usize,
        input: &[u8],
    ) -> Result<usize, DecodeError> {
        match usize::try_from(count) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(DecodeError::new(
                DecodeErrorKind::CountOverMax { count, max },
                name,
                offset,
                input.get(offset..).unwrap_or_default(),
            )),
        }
    }

    /// Appends `format.len` placeholder digits for an `auto_len` field (patched later).
    #[inline]
    pub fn placeholder(buf: &mut BytesMut, format: &crate::FieldFormat) {
        bytes::BufMut::put_bytes(buf, b'0', format.len);
    }

    /// Overwrites the digits of an `auto_len` field at `at` with `value`, in place.
    pub fn patch_len(
        buf: &mut BytesMut,
        at: usize,
        format: &crate::FieldFormat,
        value: usize,
        base: usize,
    ) -> Result<(), EncodeError> {
        let slot = buf.get_mut(at..at + format.len).ok_or_else(|| {
            EncodeError::new(
                EncodeErrorKind::Unsupported {
                    reason: "length field outside the buffer".into(),
                },
                format.name,
                Some(at - base),
            )
        })?;
        write_len(slot, format.sign, value)
            .map_err(|kind| EncodeError::new(kind, format.name, Some(at - base)))
    }

    /// Writes an `auto_len` length into its field's bytes: right-aligned '0'-padded digits,
    /// after (or before) a `+` when the field has a sign byte, so the field decodes back.
    pub fn write_len(
        slot: &mut [u8],
        sign: crate::Sign,
        value: usize,
    ) -> Result<(), EncodeErrorKind> {
        let digits = match sign {
            crate::Sign::None => slot,
            crate::Sign::Leading | crate::Sign::Trailing if slot.is_empty() => {
                return Err(EncodeErrorKind::Unsupported {
                    reason: "a signed field needs at least one byte".into(),
                })
            }
            crate::Sign::Leading => {
                slot[0] = b'+';
                &mut slot[1..]
            }
            crate::Sign::Trailing => {
                let end = slot.len() - 1;
                slot[end] = b'+';
                &mut slot[..end]
            }
        };
        crate::field::write_digits(value as u128, digits)
    }

    /// Checks a decoded `auto_len` value against the measured length.
    pub fn check_len(
        name: &str,
        declared: u128,
        actual: usize,
        offset: usize,
        input: &[u8],
    ) -> Result<(), DecodeError> {
        if declared == actual as u128 {
            return Ok(());
        }
        Err(DecodeError::new(
            DecodeErrorKind::LengthMismatch { declared, actual },
            name,
            offset,
            input.get(offset..).unwrap_or_default(),
        ))
    }

    /// Any integer count field as u128.
    pub trait CountValue {
        /// The value as u128 (0 for negative).
        fn as_count(&self) -> u128;
    }
    macro_rules! count_value {
        ($($t:ty),*) => {$(
            impl CountValue for $t {
                #[allow(clippy::cast_sign_loss)]
                fn as_count(&self) -> u128 { if *self as i128 <= 0 { 0 } else { *self as u128 } }
            }
        )*};
    }
    count_value!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);
    impl<T: CountValue> CountValue for Option<T> {
        fn as_count(&self) -> u128 {
            self.as_ref().map_or(0, CountValue::as_count)
        }
    }
}
