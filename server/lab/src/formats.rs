//! PVE's named string formats (`pve-vmid`, `pve-node`, `mac-addr`, `pve-ipv4-config`, ...) and
//! property strings (`name=eth0,bridge=vmbr0,ip=dhcp`), with PVE's error messages.
//!
//! Only the formats the lab's endpoints use are checked; any other named format is accepted
//! (documented, deliberate: the lab never serves an endpoint that needs it).

use std::net::{Ipv4Addr, Ipv6Addr};

/// Checks `value` against the named format `name`. Unknown formats pass. Names ending in
/// `-list` check each element of a `,`/`;`/space separated list with the base format.
pub fn check(name: &str, value: &str) -> Result<(), String> {
    if name == "pve-tag-list" {
        return tag_list(value);
    }
    if let Some(base) = name.strip_suffix("-list") {
        for item in value
            .split(|c: char| c == ',' || c == ';' || c == '\0' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            check(base, item)?;
        }
        return Ok(());
    }
    let ok = match name {
        "pve-vmid" => value.parse::<u32>().is_ok_and(|v| v >= 100),
        "pve-node" => dns_label(value),
        "pve-configid" => {
            let mut chars = value.chars();
            chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && value.len() > 1
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        }
        "pve-storage-id" => {
            let b = value.as_bytes();
            b.len() >= 2
                && b[0].is_ascii_lowercase()
                && b.last()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-_.".contains(c))
        }
        "pve-poolid" => {
            !value.is_empty()
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        }
        "pve-realm" => realm(value),
        "pve-userid" => value.split_once('@').is_some_and(|(user, realm_part)| {
            !user.is_empty()
                && !user.contains([':', '/'])
                && !user.chars().any(char::is_whitespace)
                && realm(realm_part)
        }),
        "pve-tokenid" => value
            .split_once('!')
            .is_some_and(|(user, token)| check("pve-userid", user).is_ok() && realm(token)),
        "ipv4" => value.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => value.parse::<Ipv6Addr>().is_ok(),
        "pve-ipv4-config" => {
            value == "dhcp"
                || value == "manual"
                || cidr(value, 32, |a| a.parse::<Ipv4Addr>().is_ok())
        }
        "pve-ipv6-config" => {
            ["dhcp", "auto", "manual"].contains(&value)
                || cidr(value, 128, |a| a.parse::<Ipv6Addr>().is_ok())
        }
        "mac-addr" => mac(value),
        "disk-size" => disk_size(value).is_some(),
        "dns-name" => !value.is_empty() && value.split('.').all(dns_label),
        "pve-storage-content" => [
            "vztmpl", "iso", "backup", "rootdir", "images", "snippets", "import",
        ]
        .contains(&value),
        "pve-volume-id" => value
            .split_once(':')
            .is_some_and(|(s, v)| check("pve-storage-id", s).is_ok() && !v.is_empty()),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "value does not look like a valid {}",
            describe(name)
        ))
    }
}

fn describe(name: &str) -> &str {
    match name {
        "pve-vmid" => "VM ID",
        "pve-node" => "node name",
        "pve-configid" => "configuration ID",
        "pve-storage-id" => "storage ID",
        "pve-poolid" => "pool ID",
        "pve-userid" => "user ID",
        "pve-tokenid" => "token ID",
        "ipv4" => "IPv4 address",
        "ipv6" => "IPv6 address",
        "pve-ipv4-config" => "ipv4 network configuration",
        "pve-ipv6-config" => "ipv6 network configuration",
        "mac-addr" => "unicast MAC address",
        "disk-size" => "disk size",
        "dns-name" => "DNS name",
        other => other,
    }
}

fn dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

fn realm(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
}

fn cidr(value: &str, max: u8, addr_ok: impl Fn(&str) -> bool) -> bool {
    value
        .split_once('/')
        .is_some_and(|(addr, len)| addr_ok(addr) && len.parse::<u8>().is_ok_and(|l| l <= max))
}

fn mac(value: &str) -> bool {
    let parts: Vec<&str> = value.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
        && u8::from_str_radix(parts[0], 16).is_ok_and(|first| first & 1 == 0)
}

/// A disk size (`8`, `8G`, `512M`, `1.5T`) in bytes; bare numbers are GiB (as PVE's
/// `storage:size` volume syntax).
pub fn disk_size(value: &str) -> Option<u64> {
    let (num, unit) = match value.char_indices().last() {
        Some((i, c)) if "KMGT".contains(c) => (&value[..i], c),
        _ => (value, 'G'),
    };
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    let factor = match unit {
        'K' => 1u64 << 10,
        'M' => 1 << 20,
        'T' => 1 << 40,
        _ => 1 << 30,
    };
    Some((n * factor as f64) as u64)
}

fn tag_list(value: &str) -> Result<(), String> {
    for tag in value
        .split(|c: char| c == ';' || c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let mut chars = tag.chars();
        let ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || "_-+.".contains(c));
        if !ok {
            return Err(format!("invalid tag '{tag}'"));
        }
    }
    Ok(())
}

/// Splits a property string into `(key, value)` pairs as PVE does: parts separated by `,`,
/// each `key=value`, or a bare value for the `default_key`. Rejects duplicates and a bare
/// value when there is no (free) default key.
pub fn split_property_string(
    value: &str,
    default_key: Option<&str>,
) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in value.split(',') {
        if part.is_empty() {
            continue;
        }
        let pair = match part.split_once('=') {
            Some((k, v)) => {
                let key_ok = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !key_ok {
                    return Err(format!("unable to parse '{part}': malformed key=value"));
                }
                (k.to_owned(), v.to_owned())
            }
            None => match default_key {
                Some(key) => (key.to_owned(), part.to_owned()),
                None => {
                    return Err(
                        "value without key, but schema does not define a default key".to_owned(),
                    );
                }
            },
        };
        if out.iter().any(|(k, _)| *k == pair.0) {
            return Err(format!(
                "duplicate key in comma-separated list property: {}",
                pair.0
            ));
        }
        out.push(pair);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert!(check("pve-node", "pve1").is_ok());
        assert!(check("pve-node", "-bad").is_err());
        assert!(check("mac-addr", "BC:24:11:00:00:01").is_ok());
        assert!(check("mac-addr", "01:24:11:00:00:01").is_err(), "multicast");
        assert!(check("pve-ipv4-config", "dhcp").is_ok());
        assert!(check("pve-ipv4-config", "10.0.0.5/24").is_ok());
        assert!(check("pve-ipv4-config", "10.0.0.5").is_err());
        assert!(check("pve-tag-list", "web;prod").is_ok());
        assert!(check("pve-tag-list", "we$b").is_err());
        assert!(check("pve-configid-list", "net1,mp0").is_ok());
        assert!(check("pve-configid-list", "net1,9x").is_err());
        assert!(check("something-unknown", "x").is_ok());
        assert_eq!(disk_size("8"), Some(8 << 30));
        assert_eq!(disk_size("512M"), Some(512 << 20));
        assert_eq!(disk_size("x"), None);
    }

    #[test]
    fn property_strings() {
        assert_eq!(
            split_property_string("local-lvm:8,size=8G", Some("volume")),
            Ok(vec![
                ("volume".into(), "local-lvm:8".into()),
                ("size".into(), "8G".into())
            ])
        );
        assert!(split_property_string("name=eth0,vmbr0", None).is_err());
        assert!(split_property_string("a=1,a=2", None).is_err());
        assert!(split_property_string("=x", None).is_err());
    }
}
