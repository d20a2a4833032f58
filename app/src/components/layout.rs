//! The app shell: sidebar navigation (behind a menu button at phone width), top bar (theme
//! switch, user menu) and the page outlet.

use kiln_shared::auth::CurrentUser;
use leptos::prelude::*;
use leptos_router::components::{A, Outlet};

use crate::components::error::ErrorView;
use crate::components::icons::Icon;
use crate::components::theme::ThemeToggle;
use crate::functions::alerts::unacknowledged_alerts;
use crate::functions::auth::{Logout, whoami};

/// The sidebar's entries: (path, label, icon).
const NAV: &[(&str, &str, &str)] = &[
    ("/", "Dashboard", "dashboard"),
    ("/containers", "Containers", "containers"),
    ("/templates", "Templates", "templates"),
    ("/packages", "Packages", "packages"),
    ("/nodes", "Nodes", "nodes"),
    ("/alerts", "Alerts", "bell"),
    ("/settings", "Settings", "settings"),
];

/// The signed-in layout. The user is loaded once and shared with the pages as context.
#[component]
pub fn Shell() -> impl IntoView {
    let user = OnceResource::new(whoami());
    provide_context(user);
    let alerts = OnceResource::new(unacknowledged_alerts());
    view! {
        <div class="app">
            <aside class="sidebar">
                <a class="brand" href="/">
                    <span class="brand-mark" aria-hidden="true">"K"</span>
                    <span class="brand-name">"Kiln"</span>
                </a>
                // Phone width: the menu button shows and hides the navigation. A checkbox and
                // its label, styled in CSS, so it works without JavaScript (and costs the
                // bundle nothing); hidden on wider screens, where the sidebar is always open.
                <input type="checkbox" id="nav-toggle" class="nav-toggle" autocomplete="off"
                    aria-label="Menu" aria-controls="main-nav" data-test="nav-toggle" />
                <label for="nav-toggle" class="btn-icon nav-toggle-button" aria-hidden="true"
                    title="Menu" data-test="menu-button">
                    <Icon name="menu" />
                </label>
                <nav class="nav" id="main-nav" aria-label="Main">
                    {NAV
                        .iter()
                        .map(|(href, label, icon)| {
                            view! {
                                <A href=*href exact={*href == "/"}>
                                    <span class="nav-icon"><Icon name=icon /></span>
                                    <span>{*label}</span>
                                </A>
                            }
                        })
                        .collect_view()}
                </nav>
                <div class="sidebar-footer small muted">
                    {concat!("Kiln ", env!("CARGO_PKG_VERSION"))}
                </div>
            </aside>
            <div class="main">
                <header class="topbar">
                    <div class="spacer"></div>
                    <div class="topbar-actions">
                        <Transition fallback=|| ()>
                            {move || Suspend::new(async move {
                                alerts.await.ok().map(|n| view! { <AlertBadge count=n /> })
                            })}
                        </Transition>
                        <ThemeToggle />
                        <Transition fallback=|| ()>
                            {move || Suspend::new(async move {
                                user.await.ok().map(|user| view! { <UserMenu user /> })
                            })}
                        </Transition>
                    </div>
                </header>
                <main id="content" class="content">
                    <ErrorBoundary fallback=|errors| view! { <ErrorView errors /> }>
                        <Outlet />
                    </ErrorBoundary>
                </main>
            </div>
        </div>
    }
}

/// The bell in the top bar, with the count of active alerts nobody acknowledged.
#[component]
fn AlertBadge(count: u32) -> impl IntoView {
    let label = match count {
        0 => "Alerts: none active".to_owned(),
        1 => "Alerts: 1 active, not acknowledged".to_owned(),
        n => format!("Alerts: {n} active, not acknowledged"),
    };
    view! {
        <a class="btn-icon alert-bell" href="/alerts" aria-label=label.clone() title=label
            data-test="alert-badge" data-count=count.to_string()>
            <Icon name="bell" />
            {(count > 0).then(|| view! { <span class="alert-count">{count}</span> })}
        </a>
    }
}

/// The avatar and its menu: account settings, sign out, sign out everywhere.
#[component]
fn UserMenu(user: CurrentUser) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    let logout_all = ServerAction::<Logout>::new();
    view! {
        <details class="user-menu">
            <summary aria-label="Account menu">
                <span class="avatar" aria-hidden="true">{user.initials()}</span>
                <span class="user-name">{user.username.clone()}</span>
                {user.is_admin.then(|| view! { <span class="badge badge-accent">"admin"</span> })}
            </summary>
            <div class="menu" role="menu">
                <a href="/settings" role="menuitem">
                    <Icon name="user" />
                    " Account settings"
                </a>
                <hr />
                <ActionForm action=logout>
                    <button type="submit" role="menuitem" data-test="logout">
                        <Icon name="logout" />
                        " Sign out"
                    </button>
                </ActionForm>
                <ActionForm action=logout_all>
                    <input type="hidden" name="everywhere" value="true" />
                    <button type="submit" role="menuitem">
                        <Icon name="logout" />
                        " Sign out everywhere"
                    </button>
                </ActionForm>
            </div>
        </details>
    }
}

/// The signed-in user as loaded by the shell (for pages that need it).
pub fn use_current_user() -> Option<OnceResource<Result<CurrentUser, kiln_shared::AppError>>> {
    use_context()
}

/// A page heading with an optional subtitle and actions.
#[component]
pub fn PageHeader(
    title: &'static str,
    #[prop(optional)] subtitle: Option<&'static str>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <leptos_meta::Title text=title />
        <div class="page-header">
            <div>
                <h1>{title}</h1>
                {subtitle.map(|s| view! { <p class="muted">{s}</p> })}
            </div>
            <div class="spacer"></div>
            {children.map(|c| view! { <div class="page-actions">{c()}</div> })}
        </div>
    }
}

/// An empty state that tells a newcomer what to do next.
#[component]
pub fn EmptyState(icon: &'static str, title: &'static str, children: Children) -> impl IntoView {
    view! {
        <section class="empty-state card">
            <div class="empty-icon"><Icon name=icon /></div>
            <h2>{title}</h2>
            {children()}
        </section>
    }
}
