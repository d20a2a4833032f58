//! Sections whose features have not landed yet. Each says honestly what will be here and what
//! to do now; none shows made-up data.

use leptos::prelude::*;

use crate::components::format::plural;
use crate::components::layout::{EmptyState, PageHeader};
use crate::functions::nodes::list_nodes;

/// `/containers`: until containers land, says so — and asks for a node only when the user has
/// none.
#[component]
pub fn ContainersPage() -> impl IntoView {
    let nodes = Resource::new(|| (), |_| list_nodes());
    view! {
        <PageHeader title="Containers" subtitle="Start, stop and watch the containers Kiln manages." />
        <Transition fallback=|| view! { <p class="muted">"Checking your nodes…"</p> }>
            {move || Suspend::new(async move {
                match nodes.await {
                    Ok(list) if list.is_empty() => view! {
                        <EmptyState icon="containers" title="No containers yet">
                            <p class="muted" data-test="containers-empty">
                                "Containers are made on a Proxmox VE node. Add one first; creating containers from templates arrives with the next release of Kiln."
                            </p>
                            <div class="empty-actions">
                                <a class="btn btn-primary" href="/nodes/new">"Add a node first"</a>
                            </div>
                        </EmptyState>
                    }.into_any(),
                    Ok(list) => {
                        let total = u32::try_from(list.len()).unwrap_or(u32::MAX);
                        let online = list.iter().filter(|n| n.health.online).count();
                        view! {
                            <EmptyState icon="containers" title="Containers arrive with the next release">
                                <p class="muted" data-test="containers-empty">
                                    {format!(
                                        "You have {total} node{} ({online} online). Creating, starting and watching containers from templates arrives with the next release of Kiln; until then, browse and prepare templates.",
                                        plural(total),
                                    )}
                                </p>
                                <div class="empty-actions">
                                    <a class="btn btn-primary" href="/templates">"Browse templates"</a>
                                    <a class="btn" href="/nodes">"Nodes"</a>
                                </div>
                            </EmptyState>
                        }.into_any()
                    }
                    Err(e) => view! {
                        <div class="alert alert-error" role="alert">{e.to_string()}</div>
                        <EmptyState icon="containers" title="No containers yet">
                            <p class="muted" data-test="containers-empty">
                                "Creating containers from templates arrives with the next release of Kiln."
                            </p>
                        </EmptyState>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}
