//! Template folders on disk (format in `docs/TEMPLATES.md`): read them into the shared
//! [`kiln_shared::templates::Template`] model with findings, write them back (export),
//! lint whole repositories of them for `kiln template lint`, and sync the configured template
//! roots to the `templates` table ([`sync`]).
//!
//! Architecture invariant: nothing here executes anything from a template folder —
//! `template.conf` is parsed, never sourced, and scripts are only read.
//! Errors: parsing never fails; problems become [`Finding`](kiln_shared::templates::Finding)s.
//! Writing returns `std::io::Error`.

pub mod builtin;
pub mod conf;
pub mod configs;
pub mod lint;
pub mod packages;
pub mod parse;
pub mod sync;
pub mod write;

pub use lint::lint_path;
pub use parse::parse_folder;
pub use write::write_folder;
