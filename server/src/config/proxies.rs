//! `trusted_proxies` / `KILN_TRUSTED_PROXIES`: the reverse proxies whose `X-Forwarded-For`,
//! `Forwarded` and `X-Forwarded-Proto` headers Kiln believes. A TOML list of addresses and
//! CIDRs (`["127.0.0.1", "10.0.0.0/8"]`), or in the environment the same separated by commas.
//! Empty by default: the headers are ignored and the peer address is the client.

use ipnet::IpNet;
use serde::Deserialize;

use super::{ConfigError, Env, Key, raw};

const TRUSTED_PROXIES: Key = Key {
    toml: "trusted_proxies",
    env: "KILN_TRUSTED_PROXIES",
};

/// The file's value: a list, or one string with commas.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum AddressList {
    One(String),
    Many(Vec<String>),
}

/// Parses the key: each entry an IPv4/IPv6 address (one host) or a CIDR.
pub(super) fn trusted_proxies(
    env: &dyn Env,
    file: Option<AddressList>,
) -> Result<Vec<IpNet>, ConfigError> {
    let file = file.map(|list| match list {
        AddressList::One(s) => s,
        AddressList::Many(items) => items.join(","),
    });
    let Some((name, value)) = raw(&TRUSTED_PROXIES, None, env, file) else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            parse_net(entry).ok_or_else(|| {
                ConfigError::key(
                    &name,
                    format!(
                        "{entry:?} is not an IP address or CIDR (e.g. 10.0.0.1, 10.0.0.0/8, ::1)"
                    ),
                )
            })
        })
        .collect()
}

fn parse_net(entry: &str) -> Option<IpNet> {
    if entry.contains('/') {
        entry.parse::<IpNet>().ok().map(|net| net.trunc())
    } else {
        entry.parse::<std::net::IpAddr>().ok().map(IpNet::from)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Config, Overrides};
    use std::io::Write;

    fn load_env(value: &str) -> Result<Config, String> {
        let value = value.to_owned();
        let env = move |k: &str| (k == "KILN_TRUSTED_PROXIES").then(|| value.clone());
        Config::load_from(&Overrides::default(), &env).map_err(|e| e.to_string())
    }

    #[test]
    fn addresses_and_cidrs_from_the_environment() -> Result<(), String> {
        let config = load_env(" 127.0.0.1, 10.1.2.3/8 ,::1,fd00::/8,")?;
        let shown: Vec<String> = config
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["127.0.0.1/32", "10.0.0.0/8", "::1/128", "fd00::/8"]);
        assert!(load_env("")?.trusted_proxies.is_empty());
        let defaults = Config::load_from(&Overrides::default(), &|_: &str| None::<String>)
            .map_err(|e| e.to_string())?;
        assert!(defaults.trusted_proxies.is_empty());
        Ok(())
    }

    #[test]
    fn a_bad_entry_names_the_key_on_one_line() {
        for bad in [
            "10.0.0.300",
            "proxy.local",
            "10.0.0.0/33",
            "10.0.0.1 10.0.0.2",
        ] {
            let err = load_env(bad).map(|_| ());
            assert!(
                matches!(err, Err(ref m) if m.contains("KILN_TRUSTED_PROXIES") && !m.contains('\n')),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn a_toml_list_or_string() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("kiln.toml");
        let overrides = Overrides {
            config_file: Some(path.clone()),
            ..Overrides::default()
        };
        let no_env = |_: &str| None::<String>;
        std::fs::File::create(&path)?
            .write_all(b"trusted_proxies = [\"192.0.2.10\", \"2001:db8::/32\"]\n")?;
        let config = Config::load_from(&overrides, &no_env)?;
        assert_eq!(config.trusted_proxies.len(), 2);
        std::fs::write(&path, "trusted_proxies = \"192.0.2.10, 192.0.2.11\"\n")?;
        assert_eq!(
            Config::load_from(&overrides, &no_env)?
                .trusted_proxies
                .len(),
            2
        );
        std::fs::write(&path, "trusted_proxies = [\"nope\"]\n")?;
        let err = Config::load_from(&overrides, &no_env).map_err(|e| e.to_string());
        assert!(
            matches!(err, Err(ref m) if m.contains("`trusted_proxies`")),
            "{err:?}"
        );
        Ok(())
    }
}
