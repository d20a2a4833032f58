//! Server functions, one module per domain. Each is thin: check the caller, validate with the
//! `kiln_shared` rules, call the server's `Backend`, and map the outcome to an HTTP status.
//!
//! All live under `/api/fn/<name>`; only `login` and `setup_admin` accept anonymous callers.

pub mod alerts;
pub mod auth;
pub mod containers;
pub mod metrics;
pub mod nodes;
pub mod templates;
pub mod tokens;
pub mod users;

/// The URL prefix of every server function.
pub const PREFIX: &str = "/api/fn";
