//! One name look-up per SSH operation: a node's host is resolved once, and `ssh`,
//! `ssh-keyscan` and `sshpass ssh` are given the resulting IP address, never the name, so the
//! machine whose host key is checked is the machine Kiln talks to (no second DNS answer
//! between the check and the use). Like `ssh` itself, the addresses a name has are tried in
//! the resolver's order until one answers; each try is a connection of its own to that
//! address, with the host key checked on it.

use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::{SshError, Target};

/// How long a name look-up may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The addresses of `host` as `ssh` takes them (`192.0.2.7`, `2001:db8::7`, `fe80::1%2`), in
/// the resolver's order without repeats. An address literal is returned as it is, without a
/// look-up.
pub async fn resolve(host: &str, port: u16) -> Result<Vec<String>, String> {
    if is_literal(host) {
        return Ok(vec![host.to_owned()]);
    }
    let found = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| format!("looking up {host} timed out"))?
        .map_err(|e| format!("could not resolve {host}: {e}"))?;
    let mut addresses: Vec<String> = Vec::new();
    for addr in found {
        let text = literal(&addr);
        if !addresses.contains(&text) {
            addresses.push(text);
        }
    }
    if addresses.is_empty() {
        return Err(format!("could not resolve {host}: no address"));
    }
    Ok(addresses)
}

/// Whether `host` is an IP address (an IPv6 one possibly with a `%zone`).
fn is_literal(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    host.split_once('%').is_some_and(|(ip, zone)| {
        ip.parse::<Ipv6Addr>().is_ok()
            && !zone.is_empty()
            && zone
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    })
}

/// A resolved address as an `ssh` destination (keeping an IPv6 scope).
fn literal(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V6(v6) if v6.scope_id() != 0 => format!("{}%{}", v6.ip(), v6.scope_id()),
        other => other.ip().to_string(),
    }
}

/// Resolves `target`'s host once and runs `attempt` with each address in turn until one is
/// not refused or unreachable; returns that outcome (or the last refusal).
pub async fn each_address<T, F, Fut>(target: &Target, mut attempt: F) -> Result<T, SshError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<T, SshError>>,
{
    let addresses =
        resolve(&target.host, target.port)
            .await
            .map_err(|detail| SshError::Unreachable {
                target: target.clone(),
                detail,
            })?;
    let mut last = None;
    for address in addresses {
        match attempt(address).await {
            Err(e @ (SshError::Refused { .. } | SshError::Unreachable { .. })) => last = Some(e),
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| SshError::Unreachable {
        target: target.clone(),
        detail: "no address".to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literals_are_not_looked_up_and_names_are() -> Result<(), String> {
        for literal in [
            "127.0.0.1",
            "::1",
            "2001:db8::7",
            "fe80::1%eth0",
            "fe80::1%2",
        ] {
            assert_eq!(resolve(literal, 22).await?, vec![literal.to_owned()]);
        }
        assert!(!is_literal("fe80::1%"));
        assert!(!is_literal("pve.example%x"));
        let local = resolve("localhost", 22).await?;
        assert!(!local.is_empty());
        for address in &local {
            let ip: IpAddr = address.parse().map_err(|e| format!("{address}: {e}"))?;
            assert!(ip.is_loopback(), "{address}");
        }
        assert!(resolve("no-such-host.invalid", 22).await.is_err());
        Ok(())
    }

    #[tokio::test]
    async fn addresses_are_tried_until_one_answers() {
        let target = Target {
            user: "root".into(),
            host: "127.0.0.1".into(),
            port: 22,
        };
        let mut seen = Vec::new();
        let result: Result<(), SshError> = each_address(&target, |a| {
            seen.push(a);
            let target = target.clone();
            async move { Err(SshError::Refused { target }) }
        })
        .await;
        assert!(matches!(result, Err(SshError::Refused { .. })));
        assert_eq!(seen, ["127.0.0.1"]);
        let ok = each_address(&target, |a| async move { Ok::<_, SshError>(a) }).await;
        assert_eq!(ok.ok().as_deref(), Some("127.0.0.1"));
    }
}
