//! The pages outside the shell: first-run setup and sign-in.

use kiln_shared::{AppError, validate};
use leptos::prelude::*;
use server_fn::ServerFn;

use crate::components::call::{Call, FormFields};
use crate::components::form::{Field, FormError, query_error_kind};
use crate::functions::auth::{Login, SetupAdmin, login, setup_admin};

#[component]
fn AuthCard(title: &'static str, subtitle: &'static str, children: Children) -> impl IntoView {
    view! {
        <leptos_meta::Title text=title />
        <main class="auth-page" id="content">
            <div class="auth-card card">
                <div class="brand">
                    <span class="brand-mark" aria-hidden="true">"K"</span>
                    <span class="brand-name">"Kiln"</span>
                </div>
                <h1>{title}</h1>
                <p class="muted">{subtitle}</p>
                {children()}
            </div>
        </main>
    }
}

/// Shown on the very first visit, while no user exists: creates the administrator.
#[component]
pub fn SetupPage() -> impl IntoView {
    view! {
        <AuthCard
            title="Welcome to Kiln"
            subtitle="Create the administrator account. You will use it to add Proxmox nodes and invite others."
        >
            <SetupForm kind=query_error_kind() />
        </AuthCard>
    }
}

/// The setup form (an island: live rule checks; without JavaScript it posts as a plain form).
#[island]
fn SetupForm(kind: Option<String>) -> impl IntoView {
    let call = Call::new();
    let answer = RwSignal::new(None::<AppError>);
    let error = Signal::from(answer);
    // Without JavaScript the form posts itself; here the same fields go through the call.
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let f = FormFields::of(&ev);
        let call_fn = setup_admin(f.text("username"), f.text("password"), f.text("confirm"));
        call.run(call_fn, move |r| answer.set(r.err()));
    };
    view! {
            <form action=SetupAdmin::PATH method="post" class="form" data-test="setup-form" on:submit=on_submit>
                <FormError error kind=kind />
                <Field
                    name="username"
                    label="Username"
                    autocomplete="username"
                    hint="2–32 characters: a–z, 0–9, '.', '_' or '-'."
                    rule=validate::username
                    autofocus=true
                    error
                />
                <Field
                    name="password"
                    label="Password"
                    input_type="password"
                    autocomplete="new-password"
                    hint="At least 10 characters."
                    rule=validate::new_password
                    error
                />
                <Field
                    name="confirm"
                    label="Repeat the password"
                    input_type="password"
                    autocomplete="new-password"
                    error
                />
                <div class="form-actions">
                    <button
                        type="submit"
                        class="btn btn-primary btn-block"
                        aria-busy=call.busy()
                    >
                        "Create administrator"
                    </button>
                </div>
            </form>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let next = leptos_router::hooks::use_query_map()
        .read_untracked()
        .get("next")
        .unwrap_or_default();
    view! {
        <AuthCard title="Sign in" subtitle="Sign in to manage your containers.">
            <LoginForm next kind=query_error_kind() />
        </AuthCard>
    }
}

/// The sign-in form (an island; without JavaScript it posts as a plain form).
#[island]
fn LoginForm(next: String, kind: Option<String>) -> impl IntoView {
    let call = Call::new();
    let answer = RwSignal::new(None::<AppError>);
    let error = Signal::from(answer);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let f = FormFields::of(&ev);
        call.run(
            login(f.text("username"), f.text("password"), f.get("next")),
            move |r| answer.set(r.err()),
        );
    };
    view! {
            <form action=Login::PATH method="post" class="form" data-test="login-form" on:submit=on_submit>
                <FormError error kind=kind />
                <input type="hidden" name="next" value=next />
                <Field
                    name="username"
                    label="Username"
                    autocomplete="username"
                    autofocus=true
                    error
                />
                <Field
                    name="password"
                    label="Password"
                    input_type="password"
                    autocomplete="current-password"
                    error
                />
                <div class="form-actions">
                    <button
                        type="submit"
                        class="btn btn-primary btn-block"
                        aria-busy=call.busy()
                    >
                        "Sign in"
                    </button>
                </div>
            </form>
    }
}
