//! The alerts: `/alerts` (active alerts with *Acknowledge*, the history, deliveries that
//! failed or wait for another try) and `/alerts/settings` (rules and notification channels).
//!
//! Rendered on the server as plain forms inside one island, `PostForms`, which sends them
//! once hydrated (and asks before a deletion); without JavaScript they post and come back.

use kiln_shared::alerts::{
    Alert, AlertSettings, AlertsOverview, Channel, ChannelKind, Delivery, DeliveryState, Rule,
    RuleKind, Scope,
};
use leptos::prelude::*;
use server_fn::ServerFn;

use crate::components::form::{FormError, query_error_kind};
use crate::components::format::short_time;
use crate::components::layout::{EmptyState, PageHeader};
use crate::components::post_forms::PostForms;
use crate::functions::alerts::{
    AcknowledgeAlert, AddAlertChannel, DeleteAlertChannel, DeleteAlertRule, SaveAlertRule,
    SetAlertChannelEnabled, TestAlertChannel, load_alert_settings, load_alerts,
};

/// The message for `?notice=<word>` after a plain form post (fixed texts only).
fn notice_text(word: &str) -> Option<&'static str> {
    Some(match word {
        "acknowledged" => "Alert acknowledged.",
        "rule_saved" => "Rule saved.",
        "rule_deleted" => "Rule deleted.",
        "channel_added" => {
            "Channel added. A webhook's signing secret is shown only when JavaScript is on: \
             delete the channel and add it again with JavaScript to see it."
        }
        "channel_saved" => "Channel saved.",
        "channel_deleted" => "Channel deleted.",
        "test_done" => "Test sent; its outcome is under the channel.",
        _ => return None,
    })
}

/// The outcome of the last plain form post, if any.
#[component]
fn Outcome() -> impl IntoView {
    let notice = leptos_router::hooks::use_query_map()
        .read_untracked()
        .get("notice")
        .and_then(|w| notice_text(&w));
    let kind = query_error_kind();
    view! {
        {notice.map(|text| view! { <div class="alert alert-success" role="status">{text}</div> })}
        <FormError error=Signal::derive(|| None) kind />
    }
}

#[component]
pub fn AlertsPage() -> impl IntoView {
    view! {
        <PageHeader title="Alerts" subtitle="What went wrong, and whether it has cleared.">
            <a class="btn" href="/alerts/settings" data-test="alert-settings">
                "Rules and channels"
            </a>
        </PageHeader>
        <Outcome />
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match load_alerts().await {
                    Ok(overview) => view! { <PostForms><Overview overview /></PostForms> }.into_any(),
                    Err(e) => view! { <div class="alert alert-error">{e.to_string()}</div> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Overview(overview: AlertsOverview) -> impl IntoView {
    let AlertsOverview {
        active,
        history,
        troubled,
    } = overview;
    view! {
        <div class="stack">
            <section class="card" data-test="active-alerts">
                <h2 class="card-title">{format!("Active ({})", active.len())}</h2>
                {if active.is_empty() {
                    view! { <p class="muted">"Nothing is wrong right now."</p> }.into_any()
                } else {
                    view! { <AlertTable alerts=active active=true /> }.into_any()
                }}
            </section>
            {(!troubled.is_empty()).then(|| view! {
                <section class="card" data-test="troubled-deliveries">
                    <h2 class="card-title">"Notifications not delivered"</h2>
                    <DeliveryTable deliveries=troubled />
                </section>
            })}
            <section class="card" data-test="alert-history">
                <h2 class="card-title">"History"</h2>
                {if history.is_empty() {
                    view! { <p class="muted">"No alert has resolved yet."</p> }.into_any()
                } else {
                    view! { <AlertTable alerts=history active=false /> }.into_any()
                }}
            </section>
        </div>
    }
}

#[component]
fn AlertTable(alerts: Vec<Alert>, active: bool) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table class="data">
                <thead>
                    <tr>
                        <th scope="col">"Alert"</th>
                        <th scope="col">"Fired"</th>
                        <th scope="col">{if active { "Status" } else { "Resolved" }}</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {alerts.into_iter().map(|a| view! { <AlertRow alert=a active /> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn AlertRow(alert: Alert, active: bool) -> impl IntoView {
    let status = match (&alert.acknowledged_by, active) {
        (Some(by), true) => view! {
            <span class="badge badge-muted">{format!("acknowledged by {by}")}</span>
        }
        .into_any(),
        (None, true) => view! { <span class="badge badge-danger">"firing"</span> }.into_any(),
        (_, false) => view! {
            <span class="muted">{alert.resolved_at.as_deref().map(short_time)}</span>
        }
        .into_any(),
    };
    let link = alert
        .container_id
        .map(|id| view! { " " <a href=format!("/containers/{id}")>"Open the container"</a> });
    let ack = (active && alert.acknowledged_at.is_none()).then(|| {
        view! {
            <form method="post" action=AcknowledgeAlert::PATH id=format!("ack-{}", alert.id)
                data-success="Alert acknowledged.">
                <input type="hidden" name="id" value=alert.id.to_string() />
                <button type="submit" class="btn btn-sm" data-test="ack">"Acknowledge"</button>
            </form>
        }
    });
    view! {
        <tr data-test="alert-row" data-alert=alert.id.to_string() data-kind=alert.kind.as_str()>
            <td>
                <strong>{alert.title.clone()}</strong>
                <div class="small muted">{alert.detail.clone()}{link}</div>
            </td>
            <td class="muted">{short_time(&alert.fired_at)}</td>
            <td>{status}</td>
            <td class="num">{ack}</td>
        </tr>
    }
}

#[component]
fn DeliveryTable(deliveries: Vec<Delivery>) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table class="data">
                <thead>
                    <tr>
                        <th scope="col">"Channel"</th>
                        <th scope="col">"About"</th>
                        <th scope="col">"Attempts"</th>
                        <th scope="col">"Last error"</th>
                        <th scope="col">"Next try"</th>
                    </tr>
                </thead>
                <tbody>
                    {deliveries
                        .into_iter()
                        .map(|d| {
                            let about = d.alert.clone().unwrap_or_else(|| "test message".into());
                            view! {
                                <tr data-test="delivery-row">
                                    <td>{d.channel.clone()}</td>
                                    <td>{format!("{}: {about}", d.event)}</td>
                                    <td class="num">{d.attempts}</td>
                                    <td>{d.last_error.clone()}</td>
                                    <td class="muted">
                                        {match d.state {
                                            DeliveryState::Failed => "gave up".to_owned(),
                                            _ => d.next_at.as_deref().map(short_time).unwrap_or_default(),
                                        }}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
pub fn AlertSettingsPage() -> impl IntoView {
    view! {
        <PageHeader title="Alert rules and channels" subtitle="What to watch, and where to say so.">
            <a class="btn" href="/alerts">"Alerts"</a>
        </PageHeader>
        <Outcome />
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match load_alert_settings().await {
                    Ok(settings) => view! { <PostForms><Settings settings /></PostForms> }.into_any(),
                    Err(e) => view! { <div class="alert alert-error">{e.to_string()}</div> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Settings(settings: AlertSettings) -> impl IntoView {
    let AlertSettings {
        rules,
        channels,
        scopes,
    } = settings;
    view! {
        <div class="stack">
            <section class="card" data-test="alert-rules">
                <h2 class="card-title">"Rules"</h2>
                {if rules.is_empty() {
                    view! { <p class="muted">"No rule: nothing fires."</p> }.into_any()
                } else {
                    view! {
                        <ul class="rule-list">
                            {rules
                                .into_iter()
                                .map(|r| view! { <RuleItem rule=r scopes=scopes.clone() /> })
                                .collect_view()}
                        </ul>
                    }
                    .into_any()
                }}
                <details class="rule-new">
                    <summary class="btn btn-sm">"Add a rule"</summary>
                    <RuleForm rule=None scopes=scopes.clone() />
                </details>
            </section>
            <section class="card" data-test="alert-channels">
                <h2 class="card-title">"Notification channels"</h2>
                {if channels.is_empty() {
                    view! {
                        <EmptyState icon="bell" title="No channel yet">
                            <p class="muted">"Alerts show here and in the top bar; add a channel to be told elsewhere."</p>
                        </EmptyState>
                    }
                    .into_any()
                } else {
                    view! { <ChannelTable channels /> }.into_any()
                }}
                <h3>"Add a channel"</h3>
                <ChannelForm />
            </section>
        </div>
    }
}

#[component]
fn RuleItem(rule: Rule, scopes: Vec<(String, String)>) -> impl IntoView {
    let id = rule.id;
    let summary = rule.summary();
    let kind = rule.kind.as_str();
    let enabled = rule.enabled;
    view! {
        <li class="rule" data-test="rule" data-kind=kind>
            <div class="row">
                <span>{summary.clone()}</span>
                {if enabled {
                    view! { <span class="badge badge-ok">"on"</span> }.into_any()
                } else {
                    view! { <span class="badge badge-muted">"off"</span> }.into_any()
                }}
                <div class="spacer"></div>
                <form method="post" action=DeleteAlertRule::PATH id=format!("rule-delete-{id}")
                    data-confirm=format!("Delete the rule \u{201c}{summary}\u{201d}? Its open alerts are closed.")
                    data-success="Rule deleted.">
                    <input type="hidden" name="id" value=id.to_string() />
                    <button type="submit" class="btn btn-sm btn-ghost" data-test="rule-delete">"Delete"</button>
                </form>
            </div>
            <details>
                <summary class="small">"Edit"</summary>
                <RuleForm rule=Some(rule) scopes />
            </details>
        </li>
    }
}

/// A rule's form: a new one (`rule` `None`) or an edit.
#[component]
fn RuleForm(rule: Option<Rule>, scopes: Vec<(String, String)>) -> impl IntoView {
    let prefix = rule
        .as_ref()
        .map_or_else(|| "rule-new".to_owned(), |r| format!("rule-{}", r.id));
    let id = rule.as_ref().map(|r| r.id.to_string()).unwrap_or_default();
    let kind = rule.as_ref().map_or(RuleKind::Cpu, |r| r.kind);
    let enabled = rule.as_ref().is_none_or(|r| r.enabled);
    let threshold = rule
        .as_ref()
        .and_then(|r| r.threshold)
        .map_or_else(|| "90".to_owned(), |t| t.to_string());
    let minutes = rule
        .as_ref()
        .map_or_else(|| Some(5), |r| r.minutes)
        .map(|m| m.to_string())
        .unwrap_or_default();
    let scope = rule
        .as_ref()
        .map(|r| r.scope)
        .unwrap_or(Scope::All)
        .to_form();
    let field = move |name: &str| format!("{prefix}-{name}");
    view! {
        <form method="post" action=SaveAlertRule::PATH class="form form-inline" id=field("form")
            data-success="Rule saved." data-test="rule-form">
            <input type="hidden" name="id" value=id />
            <div class="field">
                <label for=field("kind")>"Watch"</label>
                <select id=field("kind") name="kind">
                    {RuleKind::ALL
                        .into_iter()
                        .map(|k| view! { <option value=k.as_str() selected={k == kind}>{k.label()}</option> })
                        .collect_view()}
                </select>
            </div>
            <div class="field">
                <label for=field("threshold")>"Threshold (%)"</label>
                <input id=field("threshold") name="threshold" type="number" min="1" max="100" value=threshold />
                <div class="hint">"CPU, memory and disk rules."</div>
                <div class="field-error" data-error-for="threshold"></div>
            </div>
            <div class="field">
                <label for=field("minutes")>"For (minutes)"</label>
                <input id=field("minutes") name="minutes" type="number" min="1" max="1440" value=minutes />
                <div class="hint">"Thresholds; a node rule fires at once when empty."</div>
                <div class="field-error" data-error-for="minutes"></div>
            </div>
            <div class="field">
                <label for=field("scope")>"Applies to"</label>
                <select id=field("scope") name="scope">
                    <option value="" selected={scope.is_empty()}>"Everything of mine"</option>
                    {scopes
                        .into_iter()
                        .map(|(word, label)| {
                            let selected = word == scope;
                            view! { <option value=word selected=selected>{label}</option> }
                        })
                        .collect_view()}
                </select>
                <div class="field-error" data-error-for="scope"></div>
            </div>
            <label class="checkbox">
                <input type="checkbox" name="enabled" value="on" checked=enabled />
                " On"
            </label>
            <div class="field-error" data-error-for="kind"></div>
            <div class="form-actions">
                <button type="submit" class="btn btn-primary btn-sm" data-test="rule-save">"Save rule"</button>
            </div>
        </form>
    }
}

#[component]
fn ChannelTable(channels: Vec<Channel>) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table class="data">
                <thead>
                    <tr>
                        <th scope="col">"Channel"</th>
                        <th scope="col">"Kind"</th>
                        <th scope="col">"Last notification"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {channels.into_iter().map(|c| view! { <ChannelRow channel=c /> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn ChannelRow(channel: Channel) -> impl IntoView {
    let id = channel.id;
    let last = channel.last.clone().map(|d| {
        let when = short_time(&d.created_at);
        match d.state {
            DeliveryState::Sent => view! { <span class="badge badge-ok">{format!("sent {when}")}</span> }.into_any(),
            DeliveryState::Pending => view! {
                <span class="badge badge-muted">{format!("retrying ({} attempts)", d.attempts)}</span>
                " "<span class="small muted">{d.last_error.clone()}</span>
            }
            .into_any(),
            DeliveryState::Failed => view! {
                <span class="badge badge-danger">"failed"</span>
                " "<span class="small muted">{d.last_error.clone()}</span>
            }
            .into_any(),
        }
    });
    let toggle = if channel.enabled { "false" } else { "true" };
    view! {
        <tr data-test="channel-row" data-channel=channel.name.clone()>
            <td>
                <strong>{channel.name.clone()}</strong>
                {(!channel.enabled).then(|| view! { " " <span class="badge badge-muted">"off"</span> })}
                <div class="small muted">{channel.url_hint.clone()}</div>
            </td>
            <td>{channel.kind.label()}</td>
            <td>{last}</td>
            <td class="num">
                <div class="row">
                    <form method="post" action=TestAlertChannel::PATH id=format!("channel-test-{id}")>
                        <input type="hidden" name="id" value=id.to_string() />
                        <button type="submit" class="btn btn-sm" data-test="channel-test">"Send test"</button>
                    </form>
                    <form method="post" action=SetAlertChannelEnabled::PATH id=format!("channel-toggle-{id}")
                        data-success=if channel.enabled { "Channel turned off." } else { "Channel turned on." }>
                        <input type="hidden" name="id" value=id.to_string() />
                        <input type="hidden" name="enabled" value=toggle />
                        <button type="submit" class="btn btn-sm btn-ghost">
                            {if channel.enabled { "Turn off" } else { "Turn on" }}
                        </button>
                    </form>
                    <form method="post" action=DeleteAlertChannel::PATH id=format!("channel-delete-{id}")
                        data-confirm=format!("Delete the channel \u{201c}{}\u{201d}? Nothing more is sent to it.", channel.name)
                        data-success="Channel deleted.">
                        <input type="hidden" name="id" value=id.to_string() />
                        <button type="submit" class="btn btn-sm btn-ghost" data-test="channel-delete">"Delete"</button>
                    </form>
                </div>
            </td>
        </tr>
    }
}

#[component]
fn ChannelForm() -> impl IntoView {
    view! {
        <form method="post" action=AddAlertChannel::PATH class="form" id="channel-new"
            data-success="Channel added." data-test="channel-form">
            <div class="field">
                <label for="channel-new-name">"Name"</label>
                <input id="channel-new-name" name="name" maxlength="64" required=true />
                <div class="field-error" data-error-for="name"></div>
            </div>
            <div class="field">
                <label for="channel-new-kind">"Kind"</label>
                <select id="channel-new-kind" name="kind">
                    {ChannelKind::ALL
                        .into_iter()
                        .map(|k| view! { <option value=k.as_str()>{k.label()}</option> })
                        .collect_view()}
                </select>
                <div class="field-error" data-error-for="kind"></div>
            </div>
            <div class="field">
                <label for="channel-new-url">"URL"</label>
                <input id="channel-new-url" name="url" type="url" maxlength="2048" required=true
                    autocomplete="off" placeholder="https://ntfy.sh/my-topic" />
                <div class="hint">
                    "http:// or https://. Kept encrypted; only its host is shown again. "
                    "A webhook gets a signing secret, shown once."
                </div>
                <div class="field-error" data-error-for="url"></div>
            </div>
            <div class="form-actions">
                <button type="submit" class="btn btn-primary" data-test="channel-add">"Add channel"</button>
            </div>
        </form>
    }
}
