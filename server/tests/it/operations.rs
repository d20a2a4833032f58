//! Health, readiness, error statuses, assets, migrations.

use axum::http::StatusCode;
use kiln_server::db;

use crate::harness::{PASSWORD, TestApp, TestResult, unique, with_search_path};

#[tokio::test(flavor = "multi_thread")]
async fn health_and_readiness() -> TestResult {
    let app = TestApp::new().await?;
    let health = app.get("/healthz", None).await?;
    assert_eq!(health.status, StatusCode::OK);
    let ready = app.get("/readyz", None).await?;
    assert_eq!(ready.status, StatusCode::OK);
    assert!(ready.body.contains("\"postgres\":\"ok\"") && ready.body.contains("\"redis\":\"ok\""));
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_is_503_when_redis_is_unreachable() -> TestResult {
    let app = TestApp::new().await?;
    // A pool pointing at a closed port: the check fails fast.
    let dead = deadpool_redis::Config::from_url("redis://127.0.0.1:1")
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))?;
    let mut state = app.state.clone();
    state.redis = dead;
    let router = kiln_server::http::router(state);
    let reply = tower::ServiceExt::oneshot(
        router,
        axum::http::Request::get("/readyz").body(axum::body::Body::empty())?,
    )
    .await?;
    assert_eq!(reply.status(), StatusCode::SERVICE_UNAVAILABLE);
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_pages_are_404_and_pages_render_on_the_server() -> TestResult {
    let app = TestApp::new().await?;
    app.create_user("admin", true).await?;
    let session = app.login("admin", PASSWORD).await?;
    let missing = app.get("/no/such/page", Some(&session)).await?;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("This page does not exist"));
    // Without running any script, the pages already carry their content.
    let settings = app.get("/settings", Some(&session)).await?;
    assert!(settings.body.contains("Change password") && settings.body.contains("Users"));
    let nodes = app.get("/nodes", Some(&session)).await?;
    assert!(nodes.body.contains("No nodes yet"));
    assert_eq!(
        app.get("/pkg/nothing-here.js", None).await?.status,
        StatusCode::NOT_FOUND
    );
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn theme_switch_without_javascript_sets_the_cookie() -> TestResult {
    let app = TestApp::new().await?;
    let req = axum::http::Request::post("/theme")
        .header("referer", "http://kiln.local/settings")
        .header("sec-fetch-site", "same-origin")
        .body(axum::body::Body::empty())?;
    let reply = app.send_from([192, 0, 2, 1], req).await?;
    assert_eq!(reply.location(), Some("/settings"));
    let cookie = reply
        .headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(cookie.starts_with("kiln_theme=dark"), "{cookie}");
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_are_reversible() -> TestResult {
    let schema = format!("kiln_test_{}", unique());
    let base = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    {
        use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
        let mut admin = AsyncPgConnection::establish(&base).await?;
        diesel::sql_query(format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await?;
    }
    let pool = db::pool(&with_search_path(&base, &schema), 2)?;
    let applied = db::migrate(&pool).await?;
    assert!(!applied.is_empty());
    db::revert_all(&pool).await?;
    let again = db::migrate(&pool).await?;
    assert_eq!(applied, again, "down.sql undoes up.sql exactly");
    pool.close();
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let mut admin = AsyncPgConnection::establish(&base).await?;
    diesel::sql_query(format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut admin)
        .await?;
    Ok(())
}
