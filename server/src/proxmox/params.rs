//! Building requests the way PVE reads them: percent-encoded path segments, and form/query
//! pairs with booleans as `0`/`1`.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

use super::{Error, Result};

/// Everything but RFC 3986's unreserved characters is encoded (UPIDs hold `:`, `@`, `!`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One path segment, percent-encoded.
pub fn seg(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// A boolean as PVE takes it.
pub fn bit(value: bool) -> String {
    if value { "1" } else { "0" }.to_owned()
}

/// A parameter pair.
pub fn pair(key: &str, value: impl Into<String>) -> (String, String) {
    (key.to_owned(), value.into())
}

/// A flat struct as form pairs: `None`/`null` skipped, booleans as `0`/`1`, numbers and
/// strings as text. Nested values are refused (PVE takes property strings instead).
pub fn to_form<T: Serialize>(value: &T) -> Result<Vec<(String, String)>> {
    let invalid = |detail: String| Error::Config { detail };
    let serde_json::Value::Object(map) = serde_json::to_value(value)
        .map_err(|e| invalid(format!("cannot encode parameters: {e}")))?
    else {
        return Err(invalid("parameters must be a struct".into()));
    };
    let mut pairs = Vec::with_capacity(map.len());
    for (key, value) in map {
        let text = match value {
            serde_json::Value::Null => continue,
            serde_json::Value::Bool(b) => bit(b),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::String(s) => s,
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                return Err(invalid(format!("parameter {key} is not a plain value")));
            }
        };
        pairs.push((key, text));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_shared::pve::LxcCreate;

    #[test]
    fn encodes_upids_and_create_parameters() -> Result<()> {
        assert_eq!(
            seg("UPID:pve:0000A1B2:0012C3D4:6745F0A1:vzcreate:101:root@pam!kiln:"),
            "UPID%3Apve%3A0000A1B2%3A0012C3D4%3A6745F0A1%3Avzcreate%3A101%3Aroot%40pam%21kiln%3A"
        );
        assert_eq!(seg("local-lvm"), "local-lvm");
        let pairs = to_form(&LxcCreate {
            vmid: 101,
            ostemplate: "local:vztmpl/debian.tar.zst".into(),
            hostname: "web".into(),
            rootfs: "local-lvm:8".into(),
            unprivileged: Some(true),
            start: Some(false),
            ssh_public_keys: Some("ssh-ed25519 AAAA".into()),
            ..LxcCreate::default()
        })?;
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("vmid"), Some("101"));
        assert_eq!(get("unprivileged"), Some("1"));
        assert_eq!(get("start"), Some("0"));
        assert_eq!(get("ssh-public-keys"), Some("ssh-ed25519 AAAA"));
        assert_eq!(get("cores"), None);
        assert_eq!(get("password"), None);
        Ok(())
    }
}
