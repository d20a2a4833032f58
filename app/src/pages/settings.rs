//! Settings: the account (password, sessions), API tokens and, for admins, the users.

use kiln_shared::api_tokens::ApiToken;
use kiln_shared::auth::UserSummary;
use kiln_shared::{AppError, validate};
use leptos::prelude::*;
use server_fn::ServerFn;

use crate::components::call::{Call, FormFields, moved_on};
use crate::components::confirm::ConfirmButton;
use crate::components::form::{Field, FormError, reveal_first_error};
use crate::components::format::short_time;
use crate::components::layout::{PageHeader, use_current_user};
use crate::components::post_forms::PostForms;
use crate::components::toast::use_toaster;
use crate::functions::auth::{ChangePassword, change_password, logout};
use crate::functions::tokens::{CreateApiToken, RevokeApiToken, list_api_tokens};
use crate::functions::users::{CreateUser, create_user, list_users, set_user_disabled};

#[component]
pub fn SettingsPage() -> impl IntoView {
    let user = use_current_user();
    view! {
        <PageHeader title="Settings" subtitle="Your account, API tokens and, for administrators, the users." />
        <div class="stack">
            <AccountCard />
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match list_api_tokens().await {
                        Ok(tokens) => view! { <PostForms><TokensCard tokens /></PostForms> }.into_any(),
                        Err(e) => view! { <div class="alert alert-error">{e.to_string()}</div> }.into_any(),
                    }
                })}
            </Transition>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let me = match user {
                        Some(user) => user.await.ok().filter(|u| u.is_admin)?,
                        None => return None,
                    };
                    Some(match list_users().await {
                        Ok(users) => view! { <UsersCard users me=me.id /> }.into_any(),
                        Err(e) => view! { <div class="alert alert-error">{e.to_string()}</div> }.into_any(),
                    })
                })}
            </Transition>
        </div>
    }
}

/// Password and sessions (an island).
#[island]
fn AccountCard() -> impl IntoView {
    let call = Call::new();
    let answer = RwSignal::new(None::<AppError>);
    let error = Signal::from(answer);
    let toaster = use_toaster();
    let form = NodeRef::<leptos::html::Form>::new();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let f = FormFields::of(&ev);
        let call_fn = change_password(f.text("current"), f.text("password"), f.text("confirm"));
        call.run(call_fn, move |r| {
            match &r {
                Ok(()) => {
                    toaster.success("Password changed. Your other sessions were signed out.");
                    if let Some(form) = form.get_untracked() {
                        form.reset();
                    }
                }
                Err(_) => reveal_first_error(form),
            }
            answer.set(r.err());
        });
    };
    let sign_out = Call::new();
    let sign_out_all = Callback::new(move |()| {
        sign_out.run(logout(Some("true".into())), move |r| {
            if let Err(e) = r {
                toaster.error(e.to_string());
            }
        });
    });
    view! {
        <section class="card">
            <h2 class="card-title">"Change password"</h2>
            <form action=ChangePassword::PATH method="post" node_ref=form class="form" data-test="password-form" on:submit=on_submit>
                <FormError error />
                <Field
                    form="account"
                    name="current"
                    label="Current password"
                    input_type="password"
                    autocomplete="current-password"
                    error
                />
                <Field
                    form="account"
                    name="password"
                    label="New password"
                    input_type="password"
                    autocomplete="new-password"
                    hint="At least 10 characters."
                    rule=validate::new_password
                    error
                />
                <Field
                    form="account"
                    name="confirm"
                    label="Repeat the new password"
                    input_type="password"
                    autocomplete="new-password"
                    error
                />
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" aria-busy=call.busy()>
                        "Change password"
                    </button>
                </div>
            </form>
        </section>
        <section class="card">
            <h2 class="card-title">"Sessions"</h2>
            <p class="muted">
                "A session ends after 2 hours without activity, and 12 hours after sign-in at the latest."
            </p>
            <div class="row">
                <ConfirmButton
                    label="Sign out everywhere".into()
                    question="Sign out of every browser where you are signed in, including this one?".into()
                    confirm_label="Sign out everywhere".into()
                    class="btn"
                    danger=true
                    on_confirm=sign_out_all
                />
            </div>
        </section>
    }
}

/// The users (administrators only), rendered on the server; the new-user form and each
/// row's *Disable*/*Enable* are islands, and the page reloads after a change. `me` is the
/// signed-in administrator, whose own row offers no *Disable* (the server refuses it).
#[component]
fn UsersCard(users: Vec<UserSummary>, me: i64) -> impl IntoView {
    view! {
        <section class="card">
            <h2 class="card-title">"Users"</h2>
            <UserTable list=users me />
            <h3>"Add a user"</h3>
            <NewUserForm />
        </section>
    }
}

/// The new-user form (an island; without JavaScript it posts as a plain form).
#[island]
fn NewUserForm() -> impl IntoView {
    let call = Call::new();
    let answer = RwSignal::new(None::<AppError>);
    let error = Signal::from(answer);
    let form = NodeRef::<leptos::html::Form>::new();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let f = FormFields::of(&ev);
        let call_fn = create_user(f.text("username"), f.text("password"), f.get("is_admin"));
        call.run(call_fn, move |r| match r {
            Ok(user) => moved_on(Ok(()), &format!("User {} created.", user.username), None),
            Err(e) => {
                answer.set(Some(e));
                reveal_first_error(form);
            }
        });
    };
    view! {
        <form action=CreateUser::PATH method="post" node_ref=form class="form" data-test="create-user-form" on:submit=on_submit>
            <FormError error />
            <Field form="new-user" name="username" label="Username" rule=validate::username error />
            <Field
                form="new-user"
                name="password"
                label="Initial password"
                input_type="password"
                autocomplete="new-password"
                hint="At least 10 characters; ask them to change it."
                rule=validate::new_password
                error
            />
            <label class="checkbox">
                <input type="checkbox" name="is_admin" value="on" />
                " Administrator"
            </label>
            <div class="form-actions">
                <button type="submit" class="btn btn-primary" aria-busy=call.busy()>"Add user"</button>
            </div>
        </form>
    }
}

/// A user's *Disable* or *Enable*, confirmed (an island; the page reloads after it).
#[island]
fn UserToggle(id: i64, name: String, disabled: bool) -> impl IntoView {
    let call = Call::new();
    let label = if disabled { "Enable" } else { "Disable" };
    view! {
        <ConfirmButton
            label=label.into()
            question=if disabled {
                format!("Enable {name}? They can sign in again.")
            } else {
                format!("Disable {name}? Their sessions end at once.")
            }
            confirm_label=label.into()
            danger=!disabled
            on_confirm=Callback::new(move |()| {
                call.run(set_user_disabled(id, !disabled), |r| moved_on(r, "User updated.", None));
            })
        />
    }
}

#[component]
fn UserTable(list: Vec<UserSummary>, me: i64) -> impl IntoView {
    view! {
        <div class="table-scroll">
        <table class="data" data-test="users">
            <thead>
                <tr>
                    <th scope="col">"User"</th>
                    <th scope="col">"Role"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Last sign-in"</th>
                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr>
            </thead>
            <tbody>
                {list
                    .into_iter()
                    .map(|u| {
                        let is_me = u.id == me;
                        view! {
                            <tr data-test="user-row" data-user=u.username.clone()>
                                <td>
                                    {u.username.clone()}
                                    {is_me.then(|| view! { " " <span class="badge badge-accent">"you"</span> })}
                                </td>
                                <td>{if u.is_admin { "Administrator" } else { "User" }}</td>
                                <td>
                                    {if u.disabled {
                                        view! { <span class="badge badge-muted">"disabled"</span> }
                                    } else {
                                        view! { <span class="badge badge-ok">"active"</span> }
                                    }}
                                </td>
                                <td class="muted">
                                    {u.last_login_at.clone().unwrap_or_else(|| "never".into())}
                                </td>
                                <td class="num">
                                    {(!is_me).then(|| view! {
                                        <UserToggle id=u.id name=u.username.clone() disabled=u.disabled />
                                    })}
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

/// The message for `?notice=<word>` after a plain form post of the tokens card.
fn token_notice() -> Option<&'static str> {
    let word = leptos_router::hooks::use_query_map()
        .read_untracked()
        .get("notice")?;
    Some(match word.as_str() {
        "token-created" => {
            "Token created. Its secret is shown only when JavaScript is on: revoke it and \
             create it again with JavaScript to see it."
        }
        "token-revoked" => "Token revoked: it no longer works.",
        _ => return None,
    })
}

/// The user's API tokens (rendered on the server; the forms are sent by the `PostForms`
/// island around it, which shows a new token's secret once).
#[component]
fn TokensCard(tokens: Vec<ApiToken>) -> impl IntoView {
    view! {
        <section class="card" data-test="api-tokens">
            <h2 class="card-title">"API tokens"</h2>
            <p class="muted">
                "Scripts, CI and the command line client call the "
                <a href="/api/v1/docs/">"REST API"</a>
                " with a token: "<code>"Authorization: Bearer <token>"</code>". A token acts as you; a read-only one may only read."
            </p>
            {token_notice().map(|text| view! { <div class="alert alert-success" role="status">{text}</div> })}
            {if tokens.is_empty() {
                view! { <p class="muted" data-test="no-tokens">"No token yet."</p> }.into_any()
            } else {
                view! { <TokenTable tokens /> }.into_any()
            }}
            <h3>"Create a token"</h3>
            <form method="post" action=CreateApiToken::PATH class="form" id="token-new" data-test="token-form">
                <div class="field">
                    <label for="token-new-name">"Name"</label>
                    <input id="token-new-name" name="name" required maxlength="64"
                        placeholder="ci, laptop, terraform" autocomplete="off" />
                    <p class="field-error" data-error-for="name" aria-live="polite"></p>
                </div>
                <div class="field">
                    <label for="token-new-expiry">"Expires after (days)"</label>
                    <input id="token-new-expiry" name="expires_in_days" type="number" min="1" max="3650"
                        placeholder="never" inputmode="numeric" />
                    <p class="field-error" data-error-for="expires_in_days" aria-live="polite"></p>
                </div>
                <label class="checkbox">
                    <input type="checkbox" name="read_only" value="on" />
                    " Read-only"
                </label>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" data-test="token-create">"Create token"</button>
                </div>
            </form>
        </section>
    }
}

#[component]
fn TokenTable(tokens: Vec<ApiToken>) -> impl IntoView {
    view! {
        <div class="table-scroll">
        <table class="data" data-test="tokens">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Token"</th>
                    <th scope="col">"Scope"</th>
                    <th scope="col">"Created"</th>
                    <th scope="col">"Expires"</th>
                    <th scope="col">"Last used"</th>
                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr>
            </thead>
            <tbody>
                {tokens
                    .into_iter()
                    .map(|t| {
                        let id = t.id;
                        view! {
                            <tr data-test="token-row" data-token=t.name.clone()>
                                <td>{t.name.clone()}</td>
                                <td><code>{format!("{}…", t.prefix)}</code></td>
                                <td>
                                    {if t.read_only {
                                        view! { <span class="badge badge-muted">"read-only"</span> }
                                    } else {
                                        view! { <span class="badge badge-accent">"full"</span> }
                                    }}
                                </td>
                                <td class="muted">{short_time(&t.created_at)}</td>
                                <td class="muted">
                                    {match (&t.expires_at, t.expired) {
                                        (_, true) => view! { <span class="badge badge-warn">"expired"</span> }.into_any(),
                                        (Some(at), false) => short_time(at).into_any(),
                                        (None, false) => "never".into_any(),
                                    }}
                                </td>
                                <td class="muted">
                                    {t.last_used_at.as_deref().map_or_else(|| "never".to_owned(), short_time)}
                                </td>
                                <td class="num">
                                    // Asked first, without a dialog: the button opens a
                                    // question with the button that revokes.
                                    <details class="confirm-inline">
                                        <summary class="btn btn-sm btn-ghost" data-test="token-revoke">"Revoke"</summary>
                                        <form method="post" action=RevokeApiToken::PATH id=format!("token-revoke-{id}")
                                            data-success="Token revoked.">
                                            <p class="small">"Whatever uses this token stops working at once."</p>
                                            <input type="hidden" name="id" value=id.to_string() />
                                            <button type="submit" class="btn btn-sm btn-danger" data-test="token-revoke-confirm">
                                                {format!("Revoke \u{201c}{}\u{201d}", t.name)}
                                            </button>
                                        </form>
                                    </details>
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
