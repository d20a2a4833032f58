//! Sign-in and sessions: password hashing, the Redis session store, login rate limits, the
//! request middleware that attaches the caller to every request, and the `Backend` the app's
//! server functions call.
//!
//! Architecture invariant: this module never logs a password, a hash or a session id.

pub mod cookie;
pub mod forwarded;
pub mod middleware;
pub mod password;
pub mod rate_limit;
pub mod service;
pub mod sessions;
pub mod tokens;
