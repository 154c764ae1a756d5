//! fep-gateway: the front-end processor gateway (binary `fep`).
//!
//! Modules:
//! - [`framing`]: per-institution TCP framing codecs.
//! - [`protocol`]: the native internal multiplexed binary protocol.
//! - [`client`]: an async client for the native protocol.
//! - [`config`]: `fep.toml` loading and validation.

pub mod bank_sim;
pub mod bench;
pub mod breaker;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod demo;
pub mod faultproxy;
pub mod framing;
pub mod gateway;
pub mod http;
pub mod institution;
pub mod journal;
pub mod ledger;
mod link;
pub mod load;
pub mod profile;
pub mod protocol;
pub mod server;
pub mod settings;
pub mod sim;
pub mod webhook;
