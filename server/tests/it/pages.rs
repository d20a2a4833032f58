//! Pages as the server renders them (through the router, signed in): what a new user sees
//! without JavaScript — unique element ids on Settings, no *Disable* on one's own user row,
//! a README rendered from Markdown with its HTML and scripts made inert, a copy's proposed
//! slug that is free, and a Containers page that tells the truth about the user's nodes.

use std::collections::HashMap;

use axum::http::StatusCode;
use kiln_shared::templates::Template;

use crate::catalog::{insert_node, sample, save_ok};
use crate::harness::{PASSWORD, TestApp};

type R<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// GETs `path` as `session` and expects a 200 page.
async fn page(app: &TestApp, path: &str, session: &str) -> R<String> {
    let reply = app.get(path, Some(session)).await?;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
    Ok(reply.body)
}

/// Every `id="…"` of an HTML page, with how often it occurs.
fn ids(html: &str) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for part in html.split(" id=\"").skip(1) {
        if let Some((id, _)) = part.split_once('"') {
            *seen.entry(id.to_owned()).or_insert(0) += 1;
        }
    }
    seen
}

/// The `<tr>` of the users table for `name`.
fn user_row<'a>(html: &'a str, name: &str) -> Option<&'a str> {
    let start = html.find(&format!("data-user=\"{name}\""))?;
    let end = html[start..].find("</tr>")?;
    Some(&html[start..start + end])
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_ids_are_unique_and_own_row_has_no_disable() -> R {
    let app = TestApp::new().await?;
    app.create_user("ada", true).await?;
    app.create_user("bob", false).await?;
    let ada = app.login("ada", PASSWORD).await?;
    let html = page(&app, "/settings", &ada).await?;

    let ids = ids(&html);
    let twice: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "ids used more than once: {twice:?}");
    for id in [
        "account-password",
        "account-current",
        "new-user-password",
        "new-user-username",
    ] {
        assert!(ids.contains_key(id), "no #{id}");
        assert!(
            html.contains(&format!("for=\"{id}\"")),
            "no label for #{id}"
        );
    }

    let own = user_row(&html, "ada").ok_or("no row for ada")?;
    assert!(!own.contains("Disable"), "own row offers Disable: {own}");
    assert!(own.contains(">you<"), "own row is marked: {own}");
    let other = user_row(&html, "bob").ok_or("no row for bob")?;
    assert!(
        other.contains("Disable"),
        "bob's row lost its Disable: {other}"
    );
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn template_readme_is_rendered_and_inert() -> R {
    let app = TestApp::new().await?;
    app.create_user("ada", false).await?;
    let ada = app.login("ada", PASSWORD).await?;
    let mut t: Template = sample("readme-demo");
    t.readme = Some(
        "# Readme demo\n\nServes **static** files. See [the docs](https://example.org/docs).\n\n\
         <script>alert('owned')</script>\n\n\
         Click [here](javascript:alert('owned')) or <img src=x onerror=alert('owned')>.\n"
            .into(),
    );
    save_ok(&app, &ada, None, &t).await?;
    let html = page(&app, "/templates/readme-demo", &ada).await?;

    let readme = html
        .split_once("data-test=\"readme\"")
        .map(|(_, rest)| rest)
        .ok_or("no README on the Config tab")?;
    assert!(readme.contains("<h1>Readme demo</h1>"), "{readme}");
    assert!(readme.contains("<strong>static</strong>"), "{readme}");
    assert!(
        readme.contains("href=\"https://example.org/docs\""),
        "{readme}"
    );
    assert!(
        readme.contains("&lt;script&gt;alert("),
        "raw HTML shown as text: {readme}"
    );
    // Nowhere on the page — not in the README, not in data serialized for the browser.
    assert!(!html.contains("<script>alert("), "a live script tag");
    assert!(!html.contains("<img src=x"), "a live img tag");
    assert!(!html.contains("href=\"javascript:"), "a javascript: link");
    assert!(
        !html.contains("<pre class=\"readme\">"),
        "the raw Markdown is gone"
    );
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn edit_a_copy_proposes_a_free_slug() -> R {
    let app = TestApp::new().await?;
    app.create_user("ada", false).await?;
    let ada = app.login("ada", PASSWORD).await?;
    // The built-in set is synced at start in production; here, on request.
    let reply = app.call("sync_templates", &[], Some(&ada)).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let mut taken = sample("nginx-web-custom");
    taken.app = "Taken".into();
    save_ok(&app, &ada, None, &taken).await?;

    let html = page(&app, "/templates/nginx-web/edit", &ada).await?;
    assert!(
        html.contains("custom copy named nginx-web-custom-2"),
        "the notice proposes a free slug"
    );
    assert!(html.contains("nginx-web-custom-2"), "the slug field");

    let detail = page(&app, "/templates/nginx-web", &ada).await?;
    assert!(
        detail.contains("Edit a copy"),
        "one action for a built-in template"
    );
    assert!(
        !detail.contains("data-test=\"clone-template\""),
        "Clone is the same thing here"
    );
    assert!(
        detail.contains("read-only here"),
        "the help says what Edit a copy does"
    );
    let custom = page(&app, "/templates/nginx-web-custom", &ada).await?;
    assert!(
        custom.contains("data-test=\"clone-template\""),
        "a custom template has Clone"
    );
    assert!(custom.contains("Edit changes this template. Clone starts a new custom template"));
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn containers_empty_state_tells_the_truth() -> R {
    let app = TestApp::new().await?;
    app.create_user("ada", false).await?;
    let ada = app.login("ada", PASSWORD).await?;

    let none = page(&app, "/containers", &ada).await?;
    assert!(none.contains("Add a node first"), "no nodes: ask for one");

    // Written straight to the database (no service forgets the dashboard's last look): wait
    // until that look is too old to serve.
    insert_node(&app, "ada").await?;
    tokio::time::sleep(kiln_server::containers::service::INVENTORY_TTL).await;
    let some = page(&app, "/containers", &ada).await?;
    assert!(!some.contains("Add a node first"), "a node exists: {some}");
    assert!(
        some.contains("href=\"/containers/new\""),
        "leads to the wizard: {some}"
    );
    assert!(some.contains("No containers yet"), "says there are none");
    app.cleanup().await
}
