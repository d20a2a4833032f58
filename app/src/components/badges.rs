//! Badges the template pages share: where a template comes from, and its lint health.

use kiln_shared::catalog::{Source, TemplateSummary};
use leptos::prelude::*;

use crate::components::format::plural;

/// The source badge of a template.
pub fn source_badge(t: &TemplateSummary) -> impl IntoView + use<> {
    let (class, text, title) = match t.source {
        Source::Builtin => ("badge badge-muted", "built-in", "Shipped with Kiln"),
        Source::Folder => (
            "badge badge-muted",
            "folder",
            "From a template folder (KILN_TEMPLATE_DIRS)",
        ),
        Source::Custom => ("badge badge-accent", "custom", "Made in Kiln's editor"),
    };
    view! { <span class=class title=title data-test="source">{text}</span> }
}

/// Errors and warnings of the lint, or "lint clean".
pub fn health_badge(errors: u32, warnings: u32) -> impl IntoView + use<> {
    let (class, text) = match (errors, warnings) {
        (0, 0) => ("badge badge-ok", "lint clean".to_owned()),
        (0, w) => ("badge badge-warn", format!("{w} warning{}", plural(w))),
        (e, _) => ("badge badge-danger", format!("{e} error{}", plural(e))),
    };
    view! { <span class=class data-test="health">{text}</span> }
}
