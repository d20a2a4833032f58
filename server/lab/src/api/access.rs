//! `/access`: tickets (login and renewal), API tokens, ACLs and the caller's permissions.

use serde_json::{Value, json};

use super::super::auth::{self, role_privs};
use super::super::core::now;
use super::super::reply::{ApiError, ApiResult, ok};
use super::super::rng;
use super::super::state::{AclEntry, Token};
use super::Call;

/// `POST /access/ticket`: `username` (+`realm`) and `password` — the root password, or a
/// still-valid ticket of the same user (renewal). Answers `ticket`, `CSRFPreventionToken`,
/// `username`, `cap`, `clustername`.
pub fn ticket(c: &Call) -> ApiResult {
    let fail = || ApiError::unauthorized("authentication failure");
    let mut username = c.str("username").unwrap_or_default().to_owned();
    if !username.contains('@') {
        let realm = c.str("realm").unwrap_or("pam");
        username = format!("{username}@{realm}");
    }
    if username != "root@pam" {
        return Err(fail());
    }
    let password = c.str("password").unwrap_or_default();
    let at = now();
    let valid = if password.starts_with("PVE:") {
        c.lab
            .read(|s| auth::check_ticket(s, password, at, c.lab.ticket_lifetime))
            .is_ok_and(|(user, _)| user == username)
    } else {
        c.lab.read(|s| s.root_password == password)
    };
    if !valid {
        return Err(fail());
    }
    let (ticket, csrf) = c.lab.read(|s| {
        (
            auth::make_ticket(s, &username, at),
            auth::make_csrf(s, &username, at),
        )
    });
    let all: serde_json::Map<String, Value> = auth::ALL_PRIVS
        .iter()
        .map(|p| ((*p).to_owned(), json!(1)))
        .collect();
    ok(json!({
        "username": username,
        "ticket": ticket,
        "CSRFPreventionToken": csrf,
        "clustername": "kiln-lab",
        "cap": {"vms": all, "storage": all, "nodes": all, "access": all, "dc": all, "sdn": all},
    }))
}

/// `GET /access/permissions` (`path`, `userid` optional).
pub fn permissions(c: &Call) -> ApiResult {
    if let Some(other) = c.str("userid")
        && other != c.who.name
    {
        c.who.require_root("/access")?;
    }
    let map = c
        .lab
        .read(|s| auth::permissions_map(&c.who, &s.acl, c.str("path")));
    ok(serde_json::to_value(map).map_err(|e| ApiError::fail(e.to_string()))?)
}

/// `GET /access/acl`.
pub fn acl_list(c: &Call) -> ApiResult {
    c.who.require_root("/access")?;
    let list: Vec<Value> = c.lab.read(|s| {
        s.acl
            .iter()
            .map(|e| {
                json!({
                    "path": e.path, "roleid": e.role, "ugid": e.ugid,
                    "type": if e.ugid.contains('!') { "token" } else { "user" },
                    "propagate": u8::from(e.propagate),
                })
            })
            .collect()
    });
    ok(Value::Array(list))
}

/// `PUT /access/acl`: grant (or with `delete=1` revoke) `roles` on `path` to `tokens`/`users`.
pub fn acl_update(c: &Call) -> ApiResult {
    c.who.require_root("/access")?;
    let path = c.str("path").unwrap_or("/").to_owned();
    if !path.starts_with('/') {
        return Err(ApiError::param("path", "invalid ACL path"));
    }
    let split = |key: &str| -> Vec<String> {
        c.str(key)
            .unwrap_or_default()
            .split([',', ';', ' '])
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let roles = split("roles");
    if let Some(bad) = roles.iter().find(|r| role_privs(r).is_none()) {
        return Err(ApiError::param(
            "roles",
            format!("role '{bad}' does not exist"),
        ));
    }
    let mut subjects = split("tokens");
    subjects.extend(split("users"));
    if !split("groups").is_empty() {
        return Err(ApiError::param("groups", "the lab has no groups"));
    }
    let propagate = c.str("propagate").is_none() || c.flag("propagate");
    let delete = c.flag("delete");
    c.lab.mutate(|s| {
        for subject in &subjects {
            let known = subject == "root@pam" || s.tokens.contains_key(subject);
            if !known {
                let key = if subject.contains('!') {
                    "tokens"
                } else {
                    "users"
                };
                return Err(ApiError::param(
                    key,
                    format!("no such user/token '{subject}'"),
                ));
            }
            for role in &roles {
                s.acl
                    .retain(|e| !(e.path == path && &e.ugid == subject && &e.role == role));
                if !delete {
                    s.acl.push(AclEntry {
                        path: path.clone(),
                        ugid: subject.clone(),
                        role: role.clone(),
                        propagate,
                    });
                }
            }
        }
        Ok(())
    })?;
    ok(Value::Null)
}

/// `POST /access/users/{userid}/token/{tokenid}` (`privsep` default 1, `comment`).
pub fn create_token(c: &Call) -> ApiResult {
    c.who.require_root("/access")?;
    let userid = c.str("userid").unwrap_or_default().to_owned();
    let tokenid = c.str("tokenid").unwrap_or_default().to_owned();
    if userid != "root@pam" {
        return Err(ApiError::fail(format!("no such user ('{userid}')")));
    }
    let full = format!("{userid}!{tokenid}");
    let privsep = c.str("privsep").is_none() || c.flag("privsep");
    let secret = rng::secret_uuid().map_err(|e| ApiError::fail(e.to_string()))?;
    let comment = c.str("comment").unwrap_or_default().to_owned();
    c.lab.mutate(|s| {
        if s.tokens.contains_key(&full) {
            return Err(ApiError::fail("Token already exists."));
        }
        s.tokens.insert(
            full.clone(),
            Token {
                secret: secret.clone(),
                privsep,
                comment,
            },
        );
        Ok(())
    })?;
    ok(json!({
        "full-tokenid": full,
        "value": secret,
        "info": {"privsep": u8::from(privsep), "expire": 0},
    }))
}

/// `DELETE /access/users/{userid}/token/{tokenid}`: the token and its ACL entries.
pub fn delete_token(c: &Call) -> ApiResult {
    c.who.require_root("/access")?;
    let userid = c.str("userid").unwrap_or_default();
    let tokenid = c.str("tokenid").unwrap_or_default();
    let full = format!("{userid}!{tokenid}");
    c.lab.mutate(|s| {
        if s.tokens.remove(&full).is_none() {
            return Err(ApiError::fail(format!(
                "no such token '{tokenid}' for user '{userid}'"
            )));
        }
        s.acl.retain(|entry| entry.ugid != full);
        Ok(())
    })?;
    ok(Value::Null)
}
