//! The built-in templates Kiln ships (`server/builtin-templates/`), embedded in the binary.
//! At start they are written out to `<data dir>/builtin-templates` (replacing what was there)
//! and synced like any other template root, as source `builtin`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "builtin-templates/"]
struct Builtin;

/// Writes the embedded set to `<data_dir>/builtin-templates`; returns that directory.
pub fn extract(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let root = data_dir.join("builtin-templates");
    if root.exists() {
        std::fs::remove_dir_all(&root).with_context(|| format!("clearing {}", root.display()))?;
    }
    for name in Builtin::iter() {
        let Some(file) = Builtin::get(&name) else {
            continue;
        };
        let path = root.join(name.as_ref());
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, file.data.as_ref())
            .with_context(|| format!("writing {}", path.display()))?;
        if name.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_set_extracts_and_lints_clean() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let root = extract(dir.path())?;
        let results = crate::templates::lint::lint_path(&root);
        let slugs: Vec<String> = results
            .iter()
            .filter_map(|(p, _)| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        for slug in [
            "debian-base",
            "nginx-web",
            "postgresql-server",
            "docker-host",
        ] {
            assert!(slugs.iter().any(|s| s == slug), "{slug} in {slugs:?}");
        }
        for (path, findings) in &results {
            assert!(findings.is_empty(), "{}: {findings:?}", path.display());
        }
        // A second extraction replaces the first.
        extract(dir.path())?;
        Ok(())
    }
}
