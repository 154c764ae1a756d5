//! fep-testkit: what tests, the demo and the benchmark use to stand in for institutions —
//! never a production dependency.
//!
//! - [`sim`]: a simulated institution (latency, declines, unknowns, notices, split lines).
//! - [`bank_sim`]: the simulator's lean mode for benchmarks.
//! - [`samples`]: sample telegrams for loads and tests.
//! - [`faultproxy`]: a TCP proxy that injects transport faults (RST, stalls, garbage).

pub mod bank_sim;
pub mod faultproxy;
pub mod samples;
pub mod sim;
