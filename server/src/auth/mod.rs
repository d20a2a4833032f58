//! Sign-in and sessions: password hashing (on its own threads: `hashing`), the Redis session store, login rate limits, the
//! request middleware that attaches the caller to every request, and the `AuthBackend` the app's
//! server functions call.
//!
//! Architecture invariant: this module never logs a password, a hash or a session id.

pub mod api_tokens;
pub mod cookie;
pub mod forwarded;
pub mod hashing;
pub mod middleware;
pub mod password;
pub mod rate_limit;
pub mod reauth;
pub mod service;
pub mod sessions;
pub mod tokens;
