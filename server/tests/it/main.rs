//! Integration tests of the server against real PostgreSQL and Redis.
//!
//! Each test gets its own PostgreSQL schema (`kiln_test_<random>`) and Redis key prefix, and
//! removes both when it ends; nothing else in the database or Redis is touched. Set
//! `TEST_DATABASE_URL` / `TEST_REDIS_URL` to use other servers than the machine's defaults.

mod alerts;
mod api;
mod auth;
mod auth_limits;
mod backup;
mod builtins;
mod catalog;
mod cli;
mod client;
mod client_lab;
mod client_lab_errors;
mod client_limits;
mod container_delete;
mod container_events;
mod container_page;
mod container_vmids;
mod containers;
mod crash;
mod discovery;
mod harness;
mod headers;
mod jobs;
mod lab;
mod lab_files;
mod lab_fixture;
mod lab_lxc;
mod lab_ssh;
mod manage;
mod metrics;
mod monitoring;
mod nodes;
mod operations;
mod outages;
mod pages;
mod processes;
mod proxies;
mod pve_stub;
mod ssh;
mod ssh_keys;
mod template_startup;
mod template_sync;
mod template_test;
mod templates;
mod users;
mod wizard;
