//! Talking to time clocks. No database and no HTTP server in here: only the protocols.
//!
//! - [`codec`], [`commands`], [`records`]: the ZK binary protocol's packets, codes and record layouts.
//! - [`client`]: a client for pulled devices (TCP or UDP, port 4370).
//! - [`push`]: the ADMS ("iclock") HTTP push protocol's message formats.

pub mod client;
pub mod codec;
pub mod commands;
mod error;
pub mod push;
pub mod records;

#[cfg(test)]
mod proptests;

pub use error::DeviceError;
