//! The dashboard: what Kiln manages, at a glance. Containers arrive with a later version; until
//! then it shows the nodes and what to do next.

use leptos::prelude::*;

use crate::components::layout::{EmptyState, PageHeader};
use crate::functions::nodes::list_nodes;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let nodes = Resource::new(|| (), |_| list_nodes());
    view! {
        <PageHeader title="Dashboard" subtitle="Every container on every node, at a glance." />
        <Transition fallback=|| view! { <p class="muted">"Checking your nodes…"</p> }>
            {move || Suspend::new(async move {
                let list = nodes.await.unwrap_or_default();
                let total = list.len();
                let online = list.iter().filter(|n| n.health.online).count();
                view! {
                    <div class="grid stats">
                        <a class="card stat" href="/nodes">
                            <div class="stat-value">{total}</div>
                            <div class="stat-label">{format!("Nodes ({online} online)")}</div>
                        </a>
                        <div class="card stat">
                            <div class="stat-value">"0"</div>
                            <div class="stat-label">"Containers"</div>
                        </div>
                    </div>
                    <EmptyState icon="containers" title="No containers yet">
                        <p class="muted">
                            "Kiln turns reviewed templates into running LXC containers on your Proxmox VE nodes: "
                            "pick a template, answer five short steps, watch it build."
                        </p>
                        <ol class="steps">
                            <li>{if total == 0 { "Add a Proxmox node (Nodes)." } else { "Add a Proxmox node (done)." }}</li>
                            <li>"Pick a template (Templates)."</li>
                            <li>"Create a container and watch it build."</li>
                        </ol>
                        {(total == 0).then(|| view! {
                            <div class="empty-actions">
                                <a class="btn btn-primary" href="/nodes/new">"Add a node"</a>
                            </div>
                        })}
                    </EmptyState>
                }
            })}
        </Transition>
    }
}
