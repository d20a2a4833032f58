//! Who is calling, and what they may do — PVE's rules, reduced to one user (`root@pam`):
//!
//! - API tokens: `Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET` (no CSRF token).
//! - Tickets from `POST /access/ticket`: `PVE:<user>:<hex time>::<base64 HMAC>`, sent as the
//!   `PVEAuthCookie` cookie; POST/PUT/DELETE also need the `CSRFPreventionToken` header.
//!   They expire after the ticket lifetime (2 h unless `--ticket-lifetime`).
//! - Privileges: `root@pam` and its tokens without privilege separation have every
//!   privilege; a privsep token has only what ACL entries grant it (roles below).

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use ring::hmac;

use super::reply::ApiError;
use super::state::{AclEntry, State};

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// `root@pam` or `root@pam!tokenid`: what UPIDs and logs show.
    pub name: String,
    /// `Some(acl subject)` for a privsep token; `None` = every privilege.
    pub restricted: Option<String>,
    /// Came with a ticket (then CSRF applies to writes).
    pub by_ticket: bool,
}

/// Every privilege the lab knows (what `Administrator` and root have).
pub const ALL_PRIVS: &[&str] = &[
    "Datastore.Allocate",
    "Datastore.AllocateSpace",
    "Datastore.AllocateTemplate",
    "Datastore.Audit",
    "Permissions.Modify",
    "Pool.Allocate",
    "Pool.Audit",
    "SDN.Allocate",
    "SDN.Audit",
    "SDN.Use",
    "Sys.Audit",
    "Sys.Console",
    "Sys.Modify",
    "Sys.PowerMgmt",
    "User.Modify",
    "VM.Allocate",
    "VM.Audit",
    "VM.Backup",
    "VM.Clone",
    "VM.Config.CPU",
    "VM.Config.Disk",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
    "VM.Console",
    "VM.Migrate",
    "VM.PowerMgmt",
    "VM.Snapshot",
];

/// The privileges of a role, or `None` for an unknown role.
pub fn role_privs(role: &str) -> Option<Vec<&'static str>> {
    let privs: Vec<&'static str> = match role {
        "Administrator" => ALL_PRIVS.to_vec(),
        "NoAccess" => Vec::new(),
        "PVEAuditor" => vec![
            "Datastore.Audit",
            "Pool.Audit",
            "SDN.Audit",
            "Sys.Audit",
            "VM.Audit",
        ],
        "PVEVMAdmin" => ALL_PRIVS
            .iter()
            .copied()
            .filter(|p| p.starts_with("VM."))
            .collect(),
        "PVEVMUser" => vec![
            "VM.Audit",
            "VM.Backup",
            "VM.Config.Options",
            "VM.Console",
            "VM.PowerMgmt",
        ],
        "PVEDatastoreUser" => vec!["Datastore.AllocateSpace", "Datastore.Audit"],
        "PVEDatastoreAdmin" => vec![
            "Datastore.Allocate",
            "Datastore.AllocateSpace",
            "Datastore.AllocateTemplate",
            "Datastore.Audit",
        ],
        "PVESDNUser" => vec!["SDN.Audit", "SDN.Use"],
        "PVEPoolUser" => vec!["Pool.Audit"],
        _ => return None,
    };
    Some(privs)
}

impl Principal {
    /// Privileges on `path`, with ACL propagation from parent paths (the most specific path
    /// with entries for the subject wins, as in PVE).
    pub fn privs_on(&self, acl: &[AclEntry], path: &str) -> BTreeSet<&'static str> {
        let Some(subject) = &self.restricted else {
            return ALL_PRIVS.iter().copied().collect();
        };
        let mut result = BTreeSet::new();
        let mut best: Option<usize> = None;
        for candidate in ancestors(path) {
            let entries: Vec<&AclEntry> = acl
                .iter()
                .filter(|e| &e.ugid == subject && e.path == candidate)
                .filter(|e| e.path == path || e.propagate)
                .collect();
            if !entries.is_empty() && best.is_none_or(|b| candidate.len() > b) {
                best = Some(candidate.len());
                result = entries
                    .iter()
                    .filter_map(|e| role_privs(&e.role))
                    .flatten()
                    .collect();
            }
        }
        result
    }

    /// `Ok` when the caller has `privilege` on `path`, else PVE's 403.
    pub fn require(&self, acl: &[AclEntry], path: &str, privilege: &str) -> Result<(), ApiError> {
        if self.privs_on(acl, path).contains(privilege) {
            Ok(())
        } else {
            Err(ApiError::forbidden(path, privilege))
        }
    }

    /// `Ok` only for root itself or its unrestricted tokens (user and ACL management).
    pub fn require_root(&self, path: &str) -> Result<(), ApiError> {
        if self.restricted.is_none() {
            Ok(())
        } else {
            Err(ApiError::forbidden(path, "Permissions.Modify"))
        }
    }
}

/// `/a/b` → `/`, `/a`, `/a/b`.
fn ancestors(path: &str) -> Vec<String> {
    let mut out = vec!["/".to_owned()];
    let mut current = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        current.push('/');
        current.push_str(part);
        out.push(current.clone());
    }
    out
}

/// Checks `PVEAPIToken=USER@REALM!TOKENID=SECRET` against the stored tokens.
pub fn check_token(state: &State, header: &str) -> Result<Principal, ApiError> {
    let value = header
        .strip_prefix("PVEAPIToken=")
        .or_else(|| header.strip_prefix("PVEAPIToken "))
        .ok_or_else(|| ApiError::unauthorized("authentication failure"))?;
    let (id, secret) = value
        .split_once('=')
        .ok_or_else(|| ApiError::unauthorized("invalid token value!"))?;
    let token = state
        .tokens
        .get(id.trim())
        .filter(|t| constant_eq(t.secret.as_bytes(), secret.trim().as_bytes()))
        .ok_or_else(|| ApiError::unauthorized("invalid token value!"))?;
    Ok(Principal {
        name: id.trim().to_owned(),
        restricted: token.privsep.then(|| id.trim().to_owned()),
        by_ticket: false,
    })
}

fn key(state: &State) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, state.ticket_key.as_bytes())
}

fn sign(state: &State, text: &str) -> String {
    let tag = hmac::sign(&key(state), text.as_bytes());
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(tag.as_ref())
}

/// A new ticket for `user`, made at `now`.
pub fn make_ticket(state: &State, user: &str, now: i64) -> String {
    let plain = format!("PVE:{user}:{now:08X}");
    format!("{plain}::{}", sign(state, &plain))
}

/// The CSRF token that goes with tickets of `user` made at `now`.
pub fn make_csrf(state: &State, user: &str, now: i64) -> String {
    format!(
        "{now:08X}:{}",
        sign(state, &format!("csrf:{user}:{now:08X}"))
    )
}

/// Verifies a ticket; returns the user and when it was made.
pub fn check_ticket(
    state: &State,
    ticket: &str,
    now: i64,
    lifetime: i64,
) -> Result<(String, i64), ApiError> {
    let bad = || ApiError::unauthorized("invalid PVE ticket");
    let (plain, signature) = ticket.split_once("::").ok_or_else(bad)?;
    if !constant_eq(sign(state, plain).as_bytes(), signature.as_bytes()) {
        return Err(bad());
    }
    let mut parts = plain.splitn(3, ':');
    let (Some("PVE"), Some(user), Some(time)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let made = i64::from_str_radix(time, 16).map_err(|_| bad())?;
    if now - made >= lifetime || made > now + 300 {
        return Err(bad());
    }
    Ok((user.to_owned(), made))
}

/// Verifies the CSRF header against the ticket's user (any still-valid issue time).
pub fn check_csrf(state: &State, user: &str, csrf: &str, now: i64, lifetime: i64) -> bool {
    let Some((time, _)) = csrf.split_once(':') else {
        return false;
    };
    let Ok(made) = i64::from_str_radix(time, 16) else {
        return false;
    };
    now - made < lifetime && constant_eq(make_csrf(state, user, made).as_bytes(), csrf.as_bytes())
}

/// The `PVEAuthCookie` value from a `Cookie` header.
pub fn ticket_from_cookie(cookie: &str) -> Option<String> {
    cookie.split(';').find_map(|c| {
        let value = c.trim().strip_prefix("PVEAuthCookie=")?;
        Some(
            // Percent-decode, but keep `+` (base64 in the signature), as PVE does.
            form_urlencoded::parse(format!("t={}", value.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| value.to_owned()),
        )
    })
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `GET /access/permissions` for `who`: path → privilege → 1. With `path`, only that path.
pub fn permissions_map(
    who: &Principal,
    acl: &[AclEntry],
    path: Option<&str>,
) -> BTreeMap<String, BTreeMap<String, u8>> {
    let paths: BTreeSet<String> = match (path, &who.restricted) {
        (Some(p), _) => BTreeSet::from([p.to_owned()]),
        (None, None) => [
            "/", "/access", "/nodes", "/pool", "/sdn", "/storage", "/vms",
        ]
        .iter()
        .map(|p| (*p).to_owned())
        .collect(),
        (None, Some(subject)) => acl
            .iter()
            .filter(|e| &e.ugid == subject)
            .map(|e| e.path.clone())
            .collect(),
    };
    paths
        .into_iter()
        .map(|p| {
            let privs = who
                .privs_on(acl, &p)
                .into_iter()
                .map(|pr| (pr.to_owned(), 1u8))
                .collect();
            (p, privs)
        })
        .filter(|(_, privs): &(String, BTreeMap<String, u8>)| !privs.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_sign_and_expire() -> Result<(), ApiError> {
        let state = State {
            ticket_key: "k".into(),
            ..State::default()
        };
        let t = make_ticket(&state, "root@pam", 1000);
        assert_eq!(check_ticket(&state, &t, 1100, 7200)?.0, "root@pam");
        assert!(check_ticket(&state, &t, 9000, 7200).is_err());
        assert!(check_ticket(&state, &t.replace("root", "evil"), 1100, 7200).is_err());
        let csrf = make_csrf(&state, "root@pam", 1000);
        assert!(check_csrf(&state, "root@pam", &csrf, 1100, 7200));
        assert!(!check_csrf(&state, "root@pam", "00:xx", 1100, 7200));
        Ok(())
    }

    #[test]
    fn cookie_tickets_keep_plus_and_decode_escapes() {
        assert_eq!(
            ticket_from_cookie("a=b; PVEAuthCookie=PVE%3Aroot%40pam%3A1::ab+c/d"),
            Some("PVE:root@pam:1::ab+c/d".to_owned())
        );
        assert_eq!(ticket_from_cookie("other=1"), None);
    }

    #[test]
    fn privsep_tokens_get_acl_privileges() {
        let who = Principal {
            name: "root@pam!ro".into(),
            restricted: Some("root@pam!ro".into()),
            by_ticket: false,
        };
        let acl = vec![AclEntry {
            path: "/vms".into(),
            ugid: "root@pam!ro".into(),
            role: "PVEAuditor".into(),
            propagate: true,
        }];
        assert!(who.privs_on(&acl, "/vms/101").contains("VM.Audit"));
        assert!(!who.privs_on(&acl, "/vms/101").contains("VM.PowerMgmt"));
        assert!(who.privs_on(&acl, "/storage/local").is_empty());
    }
}
