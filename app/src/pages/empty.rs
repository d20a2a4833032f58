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
