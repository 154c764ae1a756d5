//! fep-cli: the `fep` command (see [`cli`]) and the tools behind its subcommands.
//!
//! - [`cli`]: argument parsing and dispatch (`run`, `check`, `demo`, `sim`, `load`, `bench`,
//!   `decode`, `journal`, …).
//! - [`demo`]: simulated institutions + the gateway + a load, with a live summary.
//! - [`load`]: the load generator (native protocol or HTTP API), with a latency histogram.
//! - [`bench`](mod@bench): the gateway benchmark (saturation, added latency, RSS).
//! - [`everyday`]: `fep bench`'s everyday-load table (fixed rates, native and HTTP vs direct).
//! - [`journal_bench`]: `fep bench --only journal`, journal_commit sqlite vs log side by side.
//! - [`disk_floor`]: one synced write where the journals live, the floor under the everyday
//!   table's added latency.

pub mod bench;
pub mod cli;
pub mod demo;
pub mod disk_floor;
pub mod everyday;
pub mod journal_bench;
pub mod load;
