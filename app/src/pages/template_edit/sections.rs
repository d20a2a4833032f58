//! The editor's list sections: scripts (add, remove, reorder), package buckets (own rows or a
//! copy of a shared bucket) and files. Errors name rows by position (`files.2.target_dir`);
//! each row's inputs carry `aria-invalid` while their field has a message.

use kiln_shared::catalog::{Bucket, format_package_text};
use kiln_shared::templates::{Manager, Policy};
use leptos::prelude::*;

use super::FieldError;
use super::state::Form;

/// The rows with their positions (errors name rows by position).
fn indexed<T: Copy + Send + Sync + 'static>(
    rows: RwSignal<Vec<T>>,
) -> impl Fn() -> Vec<(usize, T)> + Copy {
    move || rows.get().into_iter().enumerate().collect()
}

/// A field error shown for a list row (`scripts.3.file_name`).
fn row_error(err: FieldError, field: String) -> impl IntoView {
    view! { <div class="field-error">{move || err.get(&field)}</div> }
}

#[component]
pub(super) fn ScriptsSection(form: Form, err: FieldError) -> impl IntoView {
    let add = move |_| {
        let n = form.scripts.with_untracked(Vec::len) + 1;
        form.add_script(
            &format!("{:02}-step.sh", n * 10),
            "#!/usr/bin/env bash\nset -euo pipefail\n",
        );
    };
    view! {
        <fieldset class="card">
            <legend>"Scripts"</legend>
            <p class="hint">"Run as root inside the container in the order of their names (10-…, 20-…). Moving a script renumbers them."</p>
            <For each=indexed(form.scripts) key=|(i, r)| (*i, r.key) let((i, row))>
                <div class="list-row" data-test="script-row">
                    <div class="row">
                        <label class="visually-hidden" for=format!("script-{}", row.key)>"Script name"</label>
                        <input id=format!("script-{}", row.key) class="mono grow" type="text" bind:value=row.name
                            aria-label="Script name" data-test="script-name"
                            aria-invalid=err.invalid(format!("scripts.{i}.file_name")) />
                        <button type="button" class="btn btn-sm btn-ghost" title="Move up" aria-label="Move up"
                            disabled=i == 0 on:click=move |_| form.move_script(i, true)>"↑"</button>
                        <button type="button" class="btn btn-sm btn-ghost" title="Move down" aria-label="Move down"
                            on:click=move |_| form.move_script(i, false)>"↓"</button>
                        <button type="button" class="btn btn-sm btn-ghost" aria-label="Remove script"
                            on:click=move |_| form.scripts.update(|rows| rows.retain(|r| r.key != row.key))>"Remove"</button>
                    </div>
                    {row_error(err, format!("scripts.{i}.file_name"))}
                    <textarea class="code-editor" rows="10" spellcheck="false" wrap="off" aria-label="Script content"
                        data-test="script-content" bind:value=row.content
                        aria-invalid=err.invalid(format!("scripts.{i}.content"))></textarea>
                    {row_error(err, format!("scripts.{i}.content"))}
                </div>
            </For>
            <button type="button" class="btn btn-sm" on:click=add data-test="add-script">"Add script"</button>
        </fieldset>
    }
}

#[component]
pub(super) fn PackagesSection(form: Form, err: FieldError, buckets: Vec<Bucket>) -> impl IntoView {
    let picked = RwSignal::new(String::new());
    let take = move |buckets: &[Bucket]| {
        let name = picked.get_untracked();
        if let Some(bucket) = buckets.iter().find(|b| b.name == name) {
            for list in &bucket.lists {
                form.add_bucket(
                    &list.name,
                    list.manager,
                    &format_package_text(&list.packages),
                );
            }
        }
    };
    view! {
        <fieldset class="card">
            <legend>"Packages"</legend>
            <p class="hint">"One package per line; custom lines are name|check command|install command[|timeout]. The template keeps its own copy of a shared bucket."</p>
            <For each=indexed(form.buckets) key=|(i, r)| (*i, r.key) let((i, row))>
                <div class="list-row" data-test="bucket-row">
                    <div class="row">
                        <input class="mono grow" type="text" bind:value=row.name aria-label="Bucket name"
                            aria-invalid=err.invalid(format!("packages.{i}.name")) />
                        <select aria-label="Package manager"
                            on:change=move |ev| {
                                if let Some(m) = Manager::from_extension(&event_target_value(&ev)) { row.manager.set(m); }
                            }>
                            {Manager::ALL.into_iter().map(|m| view! {
                                <option value=m.extension() selected=move || row.manager.get() == m>{m.extension()}</option>
                            }).collect_view()}
                        </select>
                        <button type="button" class="btn btn-sm btn-ghost"
                            on:click=move |_| form.buckets.update(|rows| rows.retain(|r| r.key != row.key))>"Remove"</button>
                    </div>
                    {row_error(err, format!("packages.{i}.name"))}
                    <textarea class="code-editor" rows="4" spellcheck="false" aria-label="Packages" data-test="bucket-packages" bind:value=row.text
                        aria-invalid=err.invalid(format!("packages.{i}.packages"))></textarea>
                    {row_error(err, format!("packages.{i}.packages"))}
                </div>
            </For>
            <div class="row wrap">
                <button type="button" class="btn btn-sm" data-test="add-packages"
                    on:click=move |_| form.add_bucket("extra", Manager::Apt, "")>"Add single packages"</button>
                {if buckets.is_empty() {
                    view! { <span class="small muted">"No shared buckets yet — " <a href="/packages">"create one"</a></span> }.into_any()
                } else {
                    let names: Vec<String> = buckets.iter().map(|b| b.name.clone()).collect();
                    let buckets = StoredValue::new(buckets);
                    view! {
                        <label class="visually-hidden" for="take-bucket">"Shared bucket"</label>
                        <select id="take-bucket" on:change=move |ev| picked.set(event_target_value(&ev))>
                            <option value="">"Shared bucket…"</option>
                            {names.into_iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}
                        </select>
                        <button type="button" class="btn btn-sm" data-test="take-bucket" on:click=move |_| buckets.with_value(|b| take(b))>"Take bucket"</button>
                    }.into_any()
                }}
            </div>
        </fieldset>
    }
}

#[component]
pub(super) fn FilesSection(form: Form, err: FieldError) -> impl IntoView {
    view! {
        <fieldset class="card">
            <legend>"Files"</legend>
            <p class="hint">"Pushed into the container at target directory/name. Policy: default leaves an existing file alone, replace overwrites it when it differs, backup keeps the old one first."</p>
            <For each=indexed(form.files) key=|(i, r)| (*i, r.key) let((i, row))>
                <div class="list-row" data-test="file-row">
                    <div class="form-grid">
                        <div class="field">
                            <label for=format!("file-name-{}", row.key)>"Name"</label>
                            <input id=format!("file-name-{}", row.key) class="mono" type="text" bind:value=row.name data-test="file-name"
                                aria-invalid=err.invalid(format!("files.{i}.name")) />
                            {row_error(err, format!("files.{i}.name"))}
                        </div>
                        <div class="field">
                            <label for=format!("file-dir-{}", row.key)>"Target directory"</label>
                            <input id=format!("file-dir-{}", row.key) class="mono" type="text" placeholder="/etc/myapp" bind:value=row.target_dir data-test="file-target"
                                aria-invalid=err.invalid(format!("files.{i}.target_dir")) />
                            {row_error(err, format!("files.{i}.target_dir"))}
                        </div>
                        <div class="field">
                            <label for=format!("file-policy-{}", row.key)>"Policy"</label>
                            <select id=format!("file-policy-{}", row.key) data-test="file-policy"
                                on:change=move |ev| {
                                    if let Some(p) = Policy::from_word(&event_target_value(&ev)) { row.policy.set(p); }
                                }>
                                {[Policy::Default, Policy::Replace, Policy::Backup].into_iter().map(|p| view! {
                                    <option value=p.word() selected=move || row.policy.get() == p>{p.word()}</option>
                                }).collect_view()}
                            </select>
                        </div>
                    </div>
                    {move || match row.binary.get_value() {
                        Some(data) => view! { <p class="small muted">{format!("Binary file ({} bytes), kept as it is.", data.len() / 4 * 3)}</p> }.into_any(),
                        None => view! {
                            <textarea class="code-editor" rows="8" spellcheck="false" wrap="off" aria-label="File content"
                                data-test="file-content" bind:value=row.content
                                aria-invalid=err.invalid(format!("files.{i}.content"))></textarea>
                        }.into_any(),
                    }}
                    {row_error(err, format!("files.{i}.content"))}
                    <button type="button" class="btn btn-sm btn-ghost"
                        on:click=move |_| form.files.update(|rows| rows.retain(|r| r.key != row.key))>"Remove file"</button>
                </div>
            </For>
            <button type="button" class="btn btn-sm" data-test="add-file" on:click=move |_| { form.add_file(); }>"Add file"</button>
        </fieldset>
    }
}
