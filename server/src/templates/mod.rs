//! Template folders on disk (format in `docs/TEMPLATES.md`): read them into the shared
//! [`kiln_shared::templates::Template`] model with findings, write them back (export),
//! lint whole repositories of them for `kiln template lint`, sync the configured template
//! roots to the `templates` table ([`sync`]), and serve the catalog pages
//! ([`service::TemplateService`]: catalog, detail with [`highlight`]ed scripts and the README
//! as safe HTML ([`markdown`]), [`custom`]
//! templates, shared package [`buckets`]) and the [`export`] download.
//!
//! Architecture invariant: nothing here executes anything from a template folder —
//! `template.conf` is parsed, never sourced, and scripts are only read. Only regular files
//! are read from a folder, never through a symbolic link, within size caps ([`read`]).
//! Errors: parsing never fails; problems become [`Finding`](kiln_shared::templates::Finding)s.
//! Writing returns `std::io::Error`.

pub mod buckets;
pub mod builtin;
pub mod conf;
pub mod config_path;
pub mod configs;
pub mod custom;
pub mod export;
pub mod highlight;
pub mod lint;
pub mod markdown;
pub mod packages;
pub mod parse;
pub mod read;
pub mod service;
pub mod sync;
pub mod write;

pub use lint::lint_path;
pub use parse::parse_folder;
pub use service::TemplateService;
pub use write::write_folder;
