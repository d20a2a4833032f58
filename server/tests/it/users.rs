//! Passwords and user administration.

use axum::http::StatusCode;

use crate::harness::{PASSWORD, TestApp, TestResult};

#[tokio::test(flavor = "multi_thread")]
async fn changing_the_password_ends_other_sessions() -> TestResult {
    let app = TestApp::new().await?;
    app.create_user("judy", false).await?;
    let here = app.login("judy", PASSWORD).await?;
    let there = app.login("judy", PASSWORD).await?;
    let new = "a brand new passphrase";

    let wrong = app
        .call(
            "change_password",
            &[
                ("current", "nope nope nope"),
                ("password", new),
                ("confirm", new),
            ],
            Some(&here),
        )
        .await?;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("current"));
    let short = app
        .call(
            "change_password",
            &[
                ("current", PASSWORD),
                ("password", "short"),
                ("confirm", "short"),
            ],
            Some(&here),
        )
        .await?;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);

    let ok = app
        .call(
            "change_password",
            &[("current", PASSWORD), ("password", new), ("confirm", new)],
            Some(&here),
        )
        .await?;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(
        app.get("/", Some(&here)).await?.status,
        StatusCode::OK,
        "this session stays"
    );
    assert_eq!(
        app.get("/", Some(&there)).await?.location(),
        Some("/login"),
        "the other ends"
    );
    let old = app
        .call(
            "login",
            &[("username", "judy"), ("password", PASSWORD)],
            None,
        )
        .await?;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    app.login("judy", new).await?;
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn only_admins_manage_users_and_disabling_ends_sessions() -> TestResult {
    let app = TestApp::new().await?;
    app.create_user("root", true).await?;
    app.create_user("kim", false).await?;
    let admin = app.login("root", PASSWORD).await?;
    let kim = app.login("kim", PASSWORD).await?;

    assert_eq!(
        app.call("list_users", &[], Some(&kim)).await?.status,
        StatusCode::FORBIDDEN
    );
    let attempt = app
        .call(
            "create_user",
            &[("username", "mallory"), ("password", PASSWORD)],
            Some(&kim),
        )
        .await?;
    assert_eq!(attempt.status, StatusCode::FORBIDDEN);

    let created = app
        .call(
            "create_user",
            &[
                ("username", "leo"),
                ("password", PASSWORD),
                ("is_admin", "on"),
            ],
            Some(&admin),
        )
        .await?;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert!(created.body.contains("\"is_admin\":true"));
    assert!(!created.body.contains("argon2"), "no hash on the wire");
    let dup = app
        .call(
            "create_user",
            &[("username", "leo"), ("password", PASSWORD)],
            Some(&admin),
        )
        .await?;
    assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(dup.body.contains("taken"));
    let invalid = app
        .call(
            "create_user",
            &[("username", "1bad"), ("password", "x")],
            Some(&admin),
        )
        .await?;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);

    let list = app.call("list_users", &[], Some(&admin)).await?;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("\"kim\"") && list.body.contains("\"leo\""));
    assert!(!list.body.contains("password"), "{}", list.body);

    // Find kim's id, disable her: her session ends and she cannot sign in.
    let users: serde_json::Value = serde_json::from_str(&list.body)?;
    let kim_id = users
        .as_array()
        .and_then(|a| a.iter().find(|u| u["username"] == "kim"))
        .and_then(|u| u["id"].as_i64())
        .ok_or("kim listed")?;
    let id = kim_id.to_string();
    let r = app
        .call(
            "set_user_disabled",
            &[("user_id", &id), ("disabled", "true")],
            Some(&admin),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.get("/", Some(&kim)).await?.location(), Some("/login"));
    let denied = app
        .call(
            "login",
            &[("username", "kim"), ("password", PASSWORD)],
            None,
        )
        .await?;
    // Like a wrong password: nothing tells a guesser the account exists but is disabled.
    assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
    assert!(denied.body.contains("login_failed"), "{}", denied.body);

    // An admin cannot disable themself.
    let root_id = users
        .as_array()
        .and_then(|a| a.iter().find(|u| u["username"] == "root"))
        .and_then(|u| u["id"].as_i64())
        .ok_or("root listed")?
        .to_string();
    let r = app
        .call(
            "set_user_disabled",
            &[("user_id", &root_id), ("disabled", "true")],
            Some(&admin),
        )
        .await?;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // Enable again: she can sign in.
    let r = app
        .call(
            "set_user_disabled",
            &[("user_id", &id), ("disabled", "false")],
            Some(&admin),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    app.login("kim", PASSWORD).await?;

    let audit = app.audit().await?;
    for action in ["user.create", "user.disable", "user.enable"] {
        assert!(
            audit
                .iter()
                .any(|(a, _, n)| a == action && n.as_deref() == Some("root")),
            "{action}: {audit:?}"
        );
    }
    app.cleanup().await
}
