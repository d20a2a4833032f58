//! Settings: the account (password, sessions) and, for admins, the users.

use kiln_shared::auth::UserSummary;
use kiln_shared::validate;
use leptos::prelude::*;

use crate::components::confirm::ConfirmButton;
use crate::components::form::{Field, FormError, action_error, reveal_first_error};
use crate::components::layout::{PageHeader, use_current_user};
use crate::components::toast::use_toaster;
use crate::functions::auth::{ChangePassword, logout};
use crate::functions::users::{CreateUser, SetUserDisabled, list_users};

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
    let action = ServerAction::<ChangePassword>::new();
    let error = action_error(action);
    let toaster = use_toaster();
    let form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| match action.value().get() {
        Some(Ok(())) => {
            toaster.success("Password changed. Your other sessions were signed out.");
            if let Some(form) = form.get() {
                form.reset();
            }
        }
        Some(Err(_)) => reveal_first_error(form),
        None => {}
    });
    let sign_out_all = Callback::new(move |()| {
        leptos::task::spawn_local(async move {
            if let Err(e) = logout(Some("true".into())).await {
                toaster.error(e.to_string());
            }
        });
    });
    view! {
        <section class="card">
            <h2 class="card-title">"Change password"</h2>
            <ActionForm action=action node_ref=form attr:class="form" attr:data-test="password-form">
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
                    <button
                        type="submit"
                        class="btn btn-primary"
                        aria-busy=move || action.pending().get().then_some("true")
                    >
                        "Change password"
                    </button>
                </div>
            </ActionForm>
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

/// The users (administrators only; an island). The list is reloaded after each change. `me`
/// is the signed-in administrator, whose own row offers no *Disable* (the server refuses it).
#[island]
fn UsersCard(users: Vec<UserSummary>, me: i64) -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let toggle = ServerAction::<SetUserDisabled>::new();
    let error = action_error(create);
    let toaster = use_toaster();
    let list = RwSignal::new(users);
    Effect::new(move |first: Option<()>| {
        create.version().track();
        toggle.version().track();
        if first.is_some() {
            leptos::task::spawn_local(async move {
                match list_users().await {
                    Ok(users) => list.set(users),
                    Err(e) => toaster.error(e.to_string()),
                }
            });
        }
    });
    let form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| match create.value().get() {
        Some(Ok(user)) => {
            toaster.success(format!("User {} created.", user.username));
            if let Some(form) = form.get() {
                form.reset();
            }
        }
        Some(Err(_)) => reveal_first_error(form),
        None => {}
    });
    Effect::new(move |_| match toggle.value().get() {
        Some(Ok(())) => toaster.success("User updated."),
        Some(Err(e)) => toaster.error(e.to_string()),
        None => {}
    });
    view! {
        <section class="card">
            <h2 class="card-title">"Users"</h2>
            {move || view! { <UserTable list=list.get() me toggle /> }}
            <h3>"Add a user"</h3>
            <ActionForm action=create node_ref=form attr:class="form" attr:data-test="create-user-form">
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
                    <button type="submit" class="btn btn-primary">"Add user"</button>
                </div>
            </ActionForm>
        </section>
    }
}

#[component]
fn UserTable(
    list: Vec<UserSummary>,
    me: i64,
    toggle: ServerAction<SetUserDisabled>,
) -> impl IntoView {
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
                        let id = u.id;
                        let disabled = u.disabled;
                        let name = u.username.clone();
                        let is_me = id == me;
                        view! {
                            <tr data-test="user-row" data-user=u.username.clone()>
                                <td>
                                    {u.username.clone()}
                                    {is_me.then(|| view! { " " <span class="badge badge-accent">"you"</span> })}
                                </td>
                                <td>{if u.is_admin { "Administrator" } else { "User" }}</td>
                                <td>
                                    {if disabled {
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
                                    <ConfirmButton
                                        label=(if disabled { "Enable" } else { "Disable" }).into()
                                        question=if disabled {
                                            format!("Enable {name}? They can sign in again.")
                                        } else {
                                            format!("Disable {name}? Their sessions end at once.")
                                        }
                                        confirm_label=(if disabled { "Enable" } else { "Disable" }).into()
                                        danger=!disabled
                                        on_confirm=Callback::new(move |()| {
                                            toggle.dispatch(SetUserDisabled { user_id: id, disabled: !disabled });
                                        })
                                    />
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
