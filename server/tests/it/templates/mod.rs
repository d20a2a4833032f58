//! Template folders: the parser's findings on good and bad fixtures, the `template.conf`
//! line syntax, export round-trips, the `kiln template` command line, properties, what a
//! folder cannot make Kiln read (links, FIFOs, oversize files) and `TEMPLATE_CONFIG_PATH`.
//! None of these need PostgreSQL or Redis.

mod cli;
mod conf;
mod config_path;
mod folders;
mod props;
mod safety;

use std::path::{Path, PathBuf};

use kiln_shared::templates::{Finding, Severity};

/// `server/tests/fixtures/templates/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/templates")
        .join(name)
}

/// Findings as `(path, line, severity)`, the shape the assertions pin.
pub fn summary(findings: &[Finding]) -> Vec<(String, Option<u32>, Severity)> {
    findings
        .iter()
        .map(|f| (f.path.clone(), f.line, f.severity))
        .collect()
}
