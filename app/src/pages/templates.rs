//! `/templates`: the template browser — cards filtered by search words and a tag and sorted,
//! all three kept in the URL (`?q=&tag=&sort=`) so a filtered view can be shared — plus the
//! Sync action with what the last sync changed.

use kiln_shared::catalog::{Catalog, Filter, Sort, SyncSummary, TemplateSummary};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::badges::{health_badge, source_badge};
use crate::components::call::{Call, FormFields, moved_on};
use crate::components::format::{mib, plural, short_time};
use crate::components::layout::{EmptyState, PageHeader};
use crate::components::nav;
use crate::functions::templates::{sync_templates, template_catalog};

/// The filter in the current URL.
fn use_filter() -> Memo<Filter> {
    let query = use_query_map();
    Memo::new(move |_| {
        let query = query.read();
        let get = |key: &str| query.get(key).unwrap_or_default();
        Filter {
            q: get("q"),
            tag: get("tag"),
            sort: Sort::parse(&get("sort")),
        }
    })
}

/// The browser URL showing `filter` (empty parts left out).
fn filter_href(filter: &Filter) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if !filter.q.is_empty() {
        query.append_pair("q", &filter.q);
    }
    if !filter.tag.is_empty() {
        query.append_pair("tag", &filter.tag);
    }
    if filter.sort != Sort::Name {
        query.append_pair("sort", filter.sort.as_str());
    }
    let query = query.finish();
    if query.is_empty() {
        "/templates".to_owned()
    } else {
        format!("/templates?{query}")
    }
}

#[component]
pub fn TemplatesPage() -> impl IntoView {
    let filter = use_filter();
    let catalog = Resource::new(|| (), |_| template_catalog());
    view! {
        <PageHeader title="Templates" subtitle="Reviewed, reusable recipes for a container.">
            <SyncButton />
            <a class="btn btn-primary" href="/templates/new" data-test="new-template">"New template"</a>
        </PageHeader>
        <Transition fallback=|| view! { <p class="muted">"Loading templates…"</p> }>
            {move || Suspend::new(async move {
                match catalog.await {
                    Err(e) => view! { <div class="alert alert-error" role="alert">{e.to_string()}</div> }.into_any(),
                    Ok(catalog) => view! { <Browser catalog filter /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Re-reads the template folders, with a progress bar; the page reloads with the result.
#[island]
fn SyncButton() -> impl IntoView {
    let sync = Call::new();
    let on_click = move |_| {
        sync.run(sync_templates(), |answer| {
            let message = answer
                .as_ref()
                .map(|s| format!("Sync finished: {}.", sync_counts(s)))
                .unwrap_or_default();
            moved_on(answer, &message, None);
        });
    };
    view! {
        <button type="button" class="btn" data-test="sync-templates"
            aria-busy=sync.busy() disabled=move || sync.pending() on:click=on_click>
            {move || if sync.pending() { "Syncing…" } else { "Sync" }}
        </button>
        {move || sync.pending().then(|| view! {
            <div class="progress progress-indeterminate sync-progress" role="progressbar" aria-label="Reading the template folders"><div class="progress-bar"></div></div>
        })}
    }
}

fn sync_counts(s: &SyncSummary) -> String {
    format!(
        "{} added, {} updated, {} missing, {} unchanged",
        s.added, s.updated, s.missing, s.unchanged
    )
}

#[component]
fn Browser(catalog: Catalog, filter: Memo<Filter>) -> impl IntoView {
    let tags = catalog.tags();
    let last_sync = catalog.last_sync.clone();
    let all = StoredValue::new(catalog.templates);
    let total = all.with_value(Vec::len);
    let shown = move || filter.with(|f| all.with_value(|t| f.apply(t.clone())));
    view! {
        <FilterBar tags filter=filter.get_untracked() />
        <LastSync last_sync />
        {move || {
            let list = shown();
            if total == 0 {
                view! {
                    <EmptyState icon="templates" title="No templates yet">
                        <p class="muted">"Kiln reads template folders from its built-in set and KILN_TEMPLATE_DIRS. Run a sync, or make your own."</p>
                        <div class="empty-actions"><a class="btn btn-primary" href="/templates/new">"New template"</a></div>
                    </EmptyState>
                }.into_any()
            } else if list.is_empty() {
                view! {
                    <EmptyState icon="templates" title="No template matches">
                        <p class="muted">"Try other words or another tag."</p>
                        <div class="empty-actions"><a class="btn" href="/templates">"Clear the filter"</a></div>
                    </EmptyState>
                }.into_any()
            } else {
                view! {
                    <p class="muted small" data-test="template-count">{format!("{} of {total} templates", list.len())}</p>
                    <div class="grid">
                        {list.into_iter().map(|t| view! { <TemplateCard t filter /> }).collect_view()}
                    </div>
                }.into_any()
            }
        }}
    }
}

/// Search words, tag and sort: a GET form (works without JavaScript), rendered on the server
/// inside the [`ApplyOnChange`] island, which applies a new tag or sort at once.
#[component]
fn FilterBar(tags: Vec<String>, filter: Filter) -> impl IntoView {
    let Filter { q, tag, sort } = filter;
    view! {
        <ApplyOnChange>
            <form method="get" action="/templates" class="filter-bar" role="search">
                <div class="field">
                    <label for="template-q">"Search"</label>
                    <input id="template-q" type="search" name="q" placeholder="name, description, tag"
                        value=q data-test="template-search" />
                </div>
                <div class="field">
                    <label for="template-tag">"Tag"</label>
                    <select id="template-tag" name="tag" data-test="tag-filter" autocomplete="off">
                        <option value="" selected=tag.is_empty()>"All tags"</option>
                        {tags.into_iter().map(|t| {
                            let selected = t.eq_ignore_ascii_case(&tag);
                            let label = t.clone();
                            view! { <option value=t selected=selected>{label}</option> }
                        }).collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="template-sort">"Sort"</label>
                    <select id="template-sort" name="sort" autocomplete="off">
                        {Sort::ALL.into_iter().map(|s| view! {
                            <option value=s.as_str() selected=sort == s>{s.label()}</option>
                        }).collect_view()}
                    </select>
                </div>
                <button type="submit" class="btn">"Apply"</button>
            </form>
        </ApplyOnChange>
    }
}

/// Loads the filtered list as soon as a `<select>` of the filter form inside changes (the
/// search words wait for *Apply* or Enter). An island around server-rendered children.
#[island]
fn ApplyOnChange(children: Children) -> impl IntoView {
    let on_change = move |ev: leptos::ev::Event| {
        let fields = FormFields::of_select_change(&ev);
        if let Some(fields) = fields {
            nav::go(&filter_href(&Filter {
                q: fields.text("q"),
                tag: fields.text("tag"),
                sort: Sort::parse(&fields.text("sort")),
            }));
        }
    };
    view! { <div on:change=on_change>{children()}</div> }
}

#[component]
fn LastSync(last_sync: Option<SyncSummary>) -> impl IntoView {
    match last_sync {
        None => {
            view! { <p class="muted small">"Templates have not been synced yet."</p> }.into_any()
        }
        Some(s) => {
            let problems = s.problems.clone();
            view! {
                <p class="muted small" data-test="last-sync">
                    "Last sync " <time datetime=s.finished_at.clone()>{short_time(&s.finished_at)}</time>
                    ": " {sync_counts(&s)} "."
                </p>
                {(!problems.is_empty()).then(|| view! {
                    <details class="alert alert-warn small">
                        <summary>{format!("{} folder(s) could not be read", problems.len())}</summary>
                        <ul>{problems.into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}</ul>
                    </details>
                })}
            }.into_any()
        }
    }
}

#[component]
fn TemplateCard(t: TemplateSummary, filter: Memo<Filter>) -> impl IntoView {
    let href = format!("/templates/{}", t.slug);
    let resources = format!(
        "{} core{} · {} RAM · {} GiB disk · {} {}",
        t.cpu,
        plural(t.cpu),
        mib(t.ram_mib),
        t.disk_gib,
        t.os,
        t.os_version
    );
    view! {
        <article class="card template-card" data-test="template-card" data-slug=t.slug.clone()>
            <div class="row">
                <h2 class="card-title"><a href=href>{t.app.clone()}</a></h2>
                <span class="spacer"></span>
                {source_badge(&t)}
            </div>
            <p class="muted small"><code>{t.slug.clone()}</code></p>
            <p>{t.description.clone()}</p>
            <p class="small muted">{resources}</p>
            <div class="row wrap">
                {health_badge(t.error_count, t.warning_count)}
                {t.missing.then(|| view! { <span class="badge badge-danger" title="The folder was gone at the last sync">"missing"</span> })}
                {t.tags.iter().map(|tag| {
                    let href = filter.with_untracked(|f| filter_href(&Filter { tag: tag.clone(), ..f.clone() }));
                    view! { <a class="tag" href=href data-test="tag">{tag.clone()}</a> }
                }).collect_view()}
            </div>
        </article>
    }
}
