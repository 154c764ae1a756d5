//! fep-testkit: what tests, the demo and the benchmark use to stand in for institutions —
//! never a production dependency.
//!
//! - [`sim`]: the simulated institution (latency, declines, unknowns, notices, split lines),
//!   with a lean mode for benchmarks and handles for black-box tests.
//! - [`samples`]: sample telegrams for loads and tests.
//! - [`faultproxy`]: a TCP proxy that injects transport faults (RST, stalls, garbage).

pub mod faultproxy;
pub mod samples;
pub mod sim;
