//! The security review's sign-in findings: bounded input before anything is written,
//! escaped audit values, a limit that holds under concurrency (also for the current-password
//! check), a disabled account that looks like a wrong password, counters whose expiry was
//! lost, sessions of a user disabled while signing in, and two administrators disabling each
//! other at once.

use axum::http::StatusCode;
use deadpool_redis::redis::AsyncCommands;
use kiln_shared::auth::CurrentUser;

use crate::harness::{PASSWORD, TestApp, TestResult};

/// The user's id, from the table.
async fn user(
    app: &TestApp,
    name: &str,
) -> Result<CurrentUser, Box<dyn std::error::Error + Send + Sync>> {
    let mut conn = app.state.db.get().await?;
    let row = kiln_server::db::users::by_username(&mut conn, name)
        .await?
        .ok_or("no such user")?;
    Ok(CurrentUser::from(&row))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_username_is_refused_before_anything_is_written() -> TestResult {
    let app = TestApp::new().await?;
    let huge = "a".repeat(3 * 1024 * 1024);
    let reply = app
        .call(
            "login",
            &[("username", &huge), ("password", "whatever")],
            None,
        )
        .await?;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        &reply.body[..200.min(reply.body.len())]
    );
    assert!(
        reply.body.len() < 1024,
        "the answer does not echo the input"
    );
    let long_password = "p".repeat(2048);
    let reply = app
        .call(
            "login",
            &[("username", "ann"), ("password", &long_password)],
            None,
        )
        .await?;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.audit().await?.is_empty(), "nothing audited");
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn audited_names_cannot_forge_lines() -> TestResult {
    let app = TestApp::new().await?;
    let forged = "eve\n2026-11-26T00:00:00Z  INFO kiln: login ok user.name=root";
    let reply = app
        .call(
            "login",
            &[("username", forged), ("password", "wrong password")],
            None,
        )
        .await?;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let audit = app.audit().await?;
    let name = audit
        .first()
        .and_then(|(_, _, name)| name.clone())
        .ok_or("no audit row")?;
    assert!(!name.contains('\n'), "{name:?}");
    assert!(name.starts_with("eve\\n2026"), "{name:?}");
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_parallel_wrong_passwords_verify_at_most_five() -> TestResult {
    let app = TestApp::new().await?;
    app.create_user("alice", false).await?;
    // From fifty addresses, so only the per-user limit applies.
    let calls = (0..50u8).map(|i| {
        app.call_from(
            [198, 51, 100, i + 1],
            "login",
            &[("username", "alice"), ("password", "not her password")],
            None,
        )
    });
    let replies = futures::future::join_all(calls).await;
    let mut unauthorized = 0;
    let mut limited = 0;
    for reply in replies {
        match reply?.status {
            StatusCode::UNAUTHORIZED => unauthorized += 1,
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => return Err(format!("unexpected {other}").into()),
        }
    }
    assert!(unauthorized <= 5, "{unauthorized} were verified");
    assert_eq!(unauthorized + limited, 50);
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_current_password_check_is_limited_too() -> TestResult {
    let app = TestApp::new().await?;
    app.create_user("judy", false).await?;
    let session = app.login("judy", PASSWORD).await?;
    let new = "a brand new passphrase";
    let form = |current: &'static str| [("current", current), ("password", new), ("confirm", new)];
    for _ in 0..5 {
        let reply = app
            .call(
                "change_password",
                &form("guess guess guess"),
                Some(&session),
            )
            .await?;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.body
        );
    }
    let reply = app
        .call(
            "change_password",
            &form("correct horse battery"),
            Some(&session),
        )
        .await?;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_the_password_with_no_other_session_succeeds() -> TestResult {
    let app = TestApp::new().await?;
    app.create_user("solo", false).await?;
    let session = app.login("solo", PASSWORD).await?;
    let new = "a brand new passphrase";
    let reply = app
        .call(
            "change_password",
            &[("current", PASSWORD), ("password", new), ("confirm", new)],
            Some(&session),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    app.login("solo", new).await?;
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_account_answers_like_a_wrong_password() -> TestResult {
    let app = TestApp::new().await?;
    app.create_user("root", true).await?;
    app.create_user("bob", false).await?;
    let admin = app.login("root", PASSWORD).await?;
    let bob = user(&app, "bob").await?;
    let reply = app
        .call(
            "set_user_disabled",
            &[("user_id", &bob.id.to_string()), ("disabled", "true")],
            Some(&admin),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let right = app
        .call(
            "login",
            &[("username", "bob"), ("password", PASSWORD)],
            None,
        )
        .await?;
    let wrong = app
        .call(
            "login",
            &[("username", "bob"), ("password", "wrong password")],
            None,
        )
        .await?;
    assert_eq!(right.status, StatusCode::UNAUTHORIZED);
    assert_eq!(right.body, wrong.body);

    // A session a sign-in in flight opened after the disable is refused by the gate.
    let late = app.state.sessions.create(&bob).await?;
    let reply = app.get("/", Some(&late)).await?;
    assert_eq!(reply.location(), Some("/login"), "{}", reply.status);
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_counter_whose_expiry_was_lost_gets_one_again() -> TestResult {
    let app = TestApp::new().await?;
    let key = app.state.limiter.user_key("carol");
    let mut conn = app.state.redis.get().await?;
    let _: () = conn.set(&key, 3).await?;
    assert_eq!(app.state.limiter.ttl("carol").await?, -1, "no expiry");
    app.call(
        "login",
        &[("username", "carol"), ("password", "wrong password")],
        None,
    )
    .await?;
    let ttl = app.state.limiter.ttl("carol").await?;
    assert!((1..=60).contains(&ttl), "ttl {ttl}");
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn two_administrators_cannot_disable_each_other() -> TestResult {
    let app = TestApp::new().await?;
    app.create_user("ann", true).await?;
    app.create_user("ben", true).await?;
    let ann = user(&app, "ann").await?;
    let ben = user(&app, "ben").await?;
    for round in 0..5 {
        let ann_session = app.login("ann", PASSWORD).await?;
        let ben_session = app.login("ben", PASSWORD).await?;
        let ben_id = ben.id.to_string();
        let ann_id = ann.id.to_string();
        let disable_ben = [("user_id", ben_id.as_str()), ("disabled", "true")];
        let disable_ann = [("user_id", ann_id.as_str()), ("disabled", "true")];
        let (a, b) = tokio::join!(
            app.call("set_user_disabled", &disable_ben, Some(&ann_session)),
            app.call("set_user_disabled", &disable_ann, Some(&ben_session)),
        );
        let statuses = [a?.status, b?.status];
        assert!(
            statuses.contains(&StatusCode::OK),
            "round {round}: {statuses:?}"
        );
        let mut conn = app.state.db.get().await?;
        let mut active = 0;
        for id in [ann.id, ben.id] {
            let row = kiln_server::db::users::by_id(&mut conn, id)
                .await?
                .ok_or("no user")?;
            active += usize::from(!row.disabled);
        }
        assert_eq!(
            active, 1,
            "round {round}: exactly one administrator stays enabled"
        );
        drop(conn);
        // The one left re-enables the other for the next round.
        let (winner, loser) = if statuses[0] == StatusCode::OK {
            (ann_session, ben.id)
        } else {
            (ben_session, ann.id)
        };
        let reply = app
            .call(
                "set_user_disabled",
                &[("user_id", &loser.to_string()), ("disabled", "false")],
                Some(&winner),
            )
            .await?;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    app.cleanup().await
}
