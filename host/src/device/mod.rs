//! Talking to time clocks. No database and no HTTP server in here: only the protocols.
//!
//! - [`push`]: the ADMS ("iclock") HTTP push protocol's message formats.

pub mod push;
