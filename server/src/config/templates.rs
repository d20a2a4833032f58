//! The template keys: `template_dirs` / `KILN_TEMPLATE_DIRS` (template roots whose folders sync
//! as source `folder`) and `builtin_templates_dir` / `KILN_BUILTIN_TEMPLATES_DIR` (the built-in
//! set, synced as source `builtin`; by default the set embedded in the binary). Every configured
//! directory must exist.

use std::path::PathBuf;

use super::{ConfigError, Env, Key, raw};

const TEMPLATE_DIRS: Key = Key {
    toml: "template_dirs",
    env: "KILN_TEMPLATE_DIRS",
};
const BUILTIN_TEMPLATES_DIR: Key = Key {
    toml: "builtin_templates_dir",
    env: "KILN_BUILTIN_TEMPLATES_DIR",
};

/// `KILN_TEMPLATE_DIRS`: directories separated by `:`; none by default.
pub(super) fn template_dirs(
    env: &dyn Env,
    file: Option<String>,
) -> Result<Vec<PathBuf>, ConfigError> {
    let Some((name, value)) = raw(&TEMPLATE_DIRS, None, env, file) else {
        return Ok(Vec::new());
    };
    value
        .split(':')
        .map(str::trim)
        .filter(|dir| !dir.is_empty())
        .map(|dir| existing_dir(&name, dir))
        .collect()
}

/// `KILN_BUILTIN_TEMPLATES_DIR`; `None` means the set embedded in the binary
/// (`templates::builtin`).
pub(super) fn builtin_dir(
    env: &dyn Env,
    file: Option<String>,
) -> Result<Option<PathBuf>, ConfigError> {
    raw(&BUILTIN_TEMPLATES_DIR, None, env, file)
        .map(|(name, value)| existing_dir(&name, value.trim()))
        .transpose()
}

fn existing_dir(key: &str, dir: &str) -> Result<PathBuf, ConfigError> {
    let path = PathBuf::from(dir);
    if path.is_dir() {
        Ok(path)
    } else {
        Err(ConfigError::key(
            key,
            format!("{dir:?} is not an existing directory"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Config, Overrides};

    fn load(pairs: &[(&str, String)]) -> Result<Config, String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let env = move |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        Config::load_from(&Overrides::default(), &env).map_err(|e| e.to_string())
    }

    #[test]
    fn template_dirs_must_exist() -> Result<(), Box<dyn std::error::Error>> {
        let a = tempfile::tempdir()?;
        let b = tempfile::tempdir()?;
        let both = format!("{}:{}", a.path().display(), b.path().display());
        let config = load(&[("KILN_TEMPLATE_DIRS", both)])?;
        assert_eq!(config.template_dirs, [a.path(), b.path()]);

        let missing = a.path().join("nope");
        let with_missing = format!("{}:{}", b.path().display(), missing.display());
        let err = load(&[("KILN_TEMPLATE_DIRS", with_missing)]).map(|_| ());
        assert!(
            matches!(err, Err(ref m) if m.contains("KILN_TEMPLATE_DIRS") && m.contains("nope") && !m.contains('\n')),
            "{err:?}"
        );
        Ok(())
    }

    #[test]
    fn builtin_dir_must_exist_when_given() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let config = load(&[(
            "KILN_BUILTIN_TEMPLATES_DIR",
            dir.path().display().to_string(),
        )])?;
        assert_eq!(config.builtin_templates_dir.as_deref(), Some(dir.path()));
        let err = load(&[(
            "KILN_BUILTIN_TEMPLATES_DIR",
            dir.path().join("gone").display().to_string(),
        )])
        .map(|_| ());
        assert!(
            matches!(err, Err(ref m) if m.contains("KILN_BUILTIN_TEMPLATES_DIR")),
            "{err:?}"
        );
        let defaults = load(&[])?;
        assert!(defaults.template_dirs.is_empty());
        assert!(defaults.builtin_templates_dir.is_none(), "the embedded set");
        Ok(())
    }
}
