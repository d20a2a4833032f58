//! Where a template's `TEMPLATE_CONFIG_PATH` points: the path is relative to the root of the
//! repository the template is kept in, and that root can be several levels above the
//! template folder (a repository keeping templates at `infra/lxc/templates/<name>` writes
//! `infra/lxc/templates/<name>/container-configs`).
//!
//! The candidates, nearest first: the path under each ancestor of the (canonical) template
//! folder, from its parent up to the first ancestor holding `.git` (the repository root),
//! never under the filesystem root. The first that is a real folder wins; a candidate that
//! passes through a symbolic link is not followed. When none exists and the path ends in
//! `<folder name>/container-configs` (a template folder copied out of its repository), the
//! folder's own `container-configs` is used. Otherwise the finding names every candidate.

use std::path::{Path, PathBuf};

/// The folder to read and how findings name it (relative to the template folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub dir: PathBuf,
    /// `../<path>`, `../../<path>`..., or `container-configs`.
    pub prefix: String,
}

/// The configs folder of the template in `dir` for `TEMPLATE_CONFIG_PATH` = `path` (already
/// validated: relative, no `..`); `Err` is the finding's message naming every candidate.
pub fn resolve(dir: &Path, path: &str) -> Result<Resolved, String> {
    let path = path.trim_end_matches('/');
    let real = dir.canonicalize().ok();
    // `kiln template lint .` names the folder by its real name.
    let name = real
        .as_deref()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tried = Vec::new();
    let mut through_link = Vec::new();
    let ancestors: Vec<&Path> = match &real {
        Some(real) => real.ancestors().skip(1).collect(),
        None => Vec::new(),
    };
    for (depth, ancestor) in ancestors.into_iter().enumerate() {
        if ancestor.parent().is_none() {
            break;
        }
        let shown = format!("{}{path}", "../".repeat(depth + 1));
        match real_dir(ancestor, path) {
            Found::Yes => {
                return Ok(Resolved {
                    dir: ancestor.join(path),
                    prefix: shown,
                });
            }
            Found::ThroughLink => through_link.push(shown.clone()),
            Found::No => {}
        }
        tried.push(shown);
        if std::fs::symlink_metadata(ancestor.join(".git")).is_ok() {
            break;
        }
    }
    let own = format!("{name}/container-configs");
    if !name.is_empty() && (path == own || path.ends_with(&format!("/{own}"))) {
        let shown = "container-configs".to_owned();
        if let Some(real) = &real {
            match real_dir(real, "container-configs") {
                Found::Yes => {
                    return Ok(Resolved {
                        dir: real.join("container-configs"),
                        prefix: shown,
                    });
                }
                Found::ThroughLink => through_link.push(shown.clone()),
                Found::No => {}
            }
        }
        tried.push(shown);
    }
    let mut message = format!(
        "TEMPLATE_CONFIG_PATH `{path}` is not a folder of the repository (tried {})",
        tried.join(", ")
    );
    if !through_link.is_empty() {
        message.push_str(&format!(
            "; symbolic links are not followed: {}",
            through_link.join(", ")
        ));
    }
    Err(message)
}

enum Found {
    Yes,
    /// There, but only through a symbolic link.
    ThroughLink,
    No,
}

/// Whether `base/path` is a directory reached without any symbolic link below `base`.
fn real_dir(base: &Path, path: &str) -> Found {
    let mut at = base.to_path_buf();
    for segment in path.split('/').filter(|s| !s.is_empty() && *s != ".") {
        at.push(segment);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return if at.is_dir() {
                    Found::ThroughLink
                } else {
                    Found::No
                };
            }
            Ok(meta) if meta.is_dir() => {}
            _ => return Found::No,
        }
    }
    Found::Yes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_ancestor_then_the_repository_root() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let repo = tmp.path().join("repo");
        let dir = repo.join("infra/lxc/templates/web");
        std::fs::create_dir_all(dir.join("container-configs"))?;
        std::fs::create_dir_all(repo.join(".git"))?;
        let found = resolve(&dir, "infra/lxc/templates/web/container-configs/");
        assert_eq!(
            found.map(|r| r.prefix),
            Ok("../../../../infra/lxc/templates/web/container-configs".to_owned())
        );
        // The walk stops at the repository root (`.git`).
        std::fs::create_dir_all(tmp.path().join("shared"))?;
        let err = resolve(&dir, "shared").err().unwrap_or_default();
        assert!(
            err.contains("../shared, ../../shared, ../../../shared, ../../../../shared)"),
            "{err}"
        );
        Ok(())
    }
}
