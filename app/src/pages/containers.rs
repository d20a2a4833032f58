//! `/containers`: every container Kiln made for the user (an administrator sees everybody's),
//! newest first, with its status, node, VMID, template and address, and *Create container*.
//! Rendered on the server; each row links to the container's page.

use leptos::prelude::*;

use crate::components::format::short_time;
use crate::components::layout::{EmptyState, PageHeader};
use crate::functions::containers::list_containers;
use crate::functions::nodes::list_nodes;
use crate::pages::container::status_badge;

#[component]
pub fn ContainersPage() -> impl IntoView {
    let data = Resource::new(
        || (),
        |_| async {
            let containers = list_containers().await?;
            // Only an empty list needs to know whether there is a node to create on.
            let has_node = if containers.is_empty() {
                !list_nodes().await?.is_empty()
            } else {
                true
            };
            Ok::<_, kiln_shared::AppError>((containers, has_node))
        },
    );
    view! {
        <PageHeader title="Containers" subtitle="What Kiln created on your nodes, and how each creation went.">
            <a class="btn btn-primary" href="/containers/new" data-test="create-container">"Create container"</a>
        </PageHeader>
        <Transition fallback=|| view! { <p class="muted">"Loading containers…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok((list, has_node)) if list.is_empty() => view! {
                        <EmptyState icon="containers" title="No containers yet">
                            <p class="muted" data-test="containers-empty">
                                {if has_node {
                                    "Pick a template, answer five short steps, and watch the container being built."
                                } else {
                                    "Containers are made on a Proxmox VE node. Add one first."
                                }}
                            </p>
                            <div class="empty-actions">
                                {if has_node {
                                    view! { <a class="btn btn-primary" href="/containers/new">"Create container"</a> }.into_any()
                                } else {
                                    view! { <a class="btn btn-primary" href="/nodes/new">"Add a node first"</a> }.into_any()
                                }}
                                <a class="btn" href="/templates">"Browse templates"</a>
                            </div>
                        </EmptyState>
                    }.into_any(),
                    Ok((list, _)) => view! {
                        <div class="table-wrap">
                            <table data-test="containers">
                                <thead>
                                    <tr>
                                        <th>"Hostname"</th><th>"Status"</th><th>"Node"</th><th>"VMID"</th>
                                        <th>"Template"</th><th>"Address"</th><th>"Created"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {list.into_iter().map(|c| view! {
                                        <tr data-test="container-row" data-id=c.id>
                                            <td><a href=format!("/containers/{}", c.id)><strong>{c.hostname.clone()}</strong></a></td>
                                            <td>{status_badge(c.status)}</td>
                                            <td>{c.node_name.clone()}</td>
                                            <td class="mono">{c.vmid.map_or_else(|| "—".to_owned(), |v| v.to_string())}</td>
                                            <td>{c.template.clone().unwrap_or_else(|| "plain".to_owned())}</td>
                                            <td class="mono">{c.address.clone().unwrap_or_else(|| "—".to_owned())}</td>
                                            <td class="muted">{short_time(&c.created_at)}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                    Err(e) => view! { <div class="alert alert-error" role="alert">{e.to_string()}</div> }.into_any(),
                }
            })}
        </Transition>
    }
}
