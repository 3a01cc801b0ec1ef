//! Simulated time clocks, for tests, benchmarks and the demo. They speak the same bytes as real
//! devices, so the bridge's code paths are the production ones.
//!
//! - [`push`]: a terminal that pushes over HTTP (ADMS / iclock).

pub mod push;
