//! fep-testkit: what tests, the demo and the benchmark use to stand in for institutions —
//! never a production dependency.
//!
//! - [`sim`]: the simulated institution (latency, declines, unknowns, notices, split lines),
//!   with a lean mode for benchmarks and handles for black-box tests.
//! - [`samples`]: sample telegrams for loads and tests.
//! - [`spec_sim`]: a simulated institution for any family, driven by its spec TOML alone.
//! - [`faultproxy`]: a TCP proxy that injects transport faults (RST, stalls, garbage).

pub mod faultproxy;
pub mod samples;
pub mod sim;
pub mod spec_sim;
