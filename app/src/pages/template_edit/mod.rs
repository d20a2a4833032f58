//! The template editor: `/templates/new` (blank, or `?from=<slug>` to clone) and
//! `/templates/:slug/edit`. One form with sections Basics, Resources, Features, Scripts,
//! Packages and Files. The rules are `kiln_shared::catalog::validate_template`, applied by the
//! server on save (the form itself only refuses what it cannot send: a number that is not one,
//! a bad package line); messages appear beside their fields. A folder or
//! built-in template is never changed: saving it creates a custom copy under a free slug
//! (`<slug>-custom`, `-custom-2`, ...; the page says so). A refused save scrolls to the first
//! invalid field; leaving with unsaved changes asks first (`beforeunload`).
//!
//! Code map: this file (the pages and the `Editor` island), `state` (the form's signals and
//! rows), `sections` (scripts, packages and files).

mod sections;
mod state;

use kiln_shared::catalog::{Bucket, Source};
use kiln_shared::templates::{Template, free_slug};
use kiln_shared::{AppError, FieldErrors};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::call::{Call, moved_on};
use crate::components::form::reveal_first_error;
use crate::components::layout::PageHeader;
use crate::components::route::use_slug;
use crate::components::toast::use_toaster;
use crate::functions::templates::{get_template, list_buckets, save_template, template_catalog};

use sections::{FilesSection, PackagesSection, ScriptsSection};
use state::Form;

/// `/templates/new`, blank or cloned from `?from=<slug>`.
#[component]
pub fn TemplateNewPage() -> impl IntoView {
    let query = use_query_map();
    let from = Memo::new(move |_| query.read().get("from").filter(|s| !s.is_empty()));
    let source = Resource::new(
        move || from.get(),
        |from| async move {
            let buckets = list_buckets().await?;
            match from {
                Some(slug) => {
                    let detail = get_template(slug).await?;
                    let taken = taken_slugs().await?;
                    Ok((Some((detail, taken)), buckets))
                }
                None => Ok::<_, AppError>((None, buckets)),
            }
        },
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match source.await {
                    Err(e) => view! { <div class="alert alert-error" role="alert">{e.to_string()}</div> }.into_any(),
                    Ok((None, buckets)) => view! {
                        <PageHeader title="New template" subtitle="A custom template, stored in Kiln and exportable as a folder." />
                        <Editor template=Template::new("") original=None notice=None buckets />
                    }.into_any(),
                    Ok((Some((d, taken)), buckets)) => {
                        let mut t = d.template;
                        t.slug = free_slug(&t.slug, "copy", &taken);
                        t.app = format!("{} (copy)", t.app);
                        let notice = format!("A copy of {}. Saving creates a new custom template; {} stays as it is.", d.summary.app, d.summary.slug);
                        view! {
                            <PageHeader title="Clone template" />
                            <Editor template=t original=None notice=Some(notice) buckets />
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// `/templates/:slug/edit`.
#[component]
pub fn TemplateEditPage() -> impl IntoView {
    let slug = use_slug();
    let detail = Resource::new(
        move || slug.get(),
        |slug| async move {
            let detail = get_template(slug).await?;
            // Only a copy needs a free slug.
            let taken = if detail.summary.source == Source::Custom {
                Vec::new()
            } else {
                taken_slugs().await?
            };
            Ok::<_, AppError>((detail, taken, list_buckets().await?))
        },
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Err(e) => {
                        crate::components::error::set_ssr_status(e.status());
                        view! { <div class="alert alert-error" role="alert">{e.to_string()}</div> }.into_any()
                    }
                    Ok((d, taken, buckets)) => {
                        let original = Some(d.summary.slug.clone());
                        let mut t = d.template;
                        let notice = match d.summary.source {
                            Source::Custom => None,
                            source => {
                                let from = if source == Source::Builtin { "Kiln's built-in set" } else { "a template folder" };
                                let copy = free_slug(&t.slug, "custom", &taken);
                                let text = format!(
                                    "{} comes from {from} and is never changed by Kiln. Saving creates a custom copy named {copy} (change the slug if you like); the original stays as it is.",
                                    t.slug
                                );
                                t.slug = copy;
                                Some(text)
                            }
                        };
                        let title = format!("Edit {}", t.app);
                        view! {
                            <PageHeader title="Edit template" />
                            <leptos_meta::Title text=title />
                            <Editor template=t original notice buckets />
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// Every slug in the catalog (a copy's proposed slug must be free).
async fn taken_slugs() -> Result<Vec<String>, AppError> {
    Ok(template_catalog()
        .await?
        .templates
        .into_iter()
        .map(|t| t.slug)
        .collect())
}

/// The whole editor (an island): the template, the slug it edits (if any), the notice about
/// custom copies, and the shared buckets it can take.
#[island]
fn Editor(
    template: Template,
    original: Option<String>,
    notice: Option<String>,
    buckets: Vec<Bucket>,
) -> impl IntoView {
    let toaster = use_toaster();
    let form = Form::new(template);
    let node = NodeRef::<leptos::html::Form>::new();
    let errors = RwSignal::new(None::<FieldErrors>);
    let form_error = RwSignal::new(None::<String>);
    // Set once saved, so moving on to the saved page does not warn about unsaved changes.
    let saved = StoredValue::new(false);
    warn_before_leaving(form, saved);
    let save = Call::new();
    let on_answer = move |answer: Result<String, AppError>| match answer {
        Ok(slug) => {
            saved.set_value(true);
            moved_on(
                Ok(()),
                &format!("Template {slug} saved."),
                Some(&format!("/templates/{slug}")),
            );
        }
        Err(AppError::Invalid(fields)) => {
            form_error.set(fields.get(FieldErrors::FORM).map(str::to_owned));
            errors.set(Some(fields));
            toaster.error("Please correct the highlighted fields.");
            reveal_first_error(node);
        }
        Err(e) => {
            form_error.set(Some(e.to_string()));
            toaster.error(e.to_string());
            reveal_first_error(node);
        }
    };
    let original = StoredValue::new(original);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // What only the form can see (a number that is not one, a bad package line) is
        // refused here; the template's rules are the server's (its answer names the fields).
        let (t, found) = form.to_template();
        if found.is_empty() {
            errors.set(None);
            form_error.set(None);
            save.run(save_template(original.get_value(), t), on_answer);
        } else {
            form_error.set(found.get(FieldErrors::FORM).map(str::to_owned));
            errors.set(Some(found));
            toaster.error("Please correct the highlighted fields.");
            reveal_first_error(node);
        }
    };
    let err = FieldError(errors);
    view! {
        {notice.map(|n| view! { <div class="alert alert-info" role="note" data-test="copy-notice">{n}</div> })}
        <form class="form editor" node_ref=node on:submit=on_submit novalidate=true data-test="template-editor">
            <noscript><div class="alert alert-warn">"The editor needs JavaScript."</div></noscript>
            <fieldset class="card">
                <legend>"Basics"</legend>
                <div class="form-grid">
                    <TextField id="slug" label="Slug" value=form.slug err hint="The folder name: lowercase letters, digits and hyphens." />
                    <TextField id="app" label="Display name" value=form.app err />
                </div>
                <TextField id="description" label="Description" value=form.description err />
                <TextField id="tags" label="Tags" value=form.tags err hint="Separated by ; (e.g. web; proxy)." />
            </fieldset>
            <fieldset class="card">
                <legend>"Resources"</legend>
                <div class="form-grid">
                    <TextField id="cpu" label="Cores" value=form.cpu err numeric=true />
                    <TextField id="ram_mib" label="Memory (MiB)" value=form.ram_mib err numeric=true />
                    <TextField id="disk_gib" label="Disk (GiB)" value=form.disk_gib err numeric=true />
                    <TextField id="os" label="OS" value=form.os err hint="e.g. debian, ubuntu, alpine" />
                    <TextField id="os_version" label="OS version" value=form.os_version err />
                </div>
            </fieldset>
            <fieldset class="card">
                <legend>"Features"</legend>
                <Check id="unprivileged" label="Unprivileged container (recommended)" value=form.unprivileged />
                <Check id="nesting" label="Nesting (needed for Docker and systemd services in LXC)" value=form.nesting />
                <Check id="keyctl" label="keyctl (needed for Docker in unprivileged containers)" value=form.keyctl />
                <Check id="fuse" label="FUSE" value=form.fuse />
            </fieldset>
            <ScriptsSection form err />
            <PackagesSection form err buckets />
            <FilesSection form err />
            {move || form_error.get().map(|m| view! { <div class="alert alert-error" role="alert" tabindex="-1">{m}</div> })}
            <div class="form-actions">
                <button type="submit" class="btn btn-primary" data-test="save-template"
                    aria-busy=save.busy() disabled=move || save.pending()>
                    {move || if save.pending() { "Saving…" } else { "Save template" }}
                </button>
                <a class="btn btn-ghost" href="/templates">"Cancel"</a>
            </div>
        </form>
    }
}

/// Asks the browser to confirm leaving the page (a link, reload, closing the tab) while the
/// form differs from what it was loaded with and has not been saved.
fn warn_before_leaving(form: Form, saved: StoredValue<bool>) {
    #[cfg(feature = "hydrate")]
    {
        // Compared as JSON: the serializer is in the bundle anyway (saving sends JSON), a
        // derived `PartialEq` for the whole model would not be.
        let json = move || serde_json::to_string(&form.to_template().0).unwrap_or_default();
        let loaded = StoredValue::new(json());
        // The island lives as long as the page: the listener is never removed.
        let _ = window_event_listener_untyped("beforeunload", move |ev| {
            if !saved.get_value() && loaded.with_value(|t| *t != json()) {
                // Every current browser asks the user when `beforeunload` is cancelled.
                ev.prevent_default();
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (form, saved);
}

/// The message for one field from the latest check (browser or server).
#[derive(Clone, Copy)]
struct FieldError(RwSignal<Option<FieldErrors>>);

impl FieldError {
    fn get(self, field: &str) -> Option<String> {
        self.0
            .with(|e| e.as_ref().and_then(|e| e.get(field).map(str::to_owned)))
    }

    /// `aria-invalid` for a field: `"true"` while it has a message (the red border, and what
    /// [`reveal_first_error`] looks for).
    fn invalid(self, field: String) -> impl Fn() -> Option<&'static str> + Send + Sync + 'static {
        move || self.get(&field).map(|_| "true")
    }
}

#[component]
fn TextField(
    id: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    err: FieldError,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(optional)] numeric: bool,
) -> impl IntoView {
    let input_id = format!("t-{id}");
    let error_id = format!("t-{id}-error");
    let message = move || err.get(id);
    view! {
        <div class="field">
            <label for=input_id.clone()>{label}</label>
            <input id=input_id name=id type="text" inputmode=numeric.then_some("numeric")
                bind:value=value
                aria-invalid=move || message().is_some().then_some("true")
                aria-describedby=error_id.clone() />
            {hint.map(|h| view! { <div class="hint">{h}</div> })}
            <div class="field-error" id=error_id>{message}</div>
        </div>
    }
}

#[component]
fn Check(id: &'static str, label: &'static str, value: RwSignal<bool>) -> impl IntoView {
    view! {
        <label class="checkbox">
            <input type="checkbox" name=id bind:checked=value />
            {label}
        </label>
    }
}
