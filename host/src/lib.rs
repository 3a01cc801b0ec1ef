//! Attendance Bridge: ZKTeco time clocks in, processed attendance out to a CRM.
//!
//! # Layout
//! Dependencies point one way, and the folders say so:
//! - [`cli`] and [`web`] are the edges: command-line subcommands and the HTTP server.
//! - [`config`] reads the layered configuration; [`auth`] hashes passwords and API tokens.
//! - [`plugins`] runs shift rules and CRM mappings as sandboxed WebAssembly components.
//! - [`store`] is the database (SQLite or PostgreSQL behind the same functions); it knows no HTTP or jobs.
//!
//! - [`reports`] builds the HR reports (pages, CSV, XLSX, e-mails share them).
//! - [`pipeline`] runs the scheduled jobs; [`server`] wires everything into one process.
//!
//! [`serve`] is the whole server as a function, so tests start the real application on `127.0.0.1:0`.

pub mod auth;
pub mod domain;
pub mod hmac;
pub mod metrics;
pub mod notify;
pub mod pipeline;
pub mod plugins;
pub mod reports;
pub mod server;
pub mod simulator;
pub mod cli;
pub mod config;
pub mod device;
pub mod store;
pub mod sync;
pub mod web;

pub use server::serve;
