//! fep-gateway: the front-end processor gateway (binary `fep`).
//!
//! Modules:
//! - [`framing`]: per-institution TCP framing codecs.
//! - [`protocol`]: the native internal multiplexed binary protocol.
//! - [`client`]: an async client for the native protocol.
//! - [`config`]: `fep.toml` loading and validation.

pub mod client;
pub mod config;
pub mod framing;
pub mod protocol;
