//! Kiln's shared vocabulary: wire types, validation rules and the error that crosses the wire.
//!
//! Architecture invariant: this crate does no I/O and depends on nothing server-side, so it
//! builds for `wasm32-unknown-unknown` and the same rules run in the browser form and on the
//! server boundary.

pub mod alerts;
pub mod api_tokens;
pub mod auth;
pub mod catalog;
pub mod container_page;
pub mod containers;
pub mod error;
pub mod inventory;
pub mod metrics;
pub mod nodes;
pub mod progress;
pub mod pve;
pub mod templates;
pub mod theme;
pub mod validate;
pub mod wire;
pub mod wizard_form;

pub use error::AppError;
pub use validate::FieldErrors;

/// The value of cookie `name` in a `Cookie` header value (`a=1; b=2`).
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cookie_value() {
        assert_eq!(
            super::cookie_value("a=1; kiln_theme=dark", "kiln_theme"),
            Some("dark")
        );
        assert_eq!(super::cookie_value("a=1", "kiln_theme"), None);
    }
}
