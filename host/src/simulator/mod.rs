//! Simulated time clocks and a simulated CRM, for tests, benchmarks and the demo. They speak the same
//! bytes as the real things, so the bridge's code paths are the production ones.
//!
//! - [`crm`]: a CRM endpoint that deduplicates by idempotency key and misbehaves on request.
//! - [`device`]: a pulled device speaking the ZK binary protocol on TCP and UDP.
//! - [`data`]: the users and punches a simulated device holds (generated or loaded).
//! - [`push`]: a terminal that pushes over HTTP (ADMS / iclock).

pub mod crm;
pub mod data;
pub mod device;
pub mod push;

pub use data::DeviceData;
pub use device::{Faults, SimConfig, SimStats, SimulatedDevice};
