//! fep-gateway: the production library of the fep front-end processor — only what a running
//! gateway needs. The `fep` binary lives in `fep-cli`; the simulator and fault proxy in
//! `fep-testkit`; the wire protocol and client in `fep-client`. `docs/architecture.md` maps
//! every concern to its module.
//!
//! - [`config`] / [`settings`]: `fep.toml` parsed and resolved into runtime settings.
//! - [`profile`]: a spec family turned into what the engine needs per institution.
//! - [`gateway`]: starts the journal, the institutions, the native and HTTP servers.
//! - [`institution`]: one actor per institution (its failure domain) and its handle.
//! - [`breaker`]: the per-institution circuit breaker.
//! - [`domain`]: transaction states, resolutions, reject reasons, message keys.
//! - `link`: one task per TCP connection to an institution.
//! - [`journal`]: the SQLite journal (telegrams, transactions, notices, number blocks).
//! - [`ledger`]: read-only queries over a journal file (`fep journal`).
//! - [`server`] / [`http`] / [`webhook`]: the internal interfaces; [`idempotency`]: keyed
//!   requests (sent at most once per key) for both.
//! - [`notices`]: delivery of recorded notices to webhooks and native subscribers (from the
//!   journal, per consumer group).
//! - [`clock`]: the time source (a fake one in tests).
//! - [`framing`] / [`protocol`]: re-exported from `fep-client`.

pub use fep_client::{framing, protocol};

pub mod auth;
pub mod breaker;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod gateway;
pub mod http;
pub mod idempotency;
pub mod institution;
pub mod journal;
pub mod ledger;
mod link;
pub mod notices;
pub mod profile;
pub mod server;
pub mod settings;
#[cfg(test)]
mod testing;
pub mod tls;
pub mod webhook;

#[cfg(test)]
mod test_support;
