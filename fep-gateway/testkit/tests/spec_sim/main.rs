//! The spec-driven simulator over real TCP (127.0.0.1, port 0) with each family's own
//! framing: KIBNET from `specs/kibnet.toml`, and a third family written here in TOML only.
//! Every wait has a deadline; waits are on the simulator's counters, never on sleeps.

mod kibnet;
mod session;
mod support;
mod third;
