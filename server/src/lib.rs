#![recursion_limit = "256"]
//! `kiln_server`: everything behind the `kiln` binary. `main.rs` only parses the command line
//! and calls [`runtime`].
//!
//! Code map: `config` (settings), `app_state` (what handlers share), `http` (the router),
//! `headers` (CSP with a per-response nonce and the other security headers), `auth`
//! (passwords, sessions, rate limits, the request gate, trusted proxies, the app's
//! `AuthBackend`), `db` (pool, migrations, queries), `redis_pool` (the Redis pool and its
//! timeouts), `embedded` (private PostgreSQL/Redis children), `run_dir` (the
//! `<data dir>/run` layout: a directory per owner), `data_lock` (who uses a data directory),
//! `backup` (`kiln backup` / `kiln restore`), `routes`
//! (health, assets, theme), `errors` (mapping to `AppError`), `telemetry` (logging), `lab`
//! (the simulated Proxmox VE node behind `kiln lab`), `ssh` (the only module that runs commands
//! on a node: a key per node, pinned host keys, `pct` over SSH), `templates` (template folders:
//! parse, lint, export), `jobs` (the durable job queue and its workers), `api` (the REST API,
//! `/api/v1`, with its OpenAPI document), `client` (`kiln api` / `kiln ct`: the command line
//! client of that API).

pub mod alerts;
pub mod api;
pub mod app_state;
pub mod auth;
pub mod backup;
pub mod client;
pub mod config;
pub mod containers;
pub mod crypto;
pub mod data_lock;
pub mod db;
pub mod embedded;
pub mod errors;
pub mod headers;
pub mod http;
pub mod jobs;
pub mod monitor;
pub use kiln_lab as lab;
pub mod nodes;
pub mod proxmox;
pub mod redis_pool;
pub mod routes;
pub mod run_dir;
pub mod runtime;
pub mod ssh;
pub mod telemetry;
pub mod templates;
