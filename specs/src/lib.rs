//! # fep-specs — real institutions' telegram families
//!
//! Each module describes one institution's 전문설계서 (telegram specification) as
//! `#[derive(Telegram)]` structs from [`fep_codec`]: the struct *is* the specification.
//! Field order, byte widths, absolute offsets (checked at compile time with `offset = N`),
//! charsets, Korean labels and sensitive-field masks all live in the attributes.
//!
//! Families:
//!
//! - [`hecto`] — 헥토파이낸셜 (formerly 세틀뱅크) 실시간펌뱅킹 (real-time firm banking),
//!   전문설계서 Ver 2.0 (2024-03): 300-byte telegrams = 100-byte 공통부 (common header) +
//!   200-byte 개별부 (body), EUC-KR text, plus the `HDRREQPOLL` heartbeat.
//! - [`kibnet`] — KIBNET (한국신용정보/NICE 'EFMS') 가상계좌 · 제휴업무: 600-byte telegrams
//!   that start with their own LENGTH inside a 300-byte AP COMMON (two flavours), one key
//!   naming two layouts told apart by the 송수신 FLAG, tolerant N fields and trailing FILLER.
//!
//! ```
//! use fep_codec::Telegram;
//! use fep_specs::hecto::{HectoHeader, HectoMessage};
//!
//! assert_eq!(HectoHeader::layout().len(), Some(100));
//! # let _ = HectoMessage::decode;
//! ```
#![deny(missing_docs)]

pub mod hecto;
pub mod kibnet;

/// The Hecto family as data (`specs/hecto.toml`), embedded so tools that need the spec file
/// (a child gateway, `fep check` examples) work from the binary alone, wherever it was built.
pub const HECTO_TOML: &str = include_str!("../hecto.toml");

/// The KIBNET family as data (`specs/kibnet.toml`), embedded like [`HECTO_TOML`].
pub const KIBNET_TOML: &str = include_str!("../kibnet.toml");
