//! The dashboard. Until Proxmox nodes can be added it says so, and what comes next.

use leptos::prelude::*;

use crate::components::layout::{EmptyState, PageHeader};

#[component]
pub fn DashboardPage() -> impl IntoView {
    view! {
        <PageHeader title="Dashboard" subtitle="Every container on every node, at a glance." />
        <div class="grid stats">
            <div class="card stat">
                <div class="stat-value">"0"</div>
                <div class="stat-label">"Nodes"</div>
            </div>
            <div class="card stat">
                <div class="stat-value">"0"</div>
                <div class="stat-label">"Containers"</div>
            </div>
            <div class="card stat">
                <div class="stat-value">"0"</div>
                <div class="stat-label">"Templates"</div>
            </div>
        </div>
        <EmptyState icon="containers" title="No containers yet">
            <p class="muted">
                "Kiln turns reviewed templates into running LXC containers on your Proxmox VE nodes. "
                "Start by adding a node, then pick a template and answer five short steps."
            </p>
            <ol class="steps">
                <li>"Add a Proxmox node (Nodes)."</li>
                <li>"Pick a template (Templates)."</li>
                <li>"Create a container and watch it build."</li>
            </ol>
            <div class="empty-actions">
                <a class="btn btn-primary" href="/nodes">"Go to Nodes"</a>
            </div>
        </EmptyState>
    }
}
