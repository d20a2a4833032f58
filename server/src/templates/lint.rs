//! `kiln template lint`: findings for one template folder or a folder of them.

use std::path::{Path, PathBuf};

use kiln_shared::templates::{Finding, Severity};

use super::parse_folder;
use super::read::{self, Candidate, Refused};

/// Each template folder under `dir` with its findings: `dir` itself when it holds
/// `template.conf`, otherwise its subfolders that do (sorted by name; a symbolic link to a
/// template folder is reported, not followed). A folder with no template at all yields one
/// error for `dir`.
pub fn lint_path(dir: &Path) -> Vec<(PathBuf, Vec<Finding>)> {
    if std::fs::symlink_metadata(dir.join("template.conf")).is_ok() {
        return vec![(dir.to_path_buf(), parse_folder(dir).1)];
    }
    let folders = match read::template_folders(dir) {
        Ok(folders) => folders,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return vec![(dir.to_path_buf(), vec![error(&format!("cannot read: {e}"))])],
    };
    if folders.is_empty() {
        let finding = error("no template.conf here or in any subfolder");
        return vec![(dir.to_path_buf(), vec![finding])];
    }
    folders
        .into_iter()
        .map(|(folder, candidate)| {
            let findings = match candidate {
                Candidate::Symlink => vec![error(&Refused::Symlink.message())],
                _ => parse_folder(&folder).1,
            };
            (folder, findings)
        })
        .collect()
}

/// An error about the folder itself.
fn error(message: &str) -> Finding {
    Finding {
        path: ".".to_owned(),
        line: None,
        severity: Severity::Error,
        message: message.to_owned(),
    }
}

/// `path:line: severity: message`, with `path` joined to the template folder as given.
pub fn format_finding(template_dir: &Path, finding: &Finding) -> String {
    let path = if finding.path == "." {
        template_dir.to_path_buf()
    } else {
        template_dir.join(&finding.path)
    };
    match finding.line {
        Some(line) => format!(
            "{}:{line}: {}: {}",
            path.display(),
            finding.severity,
            finding.message
        ),
        None => format!(
            "{}: {}: {}",
            path.display(),
            finding.severity,
            finding.message
        ),
    }
}
