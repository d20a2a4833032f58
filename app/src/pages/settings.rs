//! Settings: the account (password, sessions) and, for admins, the users.

use kiln_shared::auth::UserSummary;
use kiln_shared::{AppError, validate};
use leptos::prelude::*;
use server_fn::ServerFn;

use crate::components::call::{Call, FormFields, moved_on};
use crate::components::confirm::ConfirmButton;
use crate::components::form::{Field, FormError, reveal_first_error};
use crate::components::layout::{PageHeader, use_current_user};
use crate::components::toast::use_toaster;
use crate::functions::auth::{ChangePassword, change_password, logout};
use crate::functions::users::{CreateUser, create_user, list_users, set_user_disabled};

#[component]
pub fn SettingsPage() -> impl IntoView {
    let user = use_current_user();
    view! {
        <PageHeader title="Settings" subtitle="Your account and, for administrators, the users." />
        <div class="stack">
            <AccountCard />
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
