//! CRM sync: sends the outbox to the CRM, exactly once per day and revision from the bridge's side.
//!
//! The outbox ([`crate::store::outbox`]) holds each delivery's body and idempotency key, fixed at
//! enqueue; this module only claims due rows, POSTs them, and records what the CRM said. Because the key
//! travels with every retry, a CRM that honours `Idempotency-Key` counts each revision once even when an
//! answer was lost (timeouts, dropped connections, a crash between send and commit).

pub mod classify;
pub mod mock_crm;
pub mod payload;
pub mod sender;

pub use classify::Verdict;
pub use sender::{RunReport, SendSettings, Sender, SyncError};
