//! The dashboard: what Kiln manages, at a glance — nodes, containers by status, the newest
//! containers, and what to do next when there is nothing yet.

use kiln_shared::containers::ContainerStatus;
use leptos::prelude::*;

use crate::components::layout::{EmptyState, PageHeader};
use crate::functions::containers::list_containers;
use crate::functions::nodes::list_nodes;
use crate::pages::container::status_badge;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let data = Resource::new(
        || (),
        |_| async {
            let nodes = list_nodes().await.unwrap_or_default();
            let containers = list_containers().await.unwrap_or_default();
            (nodes, containers)
        },
    );
    view! {
        <PageHeader title="Dashboard" subtitle="Every container on every node, at a glance.">
            <a class="btn btn-primary" href="/containers/new">"Create container"</a>
        </PageHeader>
        <Transition fallback=|| view! { <p class="muted">"Checking your nodes…"</p> }>
            {move || Suspend::new(async move {
                let (nodes, containers) = data.await;
                let total = nodes.len();
                let online = nodes.iter().filter(|n| n.health.online).count();
                let count = |s: ContainerStatus| containers.iter().filter(|c| c.status == s).count();
                let (ready, creating, failed) = (
                    count(ContainerStatus::Ready),
                    count(ContainerStatus::Creating),
                    count(ContainerStatus::Failed),
                );
                view! {
                    <div class="grid stats">
                        <a class="card stat" href="/nodes">
                            <div class="stat-value">{total}</div>
                            <div class="stat-label">{format!("Nodes ({online} online)")}</div>
                        </a>
                        <a class="card stat" href="/containers" data-test="stat-containers">
                            <div class="stat-value">{containers.len()}</div>
                            <div class="stat-label">{format!("Containers ({ready} ready, {creating} creating, {failed} failed)")}</div>
                        </a>
                    </div>
                    {if containers.is_empty() {
                        view! {
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
                                <div class="empty-actions">
                                    {if total == 0 {
                                        view! { <a class="btn btn-primary" href="/nodes/new">"Add a node"</a> }.into_any()
                                    } else {
                                        view! { <a class="btn btn-primary" href="/containers/new">"Create container"</a> }.into_any()
                                    }}
                                </div>
                            </EmptyState>
                        }.into_any()
                    } else {
                        view! {
                            <section class="card">
                                <h2 class="card-title">"Newest containers"</h2>
                                <ul class="stack plain-list">
                                    {containers.into_iter().take(8).map(|c| view! {
                                        <li class="row">
                                            <a href=format!("/containers/{}", c.id)><strong>{c.hostname.clone()}</strong></a>
                                            {status_badge(c.status)}
                                            <span class="muted">{c.node_name.clone()}</span>
                                            {c.address.clone().map(|a| view! { <code>{a}</code> })}
                                        </li>
                                    }).collect_view()}
                                </ul>
                            </section>
                        }.into_any()
                    }}
                }
            })}
        </Transition>
    }
}
