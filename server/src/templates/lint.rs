//! `kiln template lint`: findings for one template folder or a folder of them.

use std::path::{Path, PathBuf};

use kiln_shared::templates::{Finding, Severity};

use super::parse_folder;

/// Each template folder under `dir` with its findings: `dir` itself when it holds
/// `template.conf`, otherwise its subfolders that do (sorted by name). A folder with no
/// template at all yields one error for `dir`.
pub fn lint_path(dir: &Path) -> Vec<(PathBuf, Vec<Finding>)> {
    if dir.join("template.conf").is_file() {
        return vec![(dir.to_path_buf(), parse_folder(dir).1)];
    }
    let mut folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|read_dir| {
            read_dir
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.join("template.conf").is_file())
                .collect()
        })
        .unwrap_or_default();
    folders.sort();
    if folders.is_empty() {
        let finding = Finding {
            path: ".".to_owned(),
            line: None,
            severity: Severity::Error,
            message: "no template.conf here or in any subfolder".to_owned(),
        };
        return vec![(dir.to_path_buf(), vec![finding])];
    }
    folders
        .into_iter()
        .map(|folder| {
            let findings = parse_folder(&folder).1;
            (folder, findings)
        })
        .collect()
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
