//! Where `kiln api login` keeps the server's URL and the token: `$XDG_CONFIG_HOME/kiln/cli.toml`
//! (else `~/.config/kiln/cli.toml`), the file readable by its owner only (0600, in a 0700
//! directory). `KILN_URL` and `KILN_TOKEN` win over the file, each on its own (CI sets both
//! and needs no file).
//!
//! The file is written to a new temporary file created with mode 0600, then renamed over the
//! old one: the secret never sits in a file another user can open, not even for a moment,
//! and a crash half-way leaves the old file whole.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::CliError;

/// The environment variable naming the server (wins over the file).
pub const URL_ENV: &str = "KILN_URL";
/// The environment variable holding the token (wins over the file).
pub const TOKEN_ENV: &str = "KILN_TOKEN";

/// What the file holds.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The server's base URL (`https://kiln.example`), without `/api/v1`.
    pub url: String,
    /// The bearer token (`kiln_…`).
    pub token: String,
}

impl std::fmt::Debug for Profile {
    /// Never the token (a debug print must not leak it).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("url", &self.url)
            .field("token", &"<hidden>")
            .finish()
    }
}

/// The configuration file's path, from `XDG_CONFIG_HOME` or `HOME`.
pub fn path() -> Result<PathBuf, CliError> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".config"))
        })
        .ok_or_else(|| {
            CliError::usage("neither XDG_CONFIG_HOME nor HOME is set: cannot find cli.toml")
        })?;
    Ok(base.join("kiln").join("cli.toml"))
}

/// The server and token to use: the environment's, over the file's. `None` when neither
/// says both.
pub fn current() -> Result<Option<Profile>, CliError> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let (url, token) = (env(URL_ENV), env(TOKEN_ENV));
    if let (Some(url), Some(token)) = (&url, &token) {
        return Ok(Some(Profile {
            url: url.clone(),
            token: token.clone(),
        }));
    }
    let stored = read(&path()?)?;
    Ok(match (stored, url, token) {
        (Some(file), url, token) => Some(Profile {
            url: url.unwrap_or(file.url),
            token: token.unwrap_or(file.token),
        }),
        (None, _, _) => None,
    })
}

/// The file's profile, if there is a file.
pub fn read(path: &Path) -> Result<Option<Profile>, CliError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CliError::failed(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    toml::from_str(&text).map(Some).map_err(|e| {
        CliError::failed(format!(
            "{} is not a Kiln CLI configuration ({}); run `kiln api login` again",
            path.display(),
            e.message()
        ))
    })
}

/// Writes `profile` to `path`: its directory made 0700 when new, the file 0600 from its
/// creation (see the module docs).
pub fn write(path: &Path, profile: &Profile) -> Result<(), CliError> {
    let fail = |what: &str, e: std::io::Error| {
        CliError::failed(format!("cannot {what} {}: {e}", path.display()))
    };
    let dir = path
        .parent()
        .ok_or_else(|| CliError::failed(format!("{} has no directory", path.display())))?;
    if let Some(base) = dir.parent() {
        std::fs::create_dir_all(base).map_err(|e| fail("create the directory of", e))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(fail("create the directory of", e)),
    }
    let text = toml::to_string(profile)
        .map_err(|e| CliError::failed(format!("cannot encode the configuration: {e}")))?;
    let temporary = dir.join(format!(".cli.toml.{}", std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(fail("write", e));
    }
    Ok(())
}

/// Removes the file; `false` when there was none.
pub fn remove(path: &Path) -> Result<bool, CliError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(CliError::failed(format!(
            "cannot remove {}: {e}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_file_is_private_from_the_start_and_replaced_whole()
    -> Result<(), Box<dyn std::error::Error>> {
        let home = tempfile::tempdir()?;
        let path = home.path().join("config").join("kiln").join("cli.toml");
        let profile = Profile {
            url: "http://127.0.0.1:8080".into(),
            token: "kiln_secret".into(),
        };
        write(&path, &profile)?;
        let mode = |p: &Path| -> std::io::Result<u32> {
            Ok(std::fs::metadata(p)?.permissions().mode() & 0o777)
        };
        assert_eq!(mode(&path)?, 0o600);
        let dir = path.parent().ok_or("dir")?;
        assert_eq!(mode(dir)?, 0o700);
        assert_eq!(read(&path)?, Some(profile.clone()));
        // A second login replaces the file, still 0600, nothing left behind.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        let other = Profile {
            token: "kiln_other".into(),
            ..profile
        };
        write(&path, &other)?;
        assert_eq!(mode(&path)?, 0o600);
        assert_eq!(read(&path)?, Some(other.clone()));
        assert_eq!(std::fs::read_dir(dir)?.count(), 1);
        assert!(!format!("{other:?}").contains("kiln_other"));
        assert!(remove(&path)?);
        assert!(!remove(&path)?);
        assert_eq!(read(&path)?, None);
        Ok(())
    }
}
