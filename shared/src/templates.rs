//! Container templates: the typed model of a template folder (format in `docs/TEMPLATES.md`)
//! and the validation rules the parser and, later, the template editor share.
//!
//! Architecture invariant: no I/O here. The server's `templates` module reads and writes
//! folders; this module only says what a template is and what a valid one looks like.

use serde::{Deserialize, Serialize};

/// Everything a template folder holds, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Template {
    /// The folder name; identifies the template.
    pub slug: String,
    /// `TEMPLATE_APP`: the display name (the folder name when absent).
    pub app: String,
    /// `TEMPLATE_DESCRIPTION`: one line shown in lists.
    pub description: String,
    /// `TEMPLATE_TAGS`, split on `;` (Proxmox's own tag separator).
    pub tags: Vec<String>,
    /// `TEMPLATE_CONFIG_PATH`, relative to the repository root, when the folder sets it;
    /// `None` means `<slug>/container-configs`.
    pub config_path: Option<String>,
    /// `TEMPLATE_CPU`: cores.
    pub cpu: u32,
    /// `TEMPLATE_RAM`: memory in MiB.
    pub ram_mib: u32,
    /// `TEMPLATE_DISK`: root disk in GiB.
    pub disk_gib: u32,
    /// `TEMPLATE_OS`: OS family, e.g. `debian`.
    pub os: String,
    /// `TEMPLATE_VERSION`: OS major version, e.g. `12`.
    pub os_version: String,
    /// `TEMPLATE_UNPRIVILEGED`.
    pub unprivileged: bool,
    /// `TEMPLATE_NESTING` (Docker inside LXC needs it).
    pub nesting: bool,
    /// `TEMPLATE_KEYCTL` (Docker inside LXC needs it).
    pub keyctl: bool,
    /// `TEMPLATE_FUSE`.
    pub fuse: bool,
    /// Keys Kiln does not know, in order of appearance: kept and exported, never used.
    pub extra: Vec<(String, String)>,
    /// The folder's `README.md`, shown on the template page.
    pub readme: Option<String>,
    /// Setup scripts, in the order they run (lexical order of the file name).
    pub scripts: Vec<Script>,
    /// Package buckets, in lexical order of the file name.
    pub packages: Vec<PackageBucket>,
    /// Files pushed into the container, in lexical order of the name.
    pub files: Vec<TemplateFile>,
}

impl Template {
    /// The defaults of `TEMPLATES.md` for a folder whose `template.conf` sets nothing.
    pub fn new(slug: &str) -> Self {
        Self {
            slug: slug.to_owned(),
            app: slug.to_owned(),
            description: String::new(),
            tags: Vec::new(),
            config_path: None,
            cpu: 1,
            ram_mib: 512,
            disk_gib: 8,
            os: "debian".to_owned(),
            os_version: "12".to_owned(),
            unprivileged: true,
            nesting: false,
            keyctl: false,
            fuse: false,
            extra: Vec::new(),
            readme: None,
            scripts: Vec::new(),
            packages: Vec::new(),
            files: Vec::new(),
        }
    }
}

/// `scripts/NN-name.sh`: run as root inside the container with `bash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Script {
    /// The file name, e.g. `10-install-node.sh`; scripts run in its lexical order.
    pub file_name: String,
    /// The leading digits (`10`), empty when the name has none.
    pub order_key: String,
    pub content: String,
}

/// `packages/<bucket>.<manager>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PackageBucket {
    /// The file name without its extension, e.g. `base`.
    pub name: String,
    pub manager: Manager,
    pub packages: Vec<Package>,
}

/// The package manager named by a package file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Manager {
    Apt,
    Apk,
    Dnf,
    Npm,
    Pip,
    Custom,
}

impl Manager {
    pub const ALL: [Manager; 6] = [
        Manager::Apt,
        Manager::Apk,
        Manager::Dnf,
        Manager::Npm,
        Manager::Pip,
        Manager::Custom,
    ];

    /// The file extension, which is also the name used in the UI.
    pub fn extension(self) -> &'static str {
        match self {
            Manager::Apt => "apt",
            Manager::Apk => "apk",
            Manager::Dnf => "dnf",
            Manager::Npm => "npm",
            Manager::Pip => "pip",
            Manager::Custom => "custom",
        }
    }

    pub fn from_extension(ext: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.extension() == ext)
    }
}

/// One line of a package file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Package {
    /// A package as the manager spells it, version pin included (`nodejs=24.*`).
    Plain(String),
    /// A `custom` line: `install` runs only when `check` fails.
    Custom {
        name: String,
        check: String,
        install: String,
        timeout_secs: Option<u32>,
    },
}

/// `files/<name>` with its `.path` and `.policy` sidecars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TemplateFile {
    pub name: String,
    /// The absolute target directory inside the container.
    pub target_dir: String,
    pub policy: Policy,
    pub content: FileContent,
}

/// A file's bytes: text as is, anything else base64-encoded (standard alphabet, padded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "encoding", content = "data", rename_all = "lowercase")]
pub enum FileContent {
    Utf8(String),
    Base64(String),
}

/// What to do when the target file already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Overwrite when its sha256 differs.
    Replace,
    /// Leave it alone.
    #[default]
    Default,
    /// Move it to `X.backup-YYYYMMDD-HHMMSS`, then write.
    Backup,
}

impl Policy {
    pub fn word(self) -> &'static str {
        match self {
            Policy::Replace => "replace",
            Policy::Default => "default",
            Policy::Backup => "backup",
        }
    }

    pub fn from_word(word: &str) -> Option<Self> {
        [Policy::Replace, Policy::Default, Policy::Backup]
            .into_iter()
            .find(|p| p.word() == word)
    }
}

/// Something wrong (or worth knowing) about a template folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finding {
    /// Relative to the template folder, `/`-separated (`container-configs/files/x.path`).
    pub path: String,
    /// 1-based line, when the finding is about one line.
    pub line: Option<u32>,
    pub severity: Severity,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The template cannot be used as it is.
    Error,
    /// Worth fixing, but the template works.
    Warning,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// Bounds of `TEMPLATE_CPU`.
pub const CPU_RANGE: std::ops::RangeInclusive<u32> = 1..=512;
/// Bounds of `TEMPLATE_RAM` (MiB).
pub const RAM_MIB_RANGE: std::ops::RangeInclusive<u32> = 16..=4_194_304;
/// Bounds of `TEMPLATE_DISK` (GiB).
pub const DISK_GIB_RANGE: std::ops::RangeInclusive<u32> = 1..=65_536;

/// A slug: 1–63 of `a-z`, `0-9`, `-`, starting and ending with a letter or digit.
pub fn validate_slug(slug: &str) -> Result<(), String> {
    let ok_chars = slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if slug.is_empty()
        || slug.len() > 63
        || !ok_chars
        || slug.starts_with('-')
        || slug.ends_with('-')
    {
        return Err(
            "use 1–63 lowercase letters, digits and hyphens, not starting or ending with a hyphen"
                .to_owned(),
        );
    }
    Ok(())
}

/// The slug to propose for a copy of `base`: the first of `<base>-<suffix>`,
/// `<base>-<suffix>-2`, `<base>-<suffix>-3`, ... that is not `taken`. `base` is shortened
/// when needed so the result stays a valid slug (63 characters at most).
pub fn free_slug<S: AsRef<str>>(base: &str, suffix: &str, taken: &[S]) -> String {
    let is_taken = |slug: &str| taken.iter().any(|t| t.as_ref() == slug);
    (1..=taken.len() + 1)
        .map(|n| {
            let tail = if n == 1 {
                format!("-{suffix}")
            } else {
                format!("-{suffix}-{n}")
            };
            let room = 63usize.saturating_sub(tail.len());
            let head: String = base.chars().take(room).collect();
            format!("{}{tail}", head.trim_end_matches('-'))
        })
        .find(|slug| !is_taken(slug))
        // Unreachable: of `taken.len() + 1` distinct candidates one is free.
        .unwrap_or_else(|| format!("{base}-{suffix}"))
}

/// A resource value within `range`; `what` names it in the message.
pub fn validate_resource(
    what: &str,
    value: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<(), String> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "{what} must be between {} and {}",
            range.start(),
            range.end()
        ))
    }
}

/// A target directory: absolute, no `..` segment, one line.
pub fn validate_target_dir(dir: &str) -> Result<(), String> {
    if !dir.starts_with('/') {
        return Err(format!("target directory `{dir}` is not absolute"));
    }
    if dir.split('/').any(|segment| segment == "..") {
        return Err(format!("target directory `{dir}` contains `..`"));
    }
    if dir.contains(['\n', '\r', '\0']) {
        return Err("target directory must be one line".to_owned());
    }
    Ok(())
}

/// `TEMPLATE_CONFIG_PATH`: relative to the repository root, no `..` segment.
pub fn validate_config_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path.starts_with('/') {
        return Err(format!(
            "config path `{path}` must be relative to the repository root"
        ));
    }
    if path.split('/').any(|segment| segment == "..") {
        return Err(format!("config path `{path}` contains `..`"));
    }
    Ok(())
}

/// A `custom` package field (name, check or install command): non-empty, one line, no `|`.
pub fn validate_custom_field(what: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if value.contains(['|', '\n', '\r']) {
        return Err(format!("the {what} must be one line without `|`"));
    }
    Ok(())
}

/// A plain package: one word, not a comment.
pub fn validate_package_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.starts_with('#') || name.contains(char::is_whitespace) {
        return Err(format!(
            "`{name}` is not one package (one package per line)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_slugs_for_copies() {
        let none: [&str; 0] = [];
        assert_eq!(free_slug("nginx-web", "custom", &none), "nginx-web-custom");
        assert_eq!(
            free_slug("nginx-web", "custom", &["nginx-web", "nginx-web-custom"]),
            "nginx-web-custom-2"
        );
        assert_eq!(
            free_slug(
                "nginx-web",
                "custom",
                &[
                    "nginx-web-custom",
                    "nginx-web-custom-2",
                    "nginx-web-custom-3"
                ]
            ),
            "nginx-web-custom-4"
        );
        let long = "a".repeat(60);
        let slug = free_slug(&long, "copy", &none);
        assert_eq!(slug.len(), 63);
        assert!(slug.ends_with("-copy"));
        assert_eq!(validate_slug(&slug), Ok(()));
        let taken = vec![slug.clone()];
        let second = free_slug(&long, "copy", &taken);
        assert!(
            second.ends_with("-copy-2") && second.len() <= 63,
            "{second}"
        );
        assert_eq!(validate_slug(&second), Ok(()));
        // A cut that would end in a hyphen is trimmed.
        let hyphen = format!("{}-bbbb", "a".repeat(55));
        let cut = free_slug(&hyphen, "custom", &none);
        assert_eq!(cut, format!("{}-custom", "a".repeat(55)));
        assert_eq!(validate_slug(&cut), Ok(()));
    }

    #[test]
    fn slugs() {
        assert!(validate_slug("web3-dev").is_ok());
        for bad in ["", "-a", "a-", "Web", "a_b", &"a".repeat(64)] {
            assert!(validate_slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn target_dirs() {
        assert!(validate_target_dir("/etc/nginx").is_ok());
        assert!(validate_target_dir("etc").is_err());
        assert!(validate_target_dir("/etc/../root").is_err());
        assert!(validate_target_dir("/etc/..x").is_ok());
    }

    #[test]
    fn resources_and_words() {
        assert!(validate_resource("cores", 0, CPU_RANGE).is_err());
        assert!(validate_resource("cores", 4, CPU_RANGE).is_ok());
        assert_eq!(Manager::from_extension("npm"), Some(Manager::Npm));
        assert_eq!(Manager::from_extension("yum"), None);
        assert_eq!(Policy::from_word("backup"), Some(Policy::Backup));
        assert!(validate_custom_field("check command", "a | b").is_err());
        assert!(validate_package_name("nodejs=24.*").is_ok());
        assert!(validate_package_name("a b").is_err());
    }
}
