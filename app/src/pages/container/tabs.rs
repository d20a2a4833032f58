//! The container page's tabs, rendered on the server from what `load` read: plain views (no
//! island of their own but the ones they place: `Progress`, `Reveal`, `RefreshServices`).
//! Bars are `<meter>`s (the Content-Security-Policy allows no inline style).

use kiln_shared::AppError;
use kiln_shared::container_page::{
    ContainerOverview, EventPage, LiveState, PveConfig, ServiceLogs, Usage,
};
use kiln_shared::containers::{ContainerDetail, ContainerStatus, ServiceView};
use kiln_shared::progress::ContainerEvent;
use leptos::prelude::*;

use super::{Progress, RefreshServices, Reveal};
use crate::components::format::short_time;

/// A query value, URL-encoded.
fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Bytes as people read them (`1.5 GiB`).
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Seconds as `3 d 4 h`, `2 h 5 min`, `40 s`.
fn duration(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else if m > 0 {
        format!("{m} min")
    } else {
        format!("{secs} s")
    }
}

/// A used/limit gauge: a `<meter>` and its figures.
fn gauge(name: &'static str, test: &'static str, used: Option<u64>, max: Option<u64>) -> AnyView {
    match (used, max) {
        (Some(used), Some(max)) if max > 0 => view! {
            <dt>{name}</dt>
            <dd data-test=test>
                <meter class="meter" min="0" max=max.to_string() value=used.min(max).to_string() aria-label=name></meter>
                <span class="small muted">{format!("{} of {} ({:.0} %)", bytes(used), bytes(max), used as f64 * 100.0 / max as f64)}</span>
            </dd>
        }
        .into_any(),
        _ => view! { <dt>{name}</dt><dd class="muted" data-test=test>"—"</dd> }.into_any(),
    }
}

/// The resources card: the node's live figures.
fn resources(u: &Usage) -> impl IntoView + use<> {
    let cpu = u.cpu.map(|c| (c * 100.0).clamp(0.0, 100.0));
    let cpus = u
        .cpus
        .map(|c| format!(" of {c} CPU(s)"))
        .unwrap_or_default();
    view! {
        <section class="card" data-test="resources">
            <h2 class="card-title">"Resources"</h2>
            <dl class="props">
                <dt>"State"</dt><dd data-test="live-status">{u.status.clone()}</dd>
                <dt>"CPU"</dt>
                <dd data-test="cpu">
                    <meter class="meter" min="0" max="100" value=format!("{:.1}", cpu.unwrap_or(0.0)) aria-label="CPU"></meter>
                    <span class="small muted">{cpu.map(|c| format!("{c:.1} %{cpus}")).unwrap_or_else(|| "—".into())}</span>
                </dd>
                {gauge("Memory", "memory", u.mem, u.maxmem)}
                {gauge("Disk", "disk", u.disk, u.maxdisk)}
                {gauge("Swap", "swap", u.swap, u.maxswap)}
                <dt>"Uptime"</dt><dd data-test="uptime">{u.uptime.filter(|s| *s > 0).map(duration).unwrap_or_else(|| "—".into())}</dd>
            </dl>
        </section>
    }
}

/// `yes`/`no`.
fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The config summary card.
fn config_summary(live: &LiveState) -> impl IntoView + use<> {
    let c = live.config.clone();
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    view! {
        <section class="card" data-test="config-summary">
            <h2 class="card-title">"Configuration"</h2>
            <dl class="props">
                <dt>"Cores"</dt><dd>{or_dash(c.cores.map(|v| v.to_string()))}</dd>
                <dt>"Memory"</dt><dd>{or_dash(c.memory.map(|v| format!("{v} MiB")))}</dd>
                <dt>"Swap"</dt><dd>{or_dash(c.swap.map(|v| format!("{v} MiB")))}</dd>
                <dt>"Root disk"</dt><dd><code>{or_dash(c.rootfs)}</code></dd>
                <dt>"Network"</dt><dd><code>{or_dash(c.net0)}</code></dd>
                <dt>"Features"</dt><dd><code>{or_dash(c.features)}</code></dd>
                <dt>"Start on boot"</dt><dd>{yes_no(c.onboot)}</dd>
                <dt>"Unprivileged"</dt><dd>{yes_no(c.unprivileged)}</dd>
                <dt>"Tags"</dt>
                <dd data-test="tags">{if c.tags.is_empty() {
                    view! { <span class="muted">"—"</span> }.into_any()
                } else {
                    c.tags.into_iter().map(|t| view! { <span class="tag">{t}</span>" " }).collect_view().into_any()
                }}</dd>
            </dl>
            {c.notes.map(|notes| view! {
                <h3>"Notes"</h3>
                <pre class="code-block notes" data-test="notes">{notes}</pre>
            })}
        </section>
    }
}

/// The Overview tab.
pub fn overview(o: ContainerOverview, events: Vec<ContainerEvent>) -> impl IntoView {
    let ContainerOverview {
        detail,
        template_hash,
        template_current,
        live,
        node_note,
    } = o;
    let ContainerDetail {
        summary,
        request,
        phase,
        elapsed_secs,
        ..
    } = detail;
    let status = summary.status;
    let mut asked = request;
    asked.vmid = asked.vmid.or(summary.vmid);
    let addresses = match &live {
        Some(l) if !l.addresses.is_empty() => l.addresses.join(", "),
        _ => summary.address.clone().unwrap_or_else(|| "—".into()),
    };
    let ostype = live
        .as_ref()
        .and_then(|l| l.config.ostype.clone())
        .unwrap_or_else(|| "—".into());
    let member = live.as_ref().map(|l| l.member.clone());
    let version = template_hash.map(|h| {
        let short: String = h.chars().take(12).collect();
        let note = match template_current {
            Some(true) => " (the template's current version)",
            Some(false) => " (the template has changed since)",
            None => "",
        };
        format!("{short}{note}")
    });
    let progress = view! {
        <Progress id=summary.id status error=summary.error.clone() phase=phase elapsed_secs events />
    };
    let ready = status == ContainerStatus::Ready;
    let (before, after) = if ready {
        (None, Some(progress))
    } else {
        (Some(progress), None)
    };
    view! {
        {node_note.map(|note| view! { <div class="alert alert-warn" role="status" data-test="node-note">{note}</div> })}
        {before}
        <section class="card" data-test="overview">
            <h2 class="card-title">"Overview"</h2>
            <dl class="props">
                <dt>"Status"</dt>
                <dd>{status.as_str()}{live.as_ref().map(|l| format!(" — {} on the node", l.usage.status))}</dd>
                <dt>"Node"</dt>
                <dd data-test="node">{summary.node_name.clone()}{member.map(|m| format!(" (member {m})"))}</dd>
                <dt>"VMID"</dt><dd data-test="vmid">{summary.vmid.map(|v| v.to_string()).unwrap_or_else(|| "—".into())}</dd>
                <dt>"Addresses"</dt><dd data-test="addresses"><code>{addresses}</code></dd>
                <dt>"OS"</dt><dd data-test="ostype">{ostype}</dd>
                <dt>"Template"</dt>
                <dd data-test="template">{match summary.template.clone() {
                    Some(t) => view! {
                        <a href=format!("/templates/{t}")>{t.clone()}</a>
                        {version.map(|v| view! { " " <span class="small muted" data-test="template-version">{format!("version {v}")}</span> })}
                    }.into_any(),
                    None => view! { <span class="muted">"none (a plain OS container)"</span> }.into_any(),
                }}</dd>
                <dt>"Asked for"</dt><dd>{short_time(&summary.created_at)}</dd>
            </dl>
        </section>
        {live.as_ref().map(|l| view! {
            <div class="grid-2">
                {resources(&l.usage)}
                {config_summary(l)}
            </div>
        })}
        {after}
        <section class="card">
            <h2 class="card-title">"What was asked for"</h2>
            <pre class="code-block" data-test="request"><code>{kiln_shared::containers::pct_equivalent(&asked)}</code></pre>
        </section>
    }
}

/// The Services tab: the services found, their logins (revealed on request), *Refresh*, and
/// the journal of the unit `&logs=` names.
pub fn services(
    detail: ContainerDetail,
    logs: Option<Result<ServiceLogs, AppError>>,
) -> impl IntoView {
    let id = detail.summary.id;
    if detail.summary.status != ContainerStatus::Ready {
        return view! {
            <section class="card" data-test="services">
                <h2 class="card-title">"Services"</h2>
                <p class="muted">"Services are found once the container is ready."</p>
            </section>
        }
        .into_any();
    }
    view! {
        <Services id services=detail.services other_credentials=detail.other_credentials />
        {logs.map(journal)}
    }
    .into_any()
}

/// A unit's journal, or why it could not be read.
fn journal(answer: Result<ServiceLogs, AppError>) -> impl IntoView {
    match answer {
        Ok(logs) => view! {
            <section class="card" data-test="service-logs-card">
                <h2 class="card-title">{format!("Logs of {}", logs.unit)}</h2>
                <p class="small muted">{format!(
                    "The last {} line(s) of journalctl -u {}{}.",
                    logs.lines.len(),
                    logs.unit,
                    if logs.truncated { " (cut to size)" } else { "" }
                )}</p>
                <pre class="log" data-test="service-logs" tabindex="0">{logs.lines.join("\n")}</pre>
            </section>
        }
        .into_any(),
        Err(e) => view! {
            <div class="alert alert-error" role="alert" data-test="service-logs-error">{e.to_string()}</div>
        }
        .into_any(),
    }
}

/// The services found in a ready container, their web links, logins and logs.
#[component]
fn Services(
    id: i64,
    services: Vec<ServiceView>,
    other_credentials: Vec<(String, Vec<String>)>,
) -> impl IntoView {
    let header = view! {
        <div class="row">
            <h2 class="card-title grow">"Services"</h2>
            <RefreshServices id />
        </div>
    };
    if services.is_empty() && other_credentials.is_empty() {
        return view! {
            <section class="card" data-test="services">
                {header}
                <p class="muted">"No services were found: the template installed no systemd service that Kiln could see."</p>
            </section>
        }
        .into_any();
    }
    view! {
        <section class="card" data-test="services">
            {header}
            <div class="table-wrap">
                <table>
                    <thead><tr><th>"Service"</th><th>"State"</th><th>"Ports"</th><th>"Web"</th><th>"Logins"</th><th>"Logs"</th></tr></thead>
                    <tbody>
                        {services.into_iter().map(|s| {
                            let state_class = if s.state == "active" { "badge badge-ok" } else { "badge badge-warn" };
                            let ports = s.ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
                            let service = s.name.clone();
                            let logs = format!("/containers/{id}?tab=services&logs={}", enc(&s.unit));
                            view! {
                                <tr data-test="service" data-unit=s.unit.clone()>
                                    <td><strong>{s.name.clone()}</strong><div class="muted small mono">{s.unit.clone()}</div></td>
                                    <td><span class=state_class>{s.state.clone()}</span></td>
                                    <td class="mono">{if ports.is_empty() { "—".to_owned() } else { ports }}</td>
                                    <td>{s.web_url.clone().map(|u| {
                                        let href = u.clone();
                                        view! { <a href=href target="_blank" rel="noopener noreferrer" data-test="web-url">{u}</a> }
                                    })}</td>
                                    <td>{s.credentials.into_iter().map(|key| {
                                        let (name, shown) = (key.clone(), key.clone());
                                        view! {
                                            <div class="credential" data-test="credential" data-key=name><code>{shown}</code><Reveal id service=service.clone() key /></div>
                                        }
                                    }).collect_view()}</td>
                                    <td><a href=logs data-test="logs-link">"Logs"</a></td>
                                </tr>
                            }
                        }).collect_view()}
                        {other_credentials.into_iter().map(|(service, keys)| view! {
                            <tr data-test="service" data-unit="">
                                <td><strong>{service.clone()}</strong></td>
                                <td>"—"</td><td>"—"</td><td></td>
                                <td>{keys.into_iter().map(|key| {
                                    let (name, shown) = (key.clone(), key.clone());
                                    view! {
                                        <div class="credential" data-test="credential" data-key=name><code>{shown}</code><Reveal id service=service.clone() key /></div>
                                    }
                                }).collect_view()}</td>
                                <td></td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
    .into_any()
}

/// The Events tab: a filter (a plain GET form), the events newest first, a link to older ones.
pub fn events(detail: &ContainerDetail, answer: Result<EventPage, AppError>) -> impl IntoView {
    let id = detail.summary.id;
    let page = match answer {
        Ok(page) => page,
        Err(e) => {
            return view! {
                <div class="alert alert-error" role="alert" data-test="events-error">{e.to_string()}</div>
                <a class="btn" href=format!("/containers/{id}?tab=events")>"All events"</a>
            }
            .into_any();
        }
    };
    let query = leptos_router::hooks::use_query_map();
    let (kind, phase) = query.with_untracked(|q| {
        (
            q.get("kind").unwrap_or_default(),
            q.get("phase").unwrap_or_default(),
        )
    });
    let options = |all: &'static str, words: Vec<String>, chosen: String| {
        view! {
            <option value="" selected={chosen.is_empty()}>{all}</option>
            {words.into_iter().map(|w| {
                let selected = w == chosen;
                let value = w.clone();
                view! { <option value=value selected=selected>{w}</option> }
            }).collect_view()}
        }
    };
    let older = page.older.map(|before| {
        let mut href = format!("/containers/{id}?tab=events&before={before}");
        if !kind.is_empty() {
            href.push_str(&format!("&kind={}", enc(&kind)));
        }
        if !phase.is_empty() {
            href.push_str(&format!("&phase={}", enc(&phase)));
        }
        href
    });
    view! {
        <section class="card" data-test="events">
            <form method="get" action=format!("/containers/{id}") class="row wrap" data-test="events-filter">
                <input type="hidden" name="tab" value="events" />
                <label class="small">"Kind "
                    <select name="kind" data-test="filter-kind">{options("all kinds", page.kinds, kind.clone())}</select>
                </label>
                <label class="small">"Phase "
                    <select name="phase" data-test="filter-phase">{options("all phases", page.phases, phase.clone())}</select>
                </label>
                <button type="submit" class="btn btn-sm">"Filter"</button>
            </form>
            {if page.events.is_empty() {
                view! { <p class="muted" data-test="no-events">"No events."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table>
                            <thead><tr><th>"#"</th><th>"When"</th><th>"Phase"</th><th>"Kind"</th><th>"What"</th></tr></thead>
                            <tbody>
                                {page.events.into_iter().map(|e| {
                                    let (kind, phase) = (e.kind.clone(), e.phase.clone());
                                    view! {
                                    <tr data-test="event" data-seq=e.seq data-kind=kind data-phase=phase>
                                        <td class="mono">{e.seq}</td>
                                        <td class="small">{short_time(&e.at)}</td>
                                        <td>{e.phase}</td>
                                        <td>{e.kind}</td>
                                        <td class="mono small">{e.text}</td>
                                    </tr>
                                }}).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
            {older.map(|href| view! { <a class="btn btn-sm" href=href data-test="older-events">"Older events"</a> })}
        </section>
    }
    .into_any()
}

/// The Config tab: every key of the PVE config as the node returns it.
pub fn config(answer: Result<PveConfig, AppError>) -> impl IntoView {
    match answer {
        Ok(config) => view! {
            <section class="card" data-test="pve-config">
                <h2 class="card-title">{format!("CT {} on {}", config.vmid, config.member)}</h2>
                <p class="small muted">"The container's configuration exactly as Proxmox returns it, sorted by key."
                    {config.digest.map(|d| view! { " Digest " <code data-test="digest">{d}</code> })}
                </p>
                <div class="table-wrap">
                    <table>
                        <thead><tr><th>"Key"</th><th>"Value"</th></tr></thead>
                        <tbody>
                            {config.entries.into_iter().map(|(key, value)| {
                                let name = key.clone();
                                view! {
                                <tr data-test="config-entry" data-key=name>
                                    <td class="mono">{key}</td>
                                    <td><pre class="config-value">{value}</pre></td>
                                </tr>
                            }}).collect_view()}
                        </tbody>
                    </table>
                </div>
            </section>
        }
        .into_any(),
        Err(e) => view! {
            <div class="alert alert-warn" role="status" data-test="config-error">
                {format!("The configuration cannot be shown: {e}")}
            </div>
        }
        .into_any(),
    }
}
