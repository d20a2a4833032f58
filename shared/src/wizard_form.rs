//! The creation wizard's form controls and the request they edit. The wizard's fields are
//! plain HTML controls rendered by the server; a control's `name` (and, for a checkbox of a
//! list, its `value`) says which part of a [`CreateRequest`] it shows. The browser applies
//! each change with [`apply`] and puts a restored request back into the controls with
//! [`text_of`] and [`checked_of`]; the server renders the controls from the same functions,
//! so the page and the island always agree.
//!
//! | name | control | request |
//! | --- | --- | --- |
//! | `node_id`, `hostname`, `vmid`, `ostemplate`, `storage`, `bridge`, `disk_gib`, `cores`, `memory_mib`, `swap_mib`, `nameserver`, `root_password`, `ssh_public_keys` | text, number, select, textarea | the field (a blank optional text is `None`; an unreadable number 0, which every range refuses) |
//! | `tags` | text | comma or semicolon separated |
//! | `ipv4` | radio `dhcp` / `static` | `Ipv4Setting` |
//! | `ipv4.address`, `ipv4.gateway` | text | the static setting's parts |
//! | `unprivileged`, `nesting`, `keyctl`, `fuse`, `onboot` | checkbox | the flag |
//! | `bucket` | checkbox, value = the bucket | checked = not in `buckets_off` |
//! | `package` | checkbox, value = the package | checked = not in `packages_removed` |
//! | `script` | checkbox, value = the file | checked = not in `scripts_skipped` |

use crate::containers::{CreateRequest, Ipv4Setting};

/// Applies a change of the control `name` (its `value`, and `checked` for a checkbox or
/// radio) to `request`. Returns the request field it changed — what errors are keyed by —
/// or `None` for a control that is not the request's.
pub fn apply(
    request: &mut CreateRequest,
    name: &str,
    value: &str,
    checked: bool,
) -> Option<&'static str> {
    let optional = |v: &str| (!v.trim().is_empty()).then(|| v.to_owned());
    let number = |v: &str| v.trim().parse::<u32>().unwrap_or(0);
    let field = match name {
        "node_id" => {
            request.node_id = value.trim().parse().unwrap_or(0);
            "node_id"
        }
        "hostname" => {
            request.hostname = value.to_owned();
            "hostname"
        }
        "vmid" => {
            request.vmid = value.trim().parse().ok();
            "vmid"
        }
        "ostemplate" => {
            request.ostemplate = value.to_owned();
            "ostemplate"
        }
        "storage" => {
            request.storage = value.to_owned();
            "storage"
        }
        "bridge" => {
            request.bridge = value.to_owned();
            "bridge"
        }
        "disk_gib" => {
            request.disk_gib = number(value);
            "disk_gib"
        }
        "cores" => {
            request.cores = number(value);
            "cores"
        }
        "memory_mib" => {
            request.memory_mib = number(value);
            "memory_mib"
        }
        "swap_mib" => {
            request.swap_mib = number(value);
            "swap_mib"
        }
        "nameserver" => {
            request.nameserver = optional(value);
            "nameserver"
        }
        "root_password" => {
            request.root_password = (!value.is_empty()).then(|| value.to_owned());
            "root_password"
        }
        "ssh_public_keys" => {
            request.ssh_public_keys = optional(value);
            "ssh_public_keys"
        }
        "tags" => {
            request.tags = value
                .split([',', ';'])
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
            "tags"
        }
        "ipv4" if checked => {
            request.ipv4 = match (value, &request.ipv4) {
                ("static", Ipv4Setting::Static { .. }) | ("dhcp", Ipv4Setting::Dhcp) => {
                    return Some("ipv4");
                }
                ("static", Ipv4Setting::Dhcp) => Ipv4Setting::Static {
                    address: String::new(),
                    gateway: None,
                },
                _ => Ipv4Setting::Dhcp,
            };
            "ipv4"
        }
        "ipv4.address" => {
            if let Ipv4Setting::Static { address, .. } = &mut request.ipv4 {
                *address = value.to_owned();
            }
            "ipv4.address"
        }
        "ipv4.gateway" => {
            if let Ipv4Setting::Static { gateway, .. } = &mut request.ipv4 {
                *gateway = optional(value);
            }
            "ipv4.gateway"
        }
        "unprivileged" => {
            request.unprivileged = checked;
            "unprivileged"
        }
        "nesting" => {
            request.nesting = checked;
            "nesting"
        }
        "keyctl" => {
            request.keyctl = checked;
            "keyctl"
        }
        "fuse" => {
            request.fuse = checked;
            "fuse"
        }
        "onboot" => {
            request.onboot = checked;
            "onboot"
        }
        "bucket" => {
            set_member(&mut request.buckets_off, value, !checked);
            "buckets_off"
        }
        "package" => {
            set_member(&mut request.packages_removed, value, !checked);
            "packages_removed"
        }
        "script" => {
            set_member(&mut request.scripts_skipped, value, !checked);
            "scripts_skipped"
        }
        _ => return None,
    };
    Some(field)
}

/// The text a control `name` shows for `request` (`None` for a checkbox, a radio or a
/// control that is not the request's).
pub fn text_of(request: &CreateRequest, name: &str) -> Option<String> {
    let text = match name {
        "node_id" => request.node_id.to_string(),
        "hostname" => request.hostname.clone(),
        "vmid" => request.vmid.map(|v| v.to_string()).unwrap_or_default(),
        "ostemplate" => request.ostemplate.clone(),
        "storage" => request.storage.clone(),
        "bridge" => request.bridge.clone(),
        "disk_gib" => request.disk_gib.to_string(),
        "cores" => request.cores.to_string(),
        "memory_mib" => request.memory_mib.to_string(),
        "swap_mib" => request.swap_mib.to_string(),
        "nameserver" => request.nameserver.clone().unwrap_or_default(),
        "root_password" => request.root_password.clone().unwrap_or_default(),
        "ssh_public_keys" => request.ssh_public_keys.clone().unwrap_or_default(),
        "tags" => request.tags.join(", "),
        "ipv4.address" => match &request.ipv4 {
            Ipv4Setting::Static { address, .. } => address.clone(),
            Ipv4Setting::Dhcp => String::new(),
        },
        "ipv4.gateway" => match &request.ipv4 {
            Ipv4Setting::Static { gateway, .. } => gateway.clone().unwrap_or_default(),
            Ipv4Setting::Dhcp => String::new(),
        },
        _ => return None,
    };
    Some(text)
}

/// Whether the checkbox or radio `name` with `value` is checked for `request` (`None` for a
/// control that is neither).
pub fn checked_of(request: &CreateRequest, name: &str, value: &str) -> Option<bool> {
    let checked = match name {
        "ipv4" => matches!(
            (&request.ipv4, value),
            (Ipv4Setting::Dhcp, "dhcp") | (Ipv4Setting::Static { .. }, "static")
        ),
        "unprivileged" => request.unprivileged,
        "nesting" => request.nesting,
        "keyctl" => request.keyctl,
        "fuse" => request.fuse,
        "onboot" => request.onboot,
        "bucket" => !request.buckets_off.iter().any(|b| b == value),
        "package" => !request.packages_removed.iter().any(|p| p == value),
        "script" => !request.scripts_skipped.iter().any(|s| s == value),
        _ => return None,
    };
    Some(checked)
}

/// Adds `item` to `list` when `on`, removes it otherwise.
pub fn set_member(list: &mut Vec<String>, item: &str, on: bool) {
    list.retain(|x| x != item);
    if on {
        list.push(item.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::request_defaults;

    fn request() -> CreateRequest {
        request_defaults(None, 7, "web-1".into(), Some("secret-pass".into()))
    }

    #[test]
    fn every_text_control_round_trips() {
        let mut r = request();
        for (name, value) in [
            ("node_id", "9"),
            ("hostname", "db-2"),
            ("vmid", "4242"),
            ("ostemplate", "local:vztmpl/debian-12.tar.zst"),
            ("storage", "local-zfs"),
            ("bridge", "vmbr1"),
            ("disk_gib", "16"),
            ("cores", "4"),
            ("memory_mib", "2048"),
            ("swap_mib", "0"),
            ("nameserver", "1.1.1.1 9.9.9.9"),
            ("root_password", "another-one"),
            ("ssh_public_keys", "ssh-ed25519 AAAA me"),
            ("tags", "web, prod"),
        ] {
            assert!(apply(&mut r, name, value, false).is_some(), "{name}");
            assert_eq!(text_of(&r, name).as_deref(), Some(value), "{name}");
        }
        assert_eq!(r.tags, ["web", "prod"]);
        assert_eq!(r.vmid, Some(4242));
    }

    #[test]
    fn blanks_and_bad_numbers() {
        let mut r = request();
        apply(&mut r, "vmid", " ", false);
        apply(&mut r, "cores", "many", false);
        apply(&mut r, "nameserver", "  ", false);
        apply(&mut r, "root_password", "", false);
        assert_eq!(
            (
                r.vmid,
                r.cores,
                r.nameserver.clone(),
                r.root_password.clone()
            ),
            (None, 0, None, None)
        );
        assert_eq!(apply(&mut r, "unknown", "x", true), None);
        assert_eq!(apply(&mut r, "tags", "a;; b ,", false), Some("tags"));
        assert_eq!(r.tags, ["a", "b"]);
    }

    #[test]
    fn ipv4_radios_and_static_parts() {
        let mut r = request();
        assert_eq!(checked_of(&r, "ipv4", "dhcp"), Some(true));
        apply(&mut r, "ipv4.address", "10.0.0.2/24", false);
        assert_eq!(r.ipv4, Ipv4Setting::Dhcp, "no static parts under DHCP");
        apply(&mut r, "ipv4", "static", true);
        apply(&mut r, "ipv4.address", "10.0.0.2/24", false);
        apply(&mut r, "ipv4.gateway", "10.0.0.1", false);
        // Choosing static again keeps what was typed.
        apply(&mut r, "ipv4", "static", true);
        assert_eq!(
            r.ipv4,
            Ipv4Setting::Static {
                address: "10.0.0.2/24".into(),
                gateway: Some("10.0.0.1".into())
            }
        );
        assert_eq!(checked_of(&r, "ipv4", "static"), Some(true));
        assert_eq!(checked_of(&r, "ipv4", "dhcp"), Some(false));
        // An unchecked radio changes nothing.
        apply(&mut r, "ipv4", "dhcp", false);
        assert!(matches!(r.ipv4, Ipv4Setting::Static { .. }));
        apply(&mut r, "ipv4", "dhcp", true);
        assert_eq!(r.ipv4, Ipv4Setting::Dhcp);
        assert_eq!(text_of(&r, "ipv4.address").as_deref(), Some(""));
    }

    #[test]
    fn flags_and_list_checkboxes() {
        let mut r = request();
        apply(&mut r, "nesting", "on", true);
        apply(&mut r, "unprivileged", "on", false);
        assert!(r.nesting && !r.unprivileged);
        assert_eq!(checked_of(&r, "nesting", "on"), Some(true));
        assert_eq!(apply(&mut r, "bucket", "web", false), Some("buckets_off"));
        assert_eq!(
            apply(&mut r, "package", "curl", false),
            Some("packages_removed")
        );
        assert_eq!(
            apply(&mut r, "script", "10-site.sh", false),
            Some("scripts_skipped")
        );
        assert_eq!(
            (
                r.buckets_off.clone(),
                r.packages_removed.clone(),
                r.scripts_skipped.clone()
            ),
            (
                vec!["web".to_owned()],
                vec!["curl".to_owned()],
                vec!["10-site.sh".to_owned()]
            )
        );
        assert_eq!(checked_of(&r, "bucket", "web"), Some(false));
        assert_eq!(checked_of(&r, "bucket", "other"), Some(true));
        apply(&mut r, "bucket", "web", true);
        apply(&mut r, "bucket", "web", true);
        assert!(r.buckets_off.is_empty());
        assert_eq!(checked_of(&r, "hostname", ""), None);
        assert_eq!(text_of(&r, "bucket"), None);
    }
}
