//! fep-client: everything an internal service needs to talk to the fep gateway, and nothing
//! else (no SQLite, no HTTP stack).
//!
//! - [`protocol`]: the native multiplexed wire format (messages, outcome codes, its codec).
//! - [`client`]: an async client over one TCP connection, many requests in flight.
//! - [`framing`]: TCP framing codecs for institution telegrams (ASCII/binary length headers,
//!   fixed frames, prefixes); the native protocol frames itself with one of them.
//!
//! The `serde` feature adds serde derives to [`framing::Framing`] and [`protocol::Outcome`].

pub mod client;
pub mod framing;
pub mod protocol;

pub use client::{Client, ClientError};
pub use protocol::Outcome;
