//! `/packages`: shared package buckets — named lists of packages per manager (apt, apk, dnf,
//! npm, pip, custom with check/install commands) that templates take a copy of. Create, edit,
//! delete several at once, and see which templates hold a copy.

use kiln_shared::catalog::{Bucket, BucketInput, format_package_text};
use kiln_shared::templates::Manager;
use kiln_shared::{AppError, FieldErrors};
use leptos::prelude::*;

use crate::components::call::{Call, moved_on};
use crate::components::confirm::ConfirmButton;
use crate::components::form::reveal_first_error;
use crate::components::layout::{EmptyState, PageHeader};
use crate::components::toast::use_toaster;
use crate::functions::templates::{delete_buckets, list_buckets, save_bucket};

/// What the bucket form is doing.
#[derive(Clone, PartialEq)]
enum Editing {
    Closed,
    New,
    Existing(i64),
}

#[component]
pub fn PackagesPage() -> impl IntoView {
    let buckets = Resource::new(|| (), |_| list_buckets());
    view! {
        <PageHeader title="Packages" subtitle="Package buckets that templates share: each template keeps its own copy." />
        <Transition fallback=|| view! { <p class="muted">"Loading buckets…"</p> }>
            {move || Suspend::new(async move {
                match buckets.await {
                    Err(e) => view! { <div class="alert alert-error" role="alert">{e.to_string()}</div> }.into_any(),
                    Ok(list) => view! { <BucketList list /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The bucket table, rendered here, inside the [`Buckets`] island that makes its checkboxes
/// and *Edit* buttons work.
#[component]
fn BucketList(list: Vec<Bucket>) -> impl IntoView {
    let table = if list.is_empty() {
        view! {
            <EmptyState icon="packages" title="No package buckets yet">
                <p class="muted">"A bucket groups packages by manager, e.g. base: curl, ca-certificates (apt). Templates take a copy of a bucket in the editor."</p>
            </EmptyState>
        }
        .into_any()
    } else {
        view! {
            <div class="table-wrap">
                <table class="data" data-test="buckets">
                    <thead><tr>
                        <th scope="col"><span class="visually-hidden">"Select"</span></th>
                        <th scope="col">"Bucket"</th><th scope="col">"Packages"</th>
                        <th scope="col">"Used by"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr></thead>
                    <tbody>
                        {list.iter().cloned().map(|b| view! { <BucketRow b /> }).collect_view()}
                    </tbody>
                </table>
            </div>
        }
        .into_any()
    };
    view! { <Buckets list>{table}</Buckets> }
}

/// The bulk bar and the bucket form around the table (an island; the page reloads after a
/// change). The rows are rendered by the server: their checkboxes (`data-bucket`) and *Edit*
/// buttons (`data-edit`) are read here through events that bubble up to the table's wrapper.
#[island]
fn Buckets(list: Vec<Bucket>, children: Children) -> impl IntoView {
    let toaster = use_toaster();
    let selected = RwSignal::new(0usize);
    let editing = RwSignal::new(Editing::Closed);
    let form = BucketForm::new();
    let rows = NodeRef::<leptos::html::Div>::new();
    let remove = Call::new();
    let open_new = move |_| {
        form.fill(None);
        editing.set(Editing::New);
    };
    let empty = list.is_empty();
    let list = StoredValue::new(list);
    let on_change = move |_| selected.set(checked_buckets(rows).len());
    let on_click = move |ev: leptos::ev::MouseEvent| {
        if let Some(id) = edit_target(&ev) {
            let bucket = list.with_value(|l| l.iter().find(|b| b.id == id).cloned());
            form.fill(bucket.as_ref());
            editing.set(Editing::Existing(id));
        }
    };
    view! {
        <div class="row bulk-bar">
            <button type="button" class="btn btn-primary" data-test="new-bucket" on:click=open_new>"New bucket"</button>
            <span class="spacer"></span>
            {(!empty).then(|| view! {
                <span class="small muted">{move || format!("{} selected", selected.get())}</span>
                <ConfirmButton label="Delete selected".into()
                    question="Delete the selected buckets? Templates keep the copies they took.".into()
                    confirm_label="Delete buckets".into() danger=true
                    on_confirm=Callback::new(move |()| {
                        let ids = checked_buckets(rows);
                        if ids.is_empty() {
                            toaster.error("Select at least one bucket.");
                        } else {
                            remove.run(delete_buckets(ids), |answer| {
                                let message = answer
                                    .as_ref()
                                    .map(|n| format!("{n} bucket(s) deleted. Templates keep their copies."))
                                    .unwrap_or_default();
                                moved_on(answer, &message, None);
                            });
                        }
                    }) />
            })}
        </div>
        {move || (editing.get() != Editing::Closed).then(|| view! {
            <BucketEditor form editing />
        })}
        <div node_ref=rows on:change=on_change on:click=on_click>{children()}</div>
    }
}

/// The ids of the checked rows (`<input type="checkbox" data-bucket="<id>">`).
fn checked_buckets(rows: NodeRef<leptos::html::Div>) -> Vec<i64> {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Some(Ok(boxes)) = rows
            .get_untracked()
            .map(|r| r.query_selector_all("input[data-bucket]:checked"))
        else {
            return Vec::new();
        };
        (0..boxes.length())
            .filter_map(|i| {
                boxes
                    .item(i)?
                    .dyn_into::<web_sys::Element>()
                    .ok()?
                    .get_attribute("data-bucket")?
                    .parse()
                    .ok()
            })
            .collect()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = rows;
        Vec::new()
    }
}

/// The bucket whose *Edit* button (`data-edit="<id>"`) was clicked, if the click was on one.
fn edit_target(ev: &leptos::ev::MouseEvent) -> Option<i64> {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        ev.target()?
            .dyn_into::<web_sys::Element>()
            .ok()?
            .closest("[data-edit]")
            .ok()??
            .get_attribute("data-edit")?
            .parse()
            .ok()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = ev;
        None
    }
}

/// One bucket (rendered on the server).
#[component]
fn BucketRow(b: Bucket) -> impl IntoView {
    let id = b.id;
    // Another user's bucket: used, not changed (the server refuses it too).
    let can_change = b.can_change;
    let summary = b
        .lists
        .iter()
        .map(|l| format!("{} {}", l.packages.len(), l.manager.extension()))
        .collect::<Vec<_>>()
        .join(" · ");
    let preview = b
        .lists
        .iter()
        .flat_map(|l| l.packages.iter())
        .take(6)
        .map(|p| match p {
            kiln_shared::templates::Package::Plain(name) => name.clone(),
            kiln_shared::templates::Package::Custom { name, .. } => name.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let more = b.package_count().saturating_sub(6);
    view! {
        <tr data-test="bucket-row" data-name=b.name.clone()>
            <td>
                <input type="checkbox" aria-label=format!("Select {}", b.name)
                    data-bucket=id disabled=!can_change autocomplete="off" />
            </td>
            <td><strong>{b.name.clone()}</strong><div class="small muted">{b.description.clone()}</div></td>
            <td>
                <div class="small">{summary}</div>
                <div class="small muted">{preview}{(more > 0).then(|| format!(" and {more} more"))}</div>
            </td>
            <td data-test="used-by">
                {if b.used_by.is_empty() {
                    view! { <span class="muted small">"no template"</span> }.into_any()
                } else {
                    b.used_by.into_iter().map(|slug| view! {
                        <a class="tag" href=format!("/templates/{slug}")>{slug.clone()}</a>
                    }).collect_view().into_any()
                }}
            </td>
            <td>
                {if can_change {
                    view! { <button type="button" class="btn btn-sm btn-ghost" data-edit=id>"Edit"</button> }.into_any()
                } else {
                    view! { <span class="muted small" title="Only its owner or an administrator can change it">"read-only"</span> }.into_any()
                }}
            </td>
        </tr>
    }
}

/// The form's fields: name, description and one text per manager.
#[derive(Clone, Copy)]
struct BucketForm {
    name: RwSignal<String>,
    description: RwSignal<String>,
    texts: [RwSignal<String>; 6],
}

impl BucketForm {
    fn new() -> Self {
        BucketForm {
            name: RwSignal::new(String::new()),
            description: RwSignal::new(String::new()),
            texts: std::array::from_fn(|_| RwSignal::new(String::new())),
        }
    }

    fn fill(&self, bucket: Option<&Bucket>) {
        self.name
            .set(bucket.map(|b| b.name.clone()).unwrap_or_default());
        self.description
            .set(bucket.map(|b| b.description.clone()).unwrap_or_default());
        for (manager, text) in Manager::ALL.into_iter().zip(self.texts) {
            let list = bucket.and_then(|b| b.lists.iter().find(|l| l.manager == manager));
            text.set(
                list.map(|l| format_package_text(&l.packages))
                    .unwrap_or_default(),
            );
        }
    }

    fn input(&self) -> BucketInput {
        BucketInput {
            name: self.name.get_untracked(),
            description: self.description.get_untracked(),
            texts: Manager::ALL
                .into_iter()
                .zip(self.texts)
                .map(|(m, t)| (m, t.get_untracked()))
                .collect(),
        }
    }
}

fn manager_hint(m: Manager) -> &'static str {
    match m {
        Manager::Apt => {
            "Debian/Ubuntu packages, one per line (version pins like nodejs=24.* allowed)."
        }
        Manager::Apk => "Alpine packages.",
        Manager::Dnf => "Fedora/RHEL packages.",
        Manager::Npm => "Installed globally with npm.",
        Manager::Pip => "Installed with pip.",
        Manager::Custom => {
            "name|check command|install command[|timeout seconds] — install runs only when check fails."
        }
    }
}

#[component]
fn BucketEditor(form: BucketForm, editing: RwSignal<Editing>) -> impl IntoView {
    let toaster = use_toaster();
    let errors = RwSignal::new(None::<FieldErrors>);
    let node = NodeRef::<leptos::html::Form>::new();
    let save = Call::new();
    let message = move |field: &'static str| {
        move || errors.with(|e| e.as_ref().and_then(|e| e.get(field).map(str::to_owned)))
    };
    // One closure type for every field's `aria-invalid` (keeps the bundle small).
    let invalid = move |field: &'static str| move || message(field)().map(|_| "true");
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // The server checks the bucket (`BucketInput::parse`); its answer names the fields.
        let input = form.input();
        let id = match editing.get_untracked() {
            Editing::Existing(id) => Some(id),
            _ => None,
        };
        save.run(save_bucket(id, input), move |answer| match answer {
            Ok(b) => moved_on(Ok(()), &format!("Bucket {} saved.", b.name), None),
            Err(AppError::Invalid(fields)) => {
                errors.set(Some(fields));
                reveal_first_error(node);
            }
            Err(e) => toaster.error(e.to_string()),
        });
    };
    let title = move || match editing.get() {
        Editing::Existing(_) => "Edit bucket",
        _ => "New bucket",
    };
    view! {
        <form class="card form" node_ref=node on:submit=on_submit novalidate=true data-test="bucket-form">
            <h2 class="card-title">{title}</h2>
            <div class="form-grid">
                <div class="field">
                    <label for="bucket-name">"Name"</label>
                    <input id="bucket-name" type="text" class="mono" bind:value=form.name data-test="bucket-name"
                        aria-invalid=invalid("name") />
                    <div class="hint">"Becomes packages/<name>.<manager> in a template."</div>
                    <div class="field-error">{message("name")}</div>
                </div>
                <div class="field">
                    <label for="bucket-description">"Description"</label>
                    <input id="bucket-description" type="text" bind:value=form.description
                        aria-invalid=invalid("description") />
                    <div class="field-error">{message("description")}</div>
                </div>
            </div>
            <div class="form-grid">
                {Manager::ALL.into_iter().zip(form.texts).map(|(m, text)| {
                    let id = format!("bucket-{}", m.extension());
                    view! {
                        <div class="field">
                            <label for=id.clone()>{m.extension()}</label>
                            <textarea id=id class="code-editor" rows="4" spellcheck="false"
                                data-test=format!("bucket-{}", m.extension()) bind:value=text
                                aria-invalid=invalid(m.extension())></textarea>
                            <div class="hint">{manager_hint(m)}</div>
                            <div class="field-error">{message(m.extension())}</div>
                        </div>
                    }
                }).collect_view()}
            </div>
            <div class="field-error" role="alert" tabindex="-1">{message(FieldErrors::FORM)}</div>
            <div class="form-actions">
                <button type="submit" class="btn btn-primary" data-test="save-bucket"
                    disabled=move || save.pending()>"Save bucket"</button>
                <button type="button" class="btn btn-ghost" on:click=move |_| editing.set(Editing::Closed)>"Cancel"</button>
            </div>
        </form>
    }
}
