//! The dashboard (`/` and `/containers`): every container on the user's nodes — Kiln's and
//! the others, shown as "not managed by Kiln" with *Adopt* — with a summary bar, filters and
//! sort in the URL (a plain GET form, so they work without JavaScript and can be shared),
//! cards or a dense table (the choice kept in a cookie), and per row its state, VMID, node,
//! template, address, uptime, CPU/RAM/disk bars, tags, service links and actions.
//!
//! Rendered on the server. One island, `Board`, wraps the list: it listens to the rows'
//! buttons and checkboxes as their events bubble (no island per row), runs lifecycle and bulk
//! actions with a confirmation, shows a row's pending state and a toast with the outcome, and
//! every 10 s while the tab is visible patches each row's state, figures and actions in place
//! from `refresh_inventory` (no reload, no flicker); a row that appeared or went away is
//! announced with a link to reload.

use kiln_shared::inventory::{
    Action, DashboardView, Filter, GuestRow, Sort, State, Totals, View, bytes, uptime,
};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::components::format::short_time;
use crate::components::layout::{EmptyState, PageHeader};
use crate::components::toast::use_toaster;
use crate::functions::containers::load_dashboard;

/// The filter in the current URL.
fn use_filter() -> Memo<Filter> {
    let query = use_query_map();
    Memo::new(move |_| {
        let query = query.read();
        let pairs: Vec<(String, String)> = [
            "node", "status", "template", "tag", "q", "sort", "view", "page",
        ]
        .into_iter()
        .filter_map(|k| Some((k.to_owned(), query.get(k)?)))
        .collect();
        Filter::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    })
}

/// The view: the URL's (remembered in a cookie for the next visit), else the cookie's.
fn chosen_view(filter: &Filter) -> View {
    #[cfg(feature = "ssr")]
    {
        if let Some(view) = filter.view {
            crate::ssr::set_cookie(&format!(
                "{}={}; Path=/; Max-Age=31536000; SameSite=Lax",
                kiln_shared::inventory::VIEW_COOKIE,
                view.as_str()
            ));
            return view;
        }
        crate::ssr::request_cookie(kiln_shared::inventory::VIEW_COOKIE)
            .and_then(|v| View::parse(&v))
            .unwrap_or_default()
    }
    #[cfg(not(feature = "ssr"))]
    filter.view.unwrap_or_default()
}

/// `/containers?…` for `filter`.
fn href(path: &str, filter: &Filter) -> String {
    let query = filter.to_query();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// The dashboard at `/`.
#[component]
pub fn DashboardPage() -> impl IntoView {
    view! { <Board path="/" title="Dashboard" /> }
}

/// The same dashboard at `/containers`.
#[component]
pub fn ContainersPage() -> impl IntoView {
    view! { <Board path="/containers" title="Containers" /> }
}

#[component]
fn Board(path: &'static str, title: &'static str) -> impl IntoView {
    let filter = use_filter();
    let data = Resource::new(move || filter.get(), load_dashboard);
    view! {
        <PageHeader title=title subtitle="Every container on your nodes, at a glance.">
            <a class="btn btn-primary" href="/containers/new" data-test="create-container">"Create container"</a>
        </PageHeader>
        <Transition fallback=|| view! { <p class="muted">"Asking your nodes…"</p> }>
            {move || Suspend::new(async move {
                let filter = filter.get();
                match data.await {
                    Ok(view) => view! { <Dashboard view=view filter=filter path=path /> }.into_any(),
                    Err(e) => view! { <div class="alert alert-error" role="alert">{e.to_string()}</div> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Dashboard(view: DashboardView, filter: Filter, path: &'static str) -> impl IntoView {
    let inv = view;
    if inv.nodes.is_empty() {
        return view! {
            <EmptyState icon="containers" title="No nodes yet">
                <p class="muted" data-test="containers-empty">
                    "Kiln turns reviewed templates into running LXC containers on your Proxmox VE nodes. "
                    "Add a node first; its containers show up here."
                </p>
                <div class="empty-actions">
                    <a class="btn btn-primary" href="/nodes/new">"Add a node"</a>
                    <a class="btn" href="/templates">"Browse templates"</a>
                </div>
            </EmptyState>
        }
        .into_any();
    }
    let view_mode = chosen_view(&filter);
    let (page, pages) = (inv.page, inv.pages);
    let rows = inv.rows.clone();
    let pager = (pages > 1).then(|| {
        let at = |n: usize| {
            href(
                path,
                &Filter {
                    page: n,
                    ..filter.clone()
                },
            )
        };
        view! {
            <nav class="pager" aria-label="Pages" data-test="pager">
                {(page > 1).then(|| view! { <a class="btn btn-sm" href=at(page - 1) rel="prev">"← Previous"</a> })}
                <span class="muted">{format!("Page {page} of {pages}")}</span>
                {(page < pages).then(|| view! { <a class="btn btn-sm" href=at(page + 1) rel="next">"Next →"</a> })}
            </nav>
        }
    });
    let total = inv.total;
    let offline: Vec<_> = inv.nodes.iter().filter(|n| !n.online).cloned().collect();
    let setup = BoardSetup {
        keys: inv.keys,
        selectable: inv.selectable.clone(),
    };
    let list = if total == 0 {
        view! {
            <EmptyState icon="containers" title="No containers yet">
                <p class="muted" data-test="containers-empty">
                    "Pick a template, answer five short steps, and watch the container being built."
                </p>
                <div class="empty-actions">
                    <a class="btn btn-primary" href="/containers/new">"Create container"</a>
                    <a class="btn" href="/nodes/new">"Add a node"</a>
                </div>
            </EmptyState>
        }
        .into_any()
    } else if rows.is_empty() {
        view! {
            <p class="muted empty-filter" data-test="no-match">
                "No container matches this filter. "
                <a href=path>"Show all"</a>
            </p>
        }
        .into_any()
    } else {
        match view_mode {
            View::Cards => view! { <Cards rows=rows /> }.into_any(),
            View::Table => view! { <Table rows=rows filter=filter.clone() path=path /> }.into_any(),
        }
    };
    view! {
        <Summary totals=inv.totals.clone() path=path />
        {offline.into_iter().map(|n| match n.watch.as_ref().and_then(|w| w.banner(short_time)) {
            // The monitor's words: since when, and how old the data shown is.
            Some(banner) => view! {
                <div class="alert alert-warn" role="status" data-test="node-offline">
                    <strong>{banner}</strong>
                    ". Its containers show their last known state; actions that need it wait."
                </div>
            }.into_any(),
            None => view! {
                <div class="alert alert-warn" role="status" data-test="node-offline">
                    <strong>{format!("{} does not answer", n.name)}</strong>
                    {format!(": {}. Its containers show their last known state.", n.error.unwrap_or_default())}
                </div>
            }.into_any(),
        }).collect_view()}
        <Filters filter=filter.clone() view=inv path=path view_mode=view_mode />
        <BoardIsland setup=setup>
            {list}
        </BoardIsland>
        {pager}
    }
    .into_any()
}

/// The summary bar: containers by state (each a filter link), nodes online, CPU and RAM.
#[component]
fn Summary(totals: Totals, path: &'static str) -> impl IntoView {
    let t = totals;
    let link = |s: State| {
        href(
            path,
            &Filter {
                state: Some(s),
                ..Filter::default()
            },
        )
    };
    let cpu = if t.cpu_total > 0.0 {
        t.cpu_used / t.cpu_total
    } else {
        0.0
    };
    let mem = kiln_shared::inventory::share(Some(t.mem_used), Some(t.mem_total)).unwrap_or(0.0);
    view! {
        <section class="summary" data-test="summary" aria-label="Summary">
            {[State::Running, State::Stopped, State::Creating, State::Failed].into_iter().map(|s| view! {
                <a class=format!("summary-item state-{}", s.as_str()) href=link(s)>
                    <span class="summary-value" data-summary=s.as_str()>{t.count(s)}</span>
                    <span class="summary-label">{s.label()}</span>
                </a>
            }).collect_view()}
            <a class="summary-item" href="/nodes">
                <span class="summary-value" data-summary="nodes">{format!("{}/{}", t.nodes_online, t.nodes)}</span>
                <span class="summary-label">"Nodes online"</span>
            </a>
            <div class="summary-item summary-gauge">
                <span class="summary-label">{format!("CPU {:.1} of {:.0} cores", t.cpu_used, t.cpu_total)}</span>
                <meter class="meter" min="0" max="1" value=cpu data-summary-bar="cpu"></meter>
            </div>
            <div class="summary-item summary-gauge">
                <span class="summary-label">{format!("RAM {} of {}", bytes(t.mem_used), bytes(t.mem_total))}</span>
                <meter class="meter" min="0" max="1" value=mem data-summary-bar="mem"></meter>
            </div>
        </section>
    }
}

/// The filter form (GET: works without JavaScript) and the view switch.
#[component]
fn Filters(
    filter: Filter,
    view: DashboardView,
    path: &'static str,
    view_mode: View,
) -> impl IntoView {
    let DashboardView {
        nodes,
        templates,
        tags,
        total,
        matching: shown,
        ..
    } = view;
    let view_link = |v: View| {
        href(
            path,
            &Filter {
                view: Some(v),
                ..filter.clone()
            },
        )
    };
    let node = filter.node;
    let state = filter.state;
    let template = filter.template.clone();
    let tag = filter.tag.clone();
    let sort = filter.sort;
    view! {
        <form class="filters" method="get" action=path data-test="filters" role="search">
            <input type="search" name="q" value=filter.q.clone() placeholder="Name, VMID, address, tag…" aria-label="Search" data-test="filter-q" />
            <select name="node" aria-label="Node" data-test="filter-node">
                <option value="">"All nodes"</option>
                {nodes.iter().map(|n| view! {
                    <option value=n.id.to_string() selected={node == Some(n.id)}>{n.name.clone()}</option>
                }).collect_view()}
            </select>
            <select name="status" aria-label="Status" data-test="filter-status">
                <option value="">"Any status"</option>
                {State::ALL.into_iter().map(|s| view! {
                    <option value=s.as_str() selected={state == Some(s)}>{s.label()}</option>
                }).collect_view()}
            </select>
            <select name="template" aria-label="Template" data-test="filter-template">
                <option value="">"Any template"</option>
                {templates.into_iter().map(|t| {
                    let selected = template.as_deref() == Some(t.as_str());
                    view! { <option value=t.clone() selected=selected>{t.clone()}</option> }
                }).collect_view()}
            </select>
            <select name="tag" aria-label="Tag" data-test="filter-tag">
                <option value="">"Any tag"</option>
                {tags.into_iter().map(|t| {
                    let selected = tag.as_deref() == Some(t.as_str());
                    view! { <option value=t.clone() selected=selected>{t.clone()}</option> }
                }).collect_view()}
            </select>
            <select name="sort" aria-label="Sort" data-test="filter-sort">
                {Sort::ALL.into_iter().map(|s| view! {
                    <option value=s.as_str() selected={sort == s}>{format!("Sort: {}", s.label())}</option>
                }).collect_view()}
            </select>
            {filter.view.map(|v| view! { <input type="hidden" name="view" value=v.as_str() /> })}
            <button type="submit" class="btn btn-sm" data-test="filter-apply">"Apply"</button>
            {filter.is_filtering().then(|| view! { <a class="btn btn-sm btn-ghost" href=path>"Clear"</a> })}
            <span class="muted filters-count" data-test="shown">{format!("{shown} of {total}")}</span>
            <span class="view-switch" role="group" aria-label="View">
                <a class="btn btn-sm" href=view_link(View::Cards) aria-pressed={(view_mode == View::Cards).to_string()} data-test="view-cards">"Cards"</a>
                <a class="btn btn-sm" href=view_link(View::Table) aria-pressed={(view_mode == View::Table).to_string()} data-test="view-table">"Table"</a>
            </span>
        </form>
    }
}

/// A state badge whose text and tone the live refresh can change.
fn state_badge(state: State) -> impl IntoView {
    view! {
        <span class=format!("badge state-badge state-{}", state.as_str()) data-field="state" data-test="state">
            {state.label()}
        </span>
    }
}

/// A 0–1 bar with its label.
fn bar(name: &'static str, label: &'static str, value: Option<f64>, text: String) -> impl IntoView {
    view! {
        <div class="bar">
            <span class="bar-label">{label}</span>
            <meter class="meter" min="0" max="1" value=rounded(value) data-bar=name></meter>
            <span class="bar-text muted" data-bar-text=name>{text}</span>
        </div>
    }
}

/// A 0–1 share as the meter's value, rounded (`0.101`; 0 when unknown).
fn rounded(value: Option<f64>) -> f64 {
    (value.unwrap_or(0.0) * 1000.0).round() / 1000.0
}

/// The row's action buttons (hidden when not offered now; the refresh shows them), or
/// *Adopt* for a guest Kiln does not manage.
fn actions(row: &GuestRow) -> impl IntoView + use<> {
    if row.id.is_none() {
        return view! {
            <div class="guest-actions">
                <button type="button" class="btn btn-sm" data-adopt="" data-node=row.node_id
                    data-vmid=row.vmid.unwrap_or_default() data-test="adopt">
                    "Adopt"
                </button>
            </div>
        }
        .into_any();
    }
    let buttons = Action::ALL.map(|a| {
        let class = if a == Action::Delete {
            "btn btn-sm btn-ghost btn-danger-text"
        } else {
            "btn btn-sm"
        };
        view! {
            <button type="button" class=class data-action=a.as_str() hidden={!row.offers(a)}>
                {a.label()}
            </button>
        }
    });
    view! { <div class="guest-actions">{buttons.into_iter().collect_view()}</div> }.into_any()
}

/// The row's name: a link to its page, or plain with "not managed by Kiln".
fn name_cell(row: &GuestRow) -> impl IntoView + use<> {
    match row.id {
        Some(id) => view! {
            <a class="guest-name" href=format!("/containers/{id}") data-test="guest-name"><strong>{row.name.clone()}</strong></a>
            {row.adopted.then(|| view! { <span class="badge badge-muted" title="Not created by Kiln; managed since it was adopted">"adopted"</span> })}
        }
        .into_any(),
        None => view! {
            <span class="guest-name" data-test="guest-name"><strong>{row.name.clone()}</strong></span>
            <span class="badge badge-muted" data-test="unmanaged">"not managed by Kiln"</span>
        }
        .into_any(),
    }
}

/// The select checkbox of a managed row.
fn select_box(row: &GuestRow) -> impl IntoView + use<> {
    row.id.map(|id| {
        view! {
            <input type="checkbox" class="select" data-select=id aria-label=format!("Select {}", row.name) data-test="select" />
        }
    })
}

/// The line under a row: busy, stale or failed.
fn notes(row: &GuestRow) -> impl IntoView + use<> {
    let stale = row.stale.then(|| {
        let when = row.seen_at.as_deref().map_or_else(|| "never".to_owned(), short_time);
        let power = row.last_power.clone().unwrap_or_else(|| "unknown".to_owned());
        view! { <p class="guest-note muted" data-test="stale">{format!("Node not answering — last seen {when} ({power})")}</p> }
    });
    let error = row
        .error
        .clone()
        .map(|e| view! { <p class="guest-note text-danger">{e}</p> });
    view! {
        <p class="guest-note guest-busy" data-field="busy" hidden=row.busy.is_none() data-test="busy">
            {row.busy.as_ref().map(ToString::to_string).unwrap_or_default()}
        </p>
        {stale}
        {error}
    }
}

fn links(row: &GuestRow) -> impl IntoView + use<> {
    (!row.links.is_empty()).then(|| {
        view! {
            <div class="guest-links">
                {row.links.iter().map(|l| view! {
                    <a href=l.url.clone() target="_blank" rel="noopener noreferrer" data-test="service-link">{format!("{} ↗", l.name)}</a>
                }).collect_view()}
            </div>
        }
    })
}

fn tags(row: &GuestRow) -> impl IntoView + use<> {
    (!row.tags.is_empty()).then(|| {
        view! {
            <div class="tags">
                {row.tags.iter().map(|t| view! { <span class="tag">{t.clone()}</span> }).collect_view()}
            </div>
        }
    })
}

/// The live figures: the three shares, the three bars' texts, the uptime.
fn figures(
    row: &GuestRow,
) -> (
    Option<f64>,
    Option<f64>,
    Option<f64>,
    String,
    String,
    String,
    String,
) {
    let live = row.live.clone().unwrap_or_default();
    let up = live
        .uptime
        .filter(|u| *u > 0 && row.state == State::Running)
        .map(uptime)
        .unwrap_or_else(|| "—".to_owned());
    let [cpu_text, mem_text, disk_text] = live.texts();
    (
        live.cpu_share(),
        live.mem_share(),
        live.disk_share(),
        cpu_text,
        mem_text,
        disk_text,
        up,
    )
}

#[component]
fn Cards(rows: Vec<GuestRow>) -> impl IntoView {
    view! {
        <div class="select-all-bar">
            <label><input type="checkbox" data-select-all="" data-test="select-all" />" Select all on this page"</label>
        </div>
        <div class="guest-grid" data-test="guests">
            {rows.into_iter().map(|row| {
                let (cpu, mem, disk, cpu_text, mem_text, disk_text, up) = figures(&row);
                view! {
                    <article class="card guest-card" data-key=row.key.clone() data-id=row.id.map(|i| i.to_string())
                        data-name=row.name.clone() data-state=row.state.as_str() data-test="guest">
                        <header class="guest-head">
                            {select_box(&row)}
                            {name_cell(&row)}
                            {state_badge(row.state)}
                        </header>
                        <dl class="guest-facts">
                            <div><dt>"VMID"</dt><dd class="mono">{row.vmid.map_or_else(|| "—".to_owned(), |v| v.to_string())}</dd></div>
                            <div><dt>"Node"</dt><dd>{row.node_name.clone()}{row.member.clone().map(|m| format!(" · {m}"))}</dd></div>
                            <div><dt>"Template"</dt><dd>{row.template.clone().unwrap_or_else(|| "—".to_owned())}</dd></div>
                            <div><dt>"IP"</dt><dd class="mono">{row.address.clone().unwrap_or_else(|| "—".to_owned())}</dd></div>
                            <div><dt>"Uptime"</dt><dd data-field="uptime">{up}</dd></div>
                        </dl>
                        <div class="bars">
                            {bar("cpu", "CPU", cpu, cpu_text)}
                            {bar("mem", "RAM", mem, mem_text)}
                            {bar("disk", "Disk", disk, disk_text)}
                        </div>
                        {tags(&row)}
                        {links(&row)}
                        {notes(&row)}
                        {actions(&row)}
                    </article>
                }
            }).collect_view()}
        </div>
    }
}

#[component]
fn Table(rows: Vec<GuestRow>, filter: Filter, path: &'static str) -> impl IntoView {
    let head = move |label: &'static str, sort: Sort| {
        let link = href(
            path,
            &Filter {
                sort,
                ..filter.clone()
            },
        );
        let current = filter.sort == sort;
        view! {
            <th aria-sort=current.then_some("descending")>
                <a href=link>{label}</a>
            </th>
        }
    };
    view! {
        <div class="table-wrap">
            <table class="data guests" data-test="guests">
                <thead>
                    <tr>
                        <th><input type="checkbox" data-select-all="" aria-label="Select all on this page" data-test="select-all" /></th>
                        {head("Name", Sort::Name)}
                        {head("Status", Sort::State)}
                        {head("VMID", Sort::Vmid)}
                        {head("Node", Sort::Node)}
                        <th>"Template"</th>
                        <th>"IP"</th>
                        {head("Uptime", Sort::Uptime)}
                        {head("CPU", Sort::Cpu)}
                        {head("RAM", Sort::Mem)}
                        <th>"Disk"</th>
                        <th>"Tags"</th>
                        <th>"Links"</th>
                        <th>"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|row| {
                        let (cpu, mem, disk, cpu_text, mem_text, disk_text, up) = figures(&row);
                        view! {
                            <tr data-key=row.key.clone() data-id=row.id.map(|i| i.to_string())
                                data-name=row.name.clone() data-state=row.state.as_str() data-test="guest">
                                <td>{select_box(&row)}</td>
                                <td>{name_cell(&row)}{notes(&row)}</td>
                                <td>{state_badge(row.state)}</td>
                                <td class="mono">{row.vmid.map_or_else(|| "—".to_owned(), |v| v.to_string())}</td>
                                <td>{row.node_name.clone()}</td>
                                <td>{row.template.clone().unwrap_or_else(|| "—".to_owned())}</td>
                                <td class="mono">{row.address.clone().unwrap_or_else(|| "—".to_owned())}</td>
                                <td data-field="uptime">{up}</td>
                                <td><meter class="meter" min="0" max="1" value=rounded(cpu) data-bar="cpu" title=cpu_text></meter></td>
                                <td><meter class="meter" min="0" max="1" value=rounded(mem) data-bar="mem" title=mem_text></meter></td>
                                <td><meter class="meter" min="0" max="1" value=rounded(disk) data-bar="disk" title=disk_text></meter></td>
                                <td>{tags(&row)}</td>
                                <td>{links(&row)}</td>
                                <td>{actions(&row)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// What the board island starts from: every row's key (all, not only the shown ones), to
/// notice rows that appear or go away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardSetup {
    /// The digest of all rows' keys (`kiln_shared::inventory::keys_digest`).
    pub keys: u64,
    /// The ids of every managed row the filter selects, on all pages.
    pub selectable: Vec<i64>,
}

/// What the confirmation dialog is asking about.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ask {
    /// The containers (id, name).
    targets: Vec<(i64, String)>,
    /// The action.
    action: Action,
    /// Text the user must type first (a deletion).
    typed: Option<String>,
    /// The question.
    question: String,
}

/// A bulk action's outcome line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OutcomeLine {
    name: String,
    ok: bool,
    message: String,
}

#[island]
fn BoardIsland(setup: BoardSetup, children: Children) -> impl IntoView {
    let toaster = use_toaster();
    let selected = RwSignal::new(Vec::<(i64, String)>::new());
    let ask = RwSignal::new(None::<Ask>);
    let typed = RwSignal::new(String::new());
    let outcomes = RwSignal::new(Vec::<OutcomeLine>::new());
    let changed = RwSignal::new(false);
    let root = NodeRef::<leptos::html::Div>::new();
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    let state = BoardState {
        selected,
        ask,
        typed,
        outcomes,
        changed,
        root,
        dialog,
        toaster,
        keys: setup.keys,
    };
    #[cfg(feature = "hydrate")]
    browser::start(state);
    // *Select all matching*: every managed row the filter selects, beyond this page.
    let selectable = StoredValue::new(setup.selectable);
    let more_than_page = move || {
        let n = selected.with(Vec::len);
        n > 0 && selectable.with_value(|all| all.len() > n)
    };
    let select_matching = move |_| {
        let names: std::collections::HashMap<i64, String> =
            selected.get_untracked().into_iter().collect();
        selected.set(selectable.with_value(|all| {
            all.iter()
                .map(|id| {
                    (
                        *id,
                        names
                            .get(id)
                            .cloned()
                            .unwrap_or_else(|| format!("container {id}")),
                    )
                })
                .collect()
        }));
    };

    let on_click = move |ev: leptos::ev::MouseEvent| {
        #[cfg(feature = "hydrate")]
        browser::clicked(state, &ev);
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let on_change = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        browser::changed(state, &ev);
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let bulk = move |action: Action| {
        let targets = selected.get();
        let n = targets.len();
        let question = match action {
            Action::Delete => format!(
                "Delete {n} container{}? Kiln destroys each on its node (only those it created or adopted) with its disk, then forgets it, its services and logins. Type delete to confirm.",
                if n == 1 { "" } else { "s" }
            ),
            _ => format!(
                "{} {n} container{}?",
                action.label(),
                if n == 1 { "" } else { "s" }
            ),
        };
        let typed_word = (action == Action::Delete).then(|| "delete".to_owned());
        open(
            state,
            Ask {
                targets,
                action,
                typed: typed_word,
                question,
            },
        );
    };
    let confirm = move |_| {
        let Some(asked) = ask.get_untracked() else {
            return;
        };
        if let Some(word) = &asked.typed
            && typed.get_untracked().trim() != word
        {
            return;
        }
        close(state);
        #[cfg(feature = "hydrate")]
        browser::run(state, asked);
        #[cfg(not(feature = "hydrate"))]
        let _ = asked;
    };
    let can_confirm = move || match ask.get() {
        Some(Ask {
            typed: Some(word), ..
        }) => typed.get().trim() == word,
        Some(_) => true,
        None => false,
    };
    view! {
        <div class="board" node_ref=root on:click=on_click on:change=on_change data-test="board">
            <div class="alert alert-info" role="status" hidden=move || !changed.get() data-test="list-changed">
                "Containers were added or removed. "
                <a href="" data-test="reload">"Reload the list"</a>
            </div>
            <div class="bulk-bar" hidden=move || selected.with(Vec::is_empty) data-test="bulk-bar" role="toolbar" aria-label="With the selected containers">
                <span data-test="selected-count">{move || format!("{} selected", selected.with(Vec::len))}</span>
                <button type="button" class="btn btn-sm btn-ghost" hidden=move || !more_than_page()
                    data-test="select-matching" on:click=select_matching>
                    {move || format!("Select all {} matching", selectable.with_value(Vec::len))}
                </button>
                {Action::BULK.into_iter().map(|a| view! {
                    <button type="button" class=if a == Action::Delete { "btn btn-sm btn-danger" } else { "btn btn-sm" }
                        data-test=format!("bulk-{}", a.as_str()) on:click=move |_| bulk(a)>
                        {a.label()}
                    </button>
                }).collect_view()}
            </div>
            <div class="card bulk-results" hidden=move || outcomes.with(Vec::is_empty) data-test="bulk-results">
                <h2 class="card-title">"Outcome"</h2>
                <ul class="plain-list">
                    {move || outcomes.get().into_iter().map(|o| view! {
                        <li class=if o.ok { "ok" } else { "text-danger" } data-test="bulk-outcome" data-ok=o.ok.to_string()>
                            <strong>{o.name}</strong>": "{o.message}
                        </li>
                    }).collect_view()}
                </ul>
                <button type="button" class="btn btn-sm btn-ghost" on:click=move |_| outcomes.set(Vec::new())>"Dismiss"</button>
            </div>
            {children()}
            <dialog class="confirm" node_ref=dialog data-test="board-confirm">
                <p>{move || ask.get().map(|a| a.question).unwrap_or_default()}</p>
                {move || ask.get().and_then(|a| a.typed).map(|word| view! {
                    <label class="field">
                        <span>{format!("Type {word} to confirm")}</span>
                        <input type="text" autocomplete="off" data-test="confirm-typed"
                            prop:value=move || typed.get()
                            on:input=move |ev| typed.set(event_target_value(&ev)) />
                    </label>
                })}
                <div class="dialog-actions">
                    <button type="button" class="btn btn-ghost" on:click=move |_| close(state)>"Cancel"</button>
                    <button type="button" class="btn btn-danger" data-test="confirm" disabled=move || !can_confirm() on:click=confirm>
                        {move || ask.get().map(|a| a.action.label()).unwrap_or_default()}
                    </button>
                </div>
            </dialog>
        </div>
    }
}

/// The island's state, shared by its handlers (most of it read only in the browser).
#[derive(Clone, Copy)]
#[cfg_attr(
    not(feature = "hydrate"),
    expect(dead_code, reason = "read by the browser's handlers")
)]
struct BoardState {
    selected: RwSignal<Vec<(i64, String)>>,
    ask: RwSignal<Option<Ask>>,
    typed: RwSignal<String>,
    outcomes: RwSignal<Vec<OutcomeLine>>,
    changed: RwSignal<bool>,
    root: NodeRef<leptos::html::Div>,
    dialog: NodeRef<leptos::html::Dialog>,
    toaster: crate::components::toast::Toaster,
    keys: u64,
}

/// Opens the confirmation dialog for `asked`.
fn open(state: BoardState, asked: Ask) {
    state.typed.set(String::new());
    state.ask.set(Some(asked));
    if let Some(d) = state.dialog.get_untracked() {
        let _ = d.show_modal();
    }
}

fn close(state: BoardState) {
    if let Some(d) = state.dialog.get_untracked() {
        d.close();
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use kiln_shared::inventory::{ActionDone, InventoryLive};
    use wasm_bindgen::JsCast;
    use web_sys::{Element, HtmlInputElement};

    use super::*;
    use crate::components::dom::{all, set_hidden};
    use crate::components::nav;
    use crate::components::toast::ToastKind;
    use crate::functions::containers::{
        adopt_container, bulk_action, container_action, refresh_inventory,
    };

    /// How often the list is refreshed while the tab is visible.
    const REFRESH_MS: u64 = 10_000;

    fn root(state: BoardState) -> Option<Element> {
        state
            .root
            .get_untracked()
            .map(|r| r.unchecked_into::<Element>())
    }

    /// Starts the refresh timer.
    pub(super) fn start(state: BoardState) {
        let _ = set_interval_with_handle(
            move || {
                let hidden = document().hidden();
                if !hidden {
                    refresh(state);
                }
            },
            std::time::Duration::from_millis(REFRESH_MS),
        );
    }

    /// Reads the live inventory and patches the rows on the page.
    pub(super) fn refresh(state: BoardState) {
        let query = window().location().search().unwrap_or_default();
        let filter = Filter::from_query(&query);
        leptos::task::spawn_local(async move {
            if let Ok(live) = refresh_inventory(filter).await {
                patch(state, &live);
            }
        });
    }

    fn patch(state: BoardState, live: &InventoryLive) {
        let Some(root) = root(state) else { return };
        if live.keys != state.keys {
            state.changed.set(true);
        }
        for row in &live.rows {
            let Some(el) = root
                .query_selector(&format!("[data-key=\"{}\"]", row.key))
                .ok()
                .flatten()
            else {
                continue;
            };
            if el.get_attribute("data-pending").is_some() {
                continue;
            }
            let _ = el.set_attribute("data-state", row.state.as_str());
            for badge in all(&el, "[data-field=state]") {
                badge.set_text_content(Some(row.state.label()));
                let _ = badge.set_attribute(
                    "class",
                    &format!("badge state-badge state-{}", row.state.as_str()),
                );
            }
            for up in all(&el, "[data-field=uptime]") {
                up.set_text_content(Some(row.uptime.as_deref().unwrap_or("—")));
            }
            for busy in all(&el, "[data-field=busy]") {
                busy.set_text_content(Some(row.busy.as_deref().unwrap_or_default()));
                set_hidden(&busy, row.busy.is_none());
            }
            for ((name, value), text) in [("cpu", row.cpu), ("mem", row.mem), ("disk", row.disk)]
                .into_iter()
                .zip(&row.texts)
            {
                for meter in all(&el, &format!("[data-bar={name}]")) {
                    let _ = meter.set_attribute("value", &rounded(value).to_string());
                    if meter.has_attribute("title") {
                        let _ = meter.set_attribute("title", text);
                    }
                }
                for label in all(&el, &format!("[data-bar-text={name}]")) {
                    label.set_text_content(Some(text));
                }
            }
            for button in all(&el, "[data-action]") {
                let offered = button
                    .get_attribute("data-action")
                    .and_then(|a| Action::parse(&a))
                    .is_some_and(|a| row.offers.contains(&a));
                set_hidden(&button, !offered);
            }
        }
        let t = &live.totals;
        for s in [
            State::Running,
            State::Stopped,
            State::Creating,
            State::Failed,
        ] {
            let Some(html) = document().document_element() else {
                return;
            };
            for el in all(&html, &format!("[data-summary={}]", s.as_str())) {
                el.set_text_content(Some(&t.count(s).to_string()));
            }
        }
    }

    /// The row around `el`: its id and name (managed rows only).
    fn row_of(el: &Element) -> Option<(Element, i64, String)> {
        let row = el.closest("[data-key]").ok().flatten()?;
        let id = row.get_attribute("data-id")?.parse().ok()?;
        let name = row.get_attribute("data-name").unwrap_or_default();
        Some((row, id, name))
    }

    pub(super) fn clicked(state: BoardState, ev: &leptos::ev::MouseEvent) {
        let Some(target) = ev.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
            return;
        };
        if let Some(button) = target.closest("[data-action]").ok().flatten() {
            let Some(action) = button
                .get_attribute("data-action")
                .and_then(|a| Action::parse(&a))
            else {
                return;
            };
            let Some((_, id, name)) = row_of(&button) else {
                return;
            };
            let asked = Ask {
                targets: vec![(id, name.clone())],
                action,
                typed: (action == Action::Delete).then(|| name.clone()),
                question: question(action, &name),
            };
            if action.needs_confirmation() {
                open(state, asked);
            } else {
                run(state, asked);
            }
            return;
        }
        if let Some(button) = target.closest("[data-adopt]").ok().flatten() {
            let node = button
                .get_attribute("data-node")
                .and_then(|v| v.parse::<i64>().ok());
            let vmid = button
                .get_attribute("data-vmid")
                .and_then(|v| v.parse::<u32>().ok());
            let (Some(node), Some(vmid)) = (node, vmid) else {
                return;
            };
            let _ = button.set_attribute("disabled", "");
            let toaster = state.toaster;
            leptos::task::spawn_local(async move {
                match adopt_container(node, vmid).await {
                    Ok(id) => {
                        toaster.after_navigation(
                            ToastKind::Success,
                            &format!("CT {vmid} is managed by Kiln now."),
                        );
                        nav::go(&format!("/containers/{id}"));
                    }
                    Err(e) => {
                        let _ = button.remove_attribute("disabled");
                        toaster.error(e.to_string());
                    }
                }
            });
            return;
        }
        if target
            .closest("[data-test=reload]")
            .ok()
            .flatten()
            .is_some()
        {
            ev.prevent_default();
            nav::reload();
        }
    }

    /// What the dialog asks before `action` on `name`.
    fn question(action: Action, name: &str) -> String {
        match action {
            Action::Delete => format!(
                "Delete {name}? Kiln destroys it on its node with its disk, then forgets it, its services and logins. This cannot be undone. Type its name to confirm."
            ),
            Action::Shutdown => format!(
                "Shut {name} down? Its services stop; Kiln waits up to a minute for a clean shutdown."
            ),
            Action::Stop => format!(
                "Stop {name} now? Like pulling the plug: its services get no chance to finish."
            ),
            Action::Reboot => format!("Reboot {name}? Its services restart."),
            Action::Start => format!("Start {name}?"),
        }
    }

    pub(super) fn changed(state: BoardState, ev: &leptos::ev::Event) {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
        else {
            return;
        };
        let Some(root) = root(state) else { return };
        if input.has_attribute("data-select-all") {
            let on = input.checked();
            for box_ in all(&root, "[data-select]") {
                if let Ok(b) = box_.dyn_into::<HtmlInputElement>() {
                    b.set_checked(on);
                }
            }
        }
        if input.has_attribute("data-select") || input.has_attribute("data-select-all") {
            let chosen: Vec<(i64, String)> = all(&root, "[data-select]")
                .into_iter()
                .filter_map(|el| {
                    let b = el.dyn_into::<HtmlInputElement>().ok()?;
                    if !b.checked() {
                        return None;
                    }
                    row_of(&b).map(|(_, id, name)| (id, name))
                })
                .collect();
            state.selected.set(chosen);
        }
    }

    /// Marks a row pending (or not).
    fn pending(state: BoardState, id: i64, text: Option<&str>) {
        let Some(root) = root(state) else { return };
        for row in all(&root, &format!("[data-id=\"{id}\"]")) {
            match text {
                Some(t) => {
                    let _ = row.set_attribute("data-pending", t);
                    for busy in all(&row, "[data-field=busy]") {
                        busy.set_text_content(Some(t));
                        set_hidden(&busy, false);
                    }
                    for b in all(&row, "[data-action]") {
                        let _ = b.set_attribute("disabled", "");
                    }
                }
                None => {
                    let _ = row.remove_attribute("data-pending");
                    for b in all(&row, "[data-action]") {
                        let _ = b.remove_attribute("disabled");
                    }
                }
            }
        }
    }

    /// Runs what the dialog (or a *Start* click) asked.
    pub(super) fn run(state: BoardState, asked: Ask) {
        let Ask {
            targets, action, ..
        } = asked;
        for (id, _) in &targets {
            pending(state, *id, Some(action.pending()));
        }
        let toaster = state.toaster;
        leptos::task::spawn_local(async move {
            if targets.len() == 1 {
                let (id, name) = targets[0].clone();
                let answer = container_action(id, action).await;
                pending(state, id, None);
                match answer {
                    Ok(done) => single_outcome(state, &done),
                    Err(e) => toaster.error(format!("{name}: {e}")),
                }
            } else {
                let ids: Vec<i64> = targets.iter().map(|(id, _)| *id).collect();
                let answer = bulk_action(ids, action).await;
                for (id, _) in &targets {
                    pending(state, *id, None);
                }
                match answer {
                    Ok(list) => {
                        let ok = list.iter().filter(|d| d.ok).count();
                        let names: std::collections::HashMap<i64, String> =
                            targets.into_iter().collect();
                        state.outcomes.set(
                            list.iter()
                                .map(|d| OutcomeLine {
                                    name: names
                                        .get(&d.id)
                                        .cloned()
                                        .unwrap_or_else(|| d.name.clone()),
                                    ok: d.ok,
                                    message: d.message.clone(),
                                })
                                .collect(),
                        );
                        let text = format!("{}: {ok} of {} done", action.label(), list.len());
                        if ok == list.len() {
                            toaster.success(text);
                        } else {
                            toaster.error(text);
                        }
                    }
                    Err(e) => toaster.error(e.to_string()),
                }
                state.selected.set(Vec::new());
                if let Some(root) = root(state) {
                    for el in all(&root, "[data-select], [data-select-all]") {
                        if let Ok(b) = el.dyn_into::<HtmlInputElement>() {
                            b.set_checked(false);
                        }
                    }
                }
            }
            refresh(state);
        });
    }

    fn single_outcome(state: BoardState, done: &ActionDone) {
        let kind = if done.ok {
            ToastKind::Success
        } else {
            ToastKind::Error
        };
        state.toaster.show(kind, done.message.clone());
        if done.offer_stop {
            open(
                state,
                Ask {
                    targets: vec![(done.id, done.name.clone())],
                    action: Action::Stop,
                    typed: None,
                    question: format!("{} Stop it now?", done.message),
                },
            );
        }
    }
}
