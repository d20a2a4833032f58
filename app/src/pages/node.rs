//! `/nodes/:id`: one node — what its card on `/nodes` shows (address, version, state, the
//! offline banner, the certificate, privileges, its cluster members with their cores, memory
//! and current load)
//! and each member's history as charts (CPU, memory, disk, load) over `?range=` (plain links),
//! drawn on the server inside one `ChartHover` island, with CSV/JSON links per member.

use kiln_shared::AppError;
use kiln_shared::metrics::{Range, Series};
use kiln_shared::nodes::{NodeMember, NodeView};
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

use crate::components::chart::{Chart, ChartHover, MEMBER_CHARTS, RangePicker};
use crate::components::format::{share, short_time, size};
use crate::functions::metrics::member_metrics;
use crate::functions::nodes::get_node;

/// What the page loaded: the node with its health, the range, each member's series.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Loaded {
    view: NodeView,
    range: Range,
    members: Vec<(String, Result<Series, AppError>)>,
}

async fn load(id: i64, range: Range) -> Result<Loaded, AppError> {
    let view = get_node(id).await?;
    let mut members = Vec::with_capacity(view.health.members.len());
    for m in &view.health.members {
        let series = member_metrics(id, m.name.clone(), range.as_str().to_owned()).await;
        members.push((m.name.clone(), series));
    }
    // A member's history that cannot be read is said in its place; the page is fine.
    if members.iter().any(|(_, s)| s.is_err()) {
        crate::components::error::set_ssr_status(200);
    }
    Ok(Loaded {
        view,
        range,
        members,
    })
}

#[component]
pub fn NodePage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let ask = move || {
        let id = params
            .read()
            .get("id")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        (id, Range::parse(query.read().get("range").as_deref()))
    };
    let data = Resource::new(ask, |(id, range)| load(id, range));
    view! {
        <Transition fallback=|| view! { <p class="muted">"Checking the node…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(loaded) => view! { <Node loaded /> }.into_any(),
                    Err(e) => {
                        crate::components::error::set_ssr_status(e.status());
                        view! {
                            <leptos_meta::Title text="Node" />
                            <h1>"Node"</h1>
                            <div class="alert alert-error" role="alert">{e.to_string()}</div>
                            <a class="btn" href="/nodes">"All nodes"</a>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
fn Node(loaded: Loaded) -> impl IntoView {
    let Loaded {
        view,
        range,
        members,
    } = loaded;
    let NodeView {
        node,
        health,
        watch,
    } = view;
    let id = node.id;
    // Not answering: since when, and when it last did (the history below is Kiln's own).
    let offline = watch
        .filter(|_| !health.online)
        .and_then(|w| w.banner(short_time));
    let (status_class, status) = if health.online {
        ("badge badge-ok", "online")
    } else {
        ("badge badge-danger", "offline")
    };
    let charts = if members.is_empty() {
        view! {
            <p class="muted" data-test="no-members">
                "The node does not answer: its members and their history show once it does."
            </p>
        }
        .into_any()
    } else {
        view! {
            <ChartHover>
                {members.into_iter().map(|(name, answer)| member_charts(id, range, name, answer)).collect_view()}
            </ChartHover>
        }
        .into_any()
    };
    view! {
        <leptos_meta::Title text=node.name.clone() />
        <div class="page-header">
            <div>
                <h1 class="page-title" data-test="node-name">{node.name.clone()}</h1>
                <div class="row wrap">
                    <span class=status_class data-test="node-status">{status}</span>
                    {node.is_default.then(|| view! { <span class="badge badge-accent">"default"</span> })}
                    {node.is_lab.then(|| view! { <span class="badge badge-warn" title="A simulated Proxmox node: demo data">"lab node"</span> })}
                    <span class="muted">
                        {format!("{}:{}", node.host, node.port)}
                        {health.version.clone().map(|v| format!(" · Proxmox VE {v}"))}
                    </span>
                </div>
            </div>
            <div class="spacer"></div>
            <div class="page-actions">
                <a class="btn btn-ghost" href="/nodes">"All nodes"</a>
                <a class="btn" href=format!("/nodes/{id}/ssh")>"SSH"</a>
                <a class="btn" href=format!("/nodes/{id}/edit")>"Edit"</a>
            </div>
        </div>
        {offline.map(|banner| view! {
            <div class="alert alert-warn" role="status" data-test="node-offline">
                <strong>{banner}</strong>". Its history below is what Kiln recorded while it answered."
            </div>
        })}
        {health.certificate_changed.clone().map(|cert| view! {
            <div class="alert alert-warn" role="alert">
                "The node's certificate changed. New fingerprint: " <code>{cert.fingerprint}</code>
                " — " <a href=format!("/nodes/{id}/edit")>"review and confirm it"</a>
            </div>
        })}
        {health.error.clone().filter(|_| health.certificate_changed.is_none()).map(|e| view! {
            <div class="alert alert-error">{e}</div>
        })}
        {(!health.missing_privileges.is_empty()).then(|| view! {
            <div class="alert alert-warn">"The token lacks: " {health.missing_privileges.join(", ")}</div>
        })}
        {(!health.members.is_empty()).then(|| members_table(&health.members))}
        <div class="row wrap metrics-bar">
            <h2 class="grow">"History"</h2>
            <RangePicker current=range href=move |r: Range| format!("/nodes/{id}?range={}", r.as_str()) />
        </div>
        <section data-test="metrics" data-range=range.as_str()>{charts}</section>
    }
}

/// The members as the card lists them, with their current figures.
fn members_table(members: &[NodeMember]) -> impl IntoView + use<> {
    let rows = members
        .iter()
        .map(|m| {
            let cpu = m.cpu.map(share).unwrap_or_else(|| "—".into());
            let mem = match (m.mem, m.maxmem) {
                (Some(used), Some(max)) => format!("{} of {}", size(used as f64), size(max as f64)),
                (_, Some(max)) => size(max as f64),
                _ => "—".into(),
            };
            view! {
                <tr data-test="member" data-member=m.name.clone()>
                    <td><span class=if m.online { "dot dot-ok" } else { "dot dot-danger" }></span>" "<strong>{m.name.clone()}</strong></td>
                    <td>{if m.online { "online" } else { "offline" }}</td>
                    <td class="mono">{m.maxcpu.map_or_else(|| "—".to_owned(), |c| c.to_string())}</td>
                    <td class="mono">{cpu}</td>
                    <td class="mono">{mem}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="node-members">
            <h2>"Members"</h2>
            <div class="table-wrap">
                <table class="data">
                    <thead><tr><th>"Member"</th><th>"State"</th><th>"Cores"</th><th>"CPU"</th><th>"Memory"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
}

/// One member's charts (or why there are none), with its export links.
fn member_charts(
    node_id: i64,
    range: Range,
    name: String,
    answer: Result<Series, AppError>,
) -> impl IntoView {
    let member: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
    let export = |ext: &str| {
        format!(
            "/nodes/{node_id}/metrics.{ext}?member={member}&range={}",
            range.as_str()
        )
    };
    let (csv, json) = (export("csv"), export("json"));
    let body = match answer {
        Err(e) => view! {
            <div class="alert alert-warn" role="status" data-test="metrics-error">
                {format!("The history cannot be shown: {e}")}
            </div>
        }
        .into_any(),
        Ok(series) if !series.has_data() => view! {
            <p class="muted" data-test="metrics-empty">
                "No history yet: Kiln records the member's figures every few seconds while the node answers."
            </p>
        }
        .into_any(),
        Ok(series) => view! {
            <div class="chart-grid" data-test="charts">
                {MEMBER_CHARTS.iter().map(|spec| view! {
                    <Chart series=series.clone() spec=*spec subject=name.clone() />
                }).collect_view()}
            </div>
        }
        .into_any(),
    };
    view! {
        <section class="card member-history" data-test="member-history" data-member=name.clone()>
            <div class="row">
                <h3 class="card-title grow">{name.clone()}</h3>
                <a class="btn btn-sm btn-ghost" href=csv download="" data-test="export-csv">"CSV"</a>
                <a class="btn btn-sm btn-ghost" href=json download="" data-test="export-json">"JSON"</a>
            </div>
            {body}
        </section>
    }
}
