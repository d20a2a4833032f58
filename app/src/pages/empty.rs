//! Sections whose features have not landed yet. Each says honestly what will be here and what
//! to do now; none shows made-up data.

use leptos::prelude::*;

use crate::components::layout::{EmptyState, PageHeader};

#[component]
pub fn ContainersPage() -> impl IntoView {
    view! {
        <PageHeader title="Containers" subtitle="Start, stop and watch the containers Kiln manages." />
        <EmptyState icon="containers" title="No containers yet">
            <p class="muted">
                "Containers appear here once a Proxmox node is added and a container is created from a template."
            </p>
            <div class="empty-actions">
                <a class="btn" href="/nodes">"Add a node first"</a>
            </div>
        </EmptyState>
    }
}

#[component]
pub fn TemplatesPage() -> impl IntoView {
    view! {
        <PageHeader title="Templates" subtitle="Reviewed, reusable recipes for a container." />
        <EmptyState icon="templates" title="No templates yet">
            <p class="muted">
                "Templates are folders with a template.conf, packages, scripts and files. "
                "Template discovery and the editor are not available in this version yet."
            </p>
        </EmptyState>
    }
}

#[component]
pub fn PackagesPage() -> impl IntoView {
    view! {
        <PageHeader title="Packages" subtitle="Package buckets that templates share." />
        <EmptyState icon="packages" title="No package buckets yet">
            <p class="muted">
                "Buckets group packages by manager (apt, apk, dnf, npm, pip). "
                "They will be read from your templates once template support lands."
            </p>
        </EmptyState>
    }
}
