//! Export: a [`Template`] written as a folder that [`super::parse_folder`] reads back equal.

use std::io;
use std::path::Path;

use base64::Engine as _;
use kiln_shared::templates::{FileContent, Template, validate_config_path, validate_target_dir};

use super::conf::{format_line, is_identifier};
use super::packages;

/// Keys Kiln maps to fields; an `extra` entry with one of them would be read back as the field.
const KNOWN_KEYS: [&str; 13] = [
    "TEMPLATE_APP",
    "TEMPLATE_DESCRIPTION",
    "TEMPLATE_TAGS",
    "TEMPLATE_CONFIG_PATH",
    "TEMPLATE_CPU",
    "TEMPLATE_RAM",
    "TEMPLATE_DISK",
    "TEMPLATE_OS",
    "TEMPLATE_VERSION",
    "TEMPLATE_UNPRIVILEGED",
    "TEMPLATE_NESTING",
    "TEMPLATE_KEYCTL",
    "TEMPLATE_FUSE",
];

/// Writes `t` into `dir` (the template folder, created when missing; its name should be the
/// slug). With `config_path` set, `container-configs` goes to `dir/../config_path`.
/// Refuses (`InvalidInput`) what could not be read back unchanged. Files already in the
/// folder are overwritten, never deleted: export into an empty or new folder for an exact copy.
pub fn write_folder(t: &Template, dir: &Path) -> io::Result<()> {
    check(t)?;
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("template.conf"), conf_text(t))?;
    if let Some(readme) = &t.readme {
        std::fs::write(dir.join("README.md"), readme)?;
    }
    let configs = match &t.config_path {
        Some(path) => dir.join("..").join(path),
        None => dir.join("container-configs"),
    };
    if !t.scripts.is_empty() {
        let scripts = configs.join("scripts");
        std::fs::create_dir_all(&scripts)?;
        for script in &t.scripts {
            std::fs::write(scripts.join(&script.file_name), &script.content)?;
        }
    }
    if !t.packages.is_empty() {
        let dir = configs.join("packages");
        std::fs::create_dir_all(&dir)?;
        for bucket in &t.packages {
            let mut text = String::new();
            for package in &bucket.packages {
                text.push_str(&packages::format_line(package));
                text.push('\n');
            }
            let name = format!("{}.{}", bucket.name, bucket.manager.extension());
            std::fs::write(dir.join(name), text)?;
        }
    }
    if !t.files.is_empty() {
        let dir = configs.join("files");
        std::fs::create_dir_all(&dir)?;
        for file in &t.files {
            let bytes = match &file.content {
                FileContent::Utf8(text) => text.as_bytes().to_vec(),
                FileContent::Base64(data) => base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|e| invalid(format!("file `{}`: bad base64: {e}", file.name)))?,
            };
            std::fs::write(dir.join(&file.name), bytes)?;
            std::fs::write(
                dir.join(format!("{}.path", file.name)),
                format!("{}\n", file.target_dir),
            )?;
            std::fs::write(
                dir.join(format!("{}.policy", file.name)),
                format!("{}\n", file.policy.word()),
            )?;
        }
    }
    Ok(())
}

/// `template.conf`: every known key, then the unknown ones in their order.
fn conf_text(t: &Template) -> String {
    let flag = |b: bool| if b { "1" } else { "0" }.to_owned();
    let mut lines = vec![
        "# Written by Kiln (template export).".to_owned(),
        format_line("TEMPLATE_APP", &t.app),
        format_line("TEMPLATE_DESCRIPTION", &t.description),
        format_line("TEMPLATE_TAGS", &t.tags.join(";")),
    ];
    if let Some(path) = &t.config_path {
        lines.push(format_line("TEMPLATE_CONFIG_PATH", path));
    }
    for (key, value) in [
        ("TEMPLATE_CPU", t.cpu.to_string()),
        ("TEMPLATE_RAM", t.ram_mib.to_string()),
        ("TEMPLATE_DISK", t.disk_gib.to_string()),
        ("TEMPLATE_OS", t.os.clone()),
        ("TEMPLATE_VERSION", t.os_version.clone()),
        ("TEMPLATE_UNPRIVILEGED", flag(t.unprivileged)),
        ("TEMPLATE_NESTING", flag(t.nesting)),
        ("TEMPLATE_KEYCTL", flag(t.keyctl)),
        ("TEMPLATE_FUSE", flag(t.fuse)),
    ] {
        lines.push(format_line(key, &value));
    }
    for (key, value) in &t.extra {
        lines.push(format_line(key, value));
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// What the folder format cannot hold (it would read back different or not at all).
fn check(t: &Template) -> io::Result<()> {
    let one_line = |what: &str, value: &str| {
        if value.contains(['\n', '\r']) {
            Err(invalid(format!("{what} must be one line")))
        } else {
            Ok(())
        }
    };
    one_line("the display name", &t.app)?;
    one_line("the description", &t.description)?;
    one_line("the OS", &t.os)?;
    one_line("the OS version", &t.os_version)?;
    for tag in &t.tags {
        one_line("a tag", tag)?;
        if tag.trim() != tag || tag.is_empty() || tag.contains(';') {
            return Err(invalid(format!("tag `{tag}` cannot be written")));
        }
    }
    if let Some(path) = &t.config_path {
        validate_config_path(path).map_err(invalid)?;
    }
    for (key, value) in &t.extra {
        if !is_identifier(key) || KNOWN_KEYS.contains(&key.as_str()) {
            return Err(invalid(format!("`{key}` cannot be an extra key")));
        }
        one_line(key, value)?;
    }
    for script in &t.scripts {
        plain_name(&script.file_name)?;
    }
    for bucket in &t.packages {
        plain_name(&bucket.name)?;
        for package in &bucket.packages {
            packages::is_writable(package).map_err(invalid)?;
        }
    }
    for file in &t.files {
        plain_name(&file.name)?;
        validate_target_dir(&file.target_dir).map_err(invalid)?;
    }
    Ok(())
}

/// A file name inside the template: no path separator, not hidden, not documentation.
fn plain_name(name: &str) -> io::Result<()> {
    if name.is_empty()
        || name.contains(['/', '\\', '\0'])
        || name.starts_with('.')
        || name.starts_with("README")
    {
        return Err(invalid(format!(
            "`{name}` cannot be a file name in a template"
        )));
    }
    Ok(())
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
