//! CRM sync: sends the outbox to the CRM, exactly once per day and revision from the bridge's side.
//!
//! The outbox ([`crate::store::outbox`]) holds each delivery's idempotency key (fixed at enqueue) and
//! body (rendered by the mapping plugin before the first attempt, then fixed); this module claims due
//! rows, renders, POSTs, and records what the CRM said. Because the key
//! travels with every retry, a CRM that honours `Idempotency-Key` counts each revision once even when an
//! answer was lost (timeouts, dropped connections, a crash between send and commit).

pub mod classify;
pub mod payload;
pub mod sender;
pub mod signing;

pub use classify::Verdict;
pub use sender::{RunReport, SendSettings, Sender, SyncError};
