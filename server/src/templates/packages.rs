//! Package files (`packages/<bucket>.<manager>`): one package per line, `#` comments and
//! blank lines ignored; `custom` lines are `name|check|install[|timeout_seconds]`.

use kiln_shared::templates::{Manager, Package, validate_custom_field, validate_package_name};

/// One line: `Ok(None)` for a blank or comment line, the package, or an error message.
pub fn parse_line(manager: Manager, line: &str) -> Result<Option<Package>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    if manager != Manager::Custom {
        // A trailing comment after whitespace (`curl  # for the health check`).
        let name = line
            .split_once(" #")
            .or_else(|| line.split_once("\t#"))
            .map_or(line, |(name, _)| name)
            .trim_end();
        validate_package_name(name)?;
        return Ok(Some(Package::Plain(name.to_owned())));
    }
    // Like bash's `IFS='|' read -r name check install timeout`.
    let mut fields = line.splitn(4, '|');
    let (Some(name), Some(check), Some(install)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(
            "a custom line is `name|check_command|install_command[|timeout_seconds]`".to_owned(),
        );
    };
    for (what, value) in [
        ("name", name),
        ("check command", check),
        ("install command", install),
    ] {
        if value.trim().is_empty() {
            return Err(format!("the {what} is empty"));
        }
    }
    let timeout_secs = match fields.next() {
        None => None,
        Some(t) => Some(
            t.trim()
                .parse::<u32>()
                .map_err(|_| format!("timeout `{}` is not a whole number of seconds", t.trim()))?,
        ),
    };
    Ok(Some(Package::Custom {
        name: name.trim().to_owned(),
        check: check.trim().to_owned(),
        install: install.trim().to_owned(),
        timeout_secs,
    }))
}

/// A package file's lines: the packages, and `(line, message)` for each bad line.
pub fn parse_file(manager: Manager, text: &str) -> (Vec<Package>, Vec<(u32, String)>) {
    let mut packages = Vec::new();
    let mut errors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        match parse_line(manager, line) {
            Ok(Some(package)) => packages.push(package),
            Ok(None) => {}
            Err(message) => errors.push((line_number(index), message)),
        }
    }
    (packages, errors)
}

/// The line as written back by export.
pub fn format_line(package: &Package) -> String {
    match package {
        Package::Plain(name) => name.clone(),
        Package::Custom {
            name,
            check,
            install,
            timeout_secs,
        } => match timeout_secs {
            Some(t) => format!("{name}|{check}|{install}|{t}"),
            None => format!("{name}|{check}|{install}"),
        },
    }
}

/// Whether [`format_line`] of `package` reads back as the same package.
pub fn is_writable(package: &Package) -> Result<(), String> {
    match package {
        Package::Plain(name) => validate_package_name(name),
        Package::Custom {
            name,
            check,
            install,
            ..
        } => {
            validate_custom_field("name", name)?;
            validate_custom_field("check command", check)?;
            validate_custom_field("install command", install)
        }
    }
}

/// 1-based line number of a 0-based index.
pub fn line_number(index: usize) -> u32 {
    u32::try_from(index).map_or(u32::MAX, |i| i.saturating_add(1))
}
