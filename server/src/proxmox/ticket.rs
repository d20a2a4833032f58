//! Password authentication: a PVE ticket (`PVEAuthCookie`) plus its CSRF token, obtained from
//! `POST /access/ticket`, renewed before its 2 h lifetime ends, replaced once after a 401.
//!
//! Renewal posts the current ticket as the password (no second factor needed). A fresh login
//! with two factors uses the configured `otp`; a TOTP code expires within a minute, so a
//! long-running service should use an API token instead.
//!
//! **Invariant:** the ticket, CSRF token and password never appear in `Debug` output, errors
//! or logs; their header values are marked sensitive.

use std::time::{Duration, Instant};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::HeaderValue;

use super::client::{Auth, Client};
use super::{Error, ProxmoxApi, Result};

/// A ticket and its CSRF token.
#[derive(Clone)]
pub struct Ticket {
    /// `PVE:user@realm:...`: the cookie value.
    ticket: String,
    /// Sent as `CSRFPreventionToken` on POST/PUT/DELETE.
    csrf: String,
    /// The canonical user name PVE answered (used to renew).
    username: String,
    /// When PVE issued it, by our clock; decides renewal.
    obtained: Instant,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("username", &self.username)
            .field("age", &self.obtained.elapsed())
            .finish_non_exhaustive()
    }
}

impl Ticket {
    /// `PVEAuthCookie=<ticket>` (percent-encoded, as PVE's own clients send it).
    pub fn cookie(&self) -> Result<HeaderValue> {
        let encoded = utf8_percent_encode(&self.ticket, NON_ALPHANUMERIC);
        sensitive(&format!("PVEAuthCookie={encoded}"))
    }

    pub fn csrf(&self) -> Result<HeaderValue> {
        sensitive(&self.csrf)
    }

    fn same_as(&self, other: &Ticket) -> bool {
        self.ticket == other.ticket
    }
}

fn sensitive(value: &str) -> Result<HeaderValue> {
    let mut header = HeaderValue::from_str(value).map_err(|_| Error::Decode {
        what: "POST /access/ticket".into(),
        detail: "the ticket or CSRF token holds characters a header cannot carry".into(),
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// The current ticket of one client; logins and renewals are serialised by the lock.
pub struct TicketSession {
    /// Renew once the ticket is this old.
    renew_after: Duration,
    /// `None` before the first login.
    state: tokio::sync::Mutex<Option<Ticket>>,
}

impl std::fmt::Debug for TicketSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketSession")
            .field("renew_after", &self.renew_after)
            .finish_non_exhaustive()
    }
}

impl TicketSession {
    pub fn new(renew_after: Duration) -> TicketSession {
        TicketSession {
            renew_after,
            state: tokio::sync::Mutex::new(None),
        }
    }

    /// A usable ticket: the current one, a renewed one when it is old, or a fresh login.
    pub async fn current(&self, client: &Client) -> Result<Ticket> {
        let mut state = self.state.lock().await;
        if let Some(ticket) = state.as_ref() {
            if ticket.obtained.elapsed() < self.renew_after {
                return Ok(ticket.clone());
            }
            match renew(client, ticket).await {
                Ok(renewed) => {
                    *state = Some(renewed.clone());
                    return Ok(renewed);
                }
                Err(Error::Unauthorized { .. }) => {
                    tracing::info!(
                        node.host = %client.config().host,
                        "ticket renewal refused; signing in again"
                    );
                }
                Err(other) => return Err(other),
            }
        }
        let fresh = login(client).await?;
        *state = Some(fresh.clone());
        Ok(fresh)
    }

    /// After a 401 with `stale`: a fresh login, unless another call already replaced it.
    pub async fn relogin(&self, client: &Client, stale: &Ticket) -> Result<Ticket> {
        let mut state = self.state.lock().await;
        if let Some(ticket) = state.as_ref()
            && !ticket.same_as(stale)
        {
            return Ok(ticket.clone());
        }
        *state = None;
        let fresh = login(client).await?;
        *state = Some(fresh.clone());
        Ok(fresh)
    }
}

/// Signs in with the configured password (and second factor).
async fn login(client: &Client) -> Result<Ticket> {
    let Auth::Password {
        username,
        password,
        otp,
    } = &client.config().auth
    else {
        return Err(Error::Config {
            detail: "ticket login without a password".into(),
        });
    };
    let answer = client
        .access_ticket(username, password, otp.as_deref())
        .await?;
    if answer.need_tfa {
        return Err(Error::Unauthorized {
            message: format!("{username} needs a second factor (a TOTP code) to sign in"),
        });
    }
    tracing::debug!(node.host = %client.config().host, user = %answer.username, "signed in");
    into_ticket(answer)
}

/// Posts the current ticket as the password for a new one.
async fn renew(client: &Client, current: &Ticket) -> Result<Ticket> {
    let answer = client
        .access_ticket(&current.username, &current.ticket, None)
        .await?;
    tracing::debug!(node.host = %client.config().host, "ticket renewed");
    into_ticket(answer)
}

fn into_ticket(answer: kiln_shared::pve::AccessTicket) -> Result<Ticket> {
    let missing = |field: &str| Error::Decode {
        what: "POST /access/ticket".into(),
        detail: format!("the answer has no {field}"),
    };
    Ok(Ticket {
        ticket: answer.ticket.ok_or_else(|| missing("ticket"))?,
        csrf: answer
            .csrf_prevention_token
            .ok_or_else(|| missing("CSRFPreventionToken"))?,
        username: answer.username,
        obtained: Instant::now(),
    })
}
