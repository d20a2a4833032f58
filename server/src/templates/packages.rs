//! Package files (`packages/<bucket>.<manager>`): one package per line, `#` comments and
//! blank lines ignored; `custom` lines are `name|check|install[|timeout_seconds]`.
//!
//! The line rules live in `kiln_shared::catalog` (the bucket and template editors parse the
//! same lines in the browser); these are the names the folder reader and writer use.

pub use kiln_shared::catalog::{
    format_package_line as format_line, line_number, parse_package_line as parse_line,
    parse_package_text as parse_file, validate_package as is_writable,
};
