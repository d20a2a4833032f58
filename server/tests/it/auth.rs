//! First-run setup, sign-in, sign-out, sessions, rate limits, 401s and cross-site refusal.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};

use crate::harness::{PASSWORD, TestApp, TestResult, wait};

#[tokio::test(flavor = "multi_thread")]
async fn first_run_setup_then_login_and_logout() -> TestResult {
    let app = TestApp::new().await?;

    // Before any user exists every page leads to the setup page.
    let reply = app.get("/", None).await?;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), Some("/setup"));
    assert_eq!(app.get("/login", None).await?.location(), Some("/setup"));
    let page = app.get("/setup", None).await?;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Create administrator"),
        "setup page renders on the server"
    );

    // The shared rules apply on the server.
    let bad = app
        .call(
            "setup_admin",
            &[
                ("username", "Admin!"),
                ("password", "short"),
                ("confirm", "other"),
            ],
            None,
        )
        .await?;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.body.contains("username")
            && bad.body.contains("password")
            && bad.body.contains("confirm"),
        "{}",
        bad.body
    );

    let ok = app
        .call(
            "setup_admin",
            &[
                ("username", "Root.Admin"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
            None,
        )
        .await?;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let cookie = ok
        .headers
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP without a proxy: no Secure flag"
    );
    let session = ok.session().ok_or("setup signs the admin in")?;

    // Signed in: the dashboard renders, the setup page is gone.
    let dash = app.get("/", Some(&session)).await?;
    assert_eq!(dash.status, StatusCode::OK);
    assert!(
        dash.body.contains("Dashboard") && dash.body.contains("root.admin"),
        "user menu rendered on the server"
    );
    assert_eq!(
        app.get("/setup", Some(&session)).await?.location(),
        Some("/")
    );
    let again = app
        .call(
            "setup_admin",
            &[
                ("username", "second"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
            None,
        )
        .await?;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(app.get("/setup", None).await?.location(), Some("/login"));

    // Sign out: the cookie is cleared and the old id is dead.
    let out = app.call("logout", &[], Some(&session)).await?;
    assert_eq!(out.status, StatusCode::OK);
    assert!(out.session().is_none());
    let after = app.get("/", Some(&session)).await?;
    assert_eq!(after.location(), Some("/login"));

    // Username is case-insensitive; a fresh id each time.
    let second = app.login("ROOT.ADMIN", PASSWORD).await?;
    assert_ne!(second, session);

    let audit = app.audit().await?;
    let actions: Vec<&str> = audit.iter().map(|(a, _, _)| a.as_str()).collect();
    assert!(
        actions.contains(&"setup.admin")
            && actions.contains(&"logout")
            && actions.contains(&"login"),
        "{actions:?}"
    );
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_user_and_wrong_password_look_the_same_and_are_rate_limited() -> TestResult {
    let app = TestApp::new().await?;
    app.create_user("alice", false).await?;

    let no_user = app
        .call_from(
            [198, 51, 100, 1],
            "login",
            &[("username", "nobody"), ("password", PASSWORD)],
            None,
        )
        .await?;
    let wrong_pw = app
        .call(
            "login",
            &[("username", "alice"), ("password", "not the password")],
            None,
        )
        .await?;
    assert_eq!(no_user.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_pw.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no_user.body, wrong_pw.body, "the same message for both");
    assert!(wrong_pw.body.contains("login_failed"), "{}", wrong_pw.body);

    // Four more wrong passwords for alice (five in all) are still 401 ...
    for _ in 0..4 {
        let r = app
            .call(
                "login",
                &[("username", "alice"), ("password", "wrong wrong")],
                None,
            )
            .await?;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // ... the sixth attempt within the minute is 429, even with the right password.
    let limited = app
        .call(
            "login",
            &[("username", "alice"), ("password", PASSWORD)],
            None,
        )
        .await?;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert!(limited.body.contains("retry_after_secs"));
    // Per user: another address is limited too.
    let elsewhere = app
        .call_from(
            [198, 51, 100, 7],
            "login",
            &[("username", "alice"), ("password", PASSWORD)],
            None,
        )
        .await?;
    assert_eq!(elsewhere.status, StatusCode::TOO_MANY_REQUESTS);

    let audit = app.audit().await?;
    assert!(
        audit
            .iter()
            .any(|(a, o, n)| a == "login" && o == "denied" && n.as_deref() == Some("alice")),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|(a, o, n)| a == "login" && o == "failed" && n.as_deref() == Some("nobody"))
    );
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_limited_per_address_across_usernames() -> TestResult {
    let app = TestApp::new().await?;
    app.create_user("bob", false).await?;
    let ip = [203, 0, 113, 9];
    for i in 0..5 {
        let name = format!("guess{i}");
        let r = app
            .call_from(
                ip,
                "login",
                &[("username", &name), ("password", "xxxxxxxxxxx")],
                None,
            )
            .await?;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = app
        .call_from(
            ip,
            "login",
            &[("username", "bob"), ("password", PASSWORD)],
            None,
        )
        .await?;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // Another address is unaffected.
    app.login("bob", PASSWORD).await?;
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_out_calls_get_401_and_pages_redirect_to_login() -> TestResult {
    let app = TestApp::new().await?;
    app.create_user("carol", true).await?;
    for name in [
        "whoami",
        "logout",
        "change_password",
        "list_users",
        "create_user",
        "set_user_disabled",
    ] {
        let r = app.call(name, &[], None).await?;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}: {}", r.body);
        let r = app
            .call(
                name,
                &[],
                Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            )
            .await?;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{name} with a made-up session"
        );
    }
    // The REST API: its routes want a token (the cookie is not looked at); a path that is
    // no route is a 404 in the API's shape (the routes are public in its document anyway).
    assert_eq!(
        app.get("/api/v1/me", None).await?.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/anything", None).await?.status,
        StatusCode::NOT_FOUND
    );
    for page in [
        "/",
        "/containers",
        "/templates",
        "/packages",
        "/nodes",
        "/settings",
        "/no-such-page",
    ] {
        let r = app.get(page, None).await?;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{page}");
        assert!(
            r.location().is_some_and(|l| l.starts_with("/login")),
            "{page}"
        );
    }
    assert_eq!(
        app.get("/settings?tab=users", None).await?.location(),
        Some("/login?next=/settings%3Ftab%3Dusers")
    );
    // Signed in, the same function answers.
    let session = app.login("carol", PASSWORD).await?;
    let me = app.call("whoami", &[], Some(&session)).await?;
    assert_eq!(me.status, StatusCode::OK);
    assert!(me.body.contains("\"username\":\"carol\""));
    // After sign-in the browser goes where it wanted to.
    let r = app
        .call(
            "login",
            &[
                ("username", "carol"),
                ("password", PASSWORD),
                ("next", "/settings"),
            ],
            None,
        )
        .await?;
    assert_eq!(r.location(), Some("/settings"));
    let r = app
        .call(
            "login",
            &[
                ("username", "carol"),
                ("password", PASSWORD),
                ("next", "//evil.example/"),
            ],
            None,
        )
        .await?;
    assert_eq!(r.location(), Some("/"), "no open redirect");
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_site_server_function_calls_are_refused() -> TestResult {
    let app = TestApp::new().await?;
    app.create_user("dave", false).await?;
    let session = app.login("dave", PASSWORD).await?;
    let form = "everywhere=true";
    let cross = Request::post("/api/fn/logout")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("kiln_session={session}"))
        .header("sec-fetch-site", "cross-site")
        .body(Body::from(form))?;
    assert_eq!(
        app.send_from([192, 0, 2, 1], cross).await?.status,
        StatusCode::FORBIDDEN
    );
    let foreign_origin = Request::post("/api/fn/logout")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("kiln_session={session}"))
        .header(header::HOST, "kiln.local:8080")
        .header(header::ORIGIN, "https://evil.example")
        .body(Body::from(form))?;
    assert_eq!(
        app.send_from([192, 0, 2, 1], foreign_origin).await?.status,
        StatusCode::FORBIDDEN
    );
    let cross_login = Request::post("/api/fn/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body(Body::from(format!(
            "username=dave&password={}",
            PASSWORD.replace(' ', "+")
        )))?;
    assert_eq!(
        app.send_from([192, 0, 2, 1], cross_login).await?.status,
        StatusCode::FORBIDDEN
    );
    // The session survived both attempts; a same-origin call works.
    let me = app.call("whoami", &[], Some(&session)).await?;
    assert_eq!(me.status, StatusCode::OK);
    let same_origin = Request::post("/api/fn/whoami")
        .header(header::COOKIE, format!("kiln_session={session}"))
        .header(header::HOST, "kiln.local:8080")
        .header(header::ORIGIN, "http://kiln.local:8080")
        .body(Body::empty())?;
    assert_eq!(
        app.send_from([192, 0, 2, 1], same_origin).await?.status,
        StatusCode::OK
    );
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_end_after_the_idle_timeout() -> TestResult {
    let app = TestApp::with_config(|c| {
        c.session_idle = Duration::from_secs(1);
        c.session_absolute = Duration::from_secs(60);
    })
    .await?;
    app.create_user("erin", false).await?;
    let session = app.login("erin", PASSWORD).await?;
    assert_eq!(app.get("/", Some(&session)).await?.status, StatusCode::OK);
    wait(2.2).await;
    assert_eq!(
        app.get("/", Some(&session)).await?.location(),
        Some("/login")
    );
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_end_at_the_absolute_limit_despite_activity() -> TestResult {
    let app = TestApp::with_config(|c| {
        c.session_idle = Duration::from_secs(3);
        c.session_absolute = Duration::from_secs(6);
    })
    .await?;
    app.create_user("frank", false).await?;
    let session = app.login("frank", PASSWORD).await?;
    let signed_in = std::time::Instant::now();
    // Active every 1.5 s: the idle timer (3 s) never fires, well past the idle window ...
    for _ in 0..3 {
        wait(1.5).await;
        // (A machine so loaded that a request starts near the absolute limit proves nothing.)
        if signed_in.elapsed() < Duration::from_millis(5_500) {
            assert_eq!(app.get("/", Some(&session)).await?.status, StatusCode::OK);
        }
    }
    // ... but six seconds after sign-in the session is over.
    let left = Duration::from_millis(6_500).saturating_sub(signed_in.elapsed());
    wait(left.as_secs_f64()).await;
    assert_eq!(
        app.get("/", Some(&session)).await?.location(),
        Some("/login")
    );
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn login_rotates_the_session_id() -> TestResult {
    let app = TestApp::new().await?;
    app.create_user("gina", false).await?;
    let first = app.login("gina", PASSWORD).await?;
    let second = app
        .call(
            "login",
            &[("username", "gina"), ("password", PASSWORD)],
            Some(&first),
        )
        .await?
        .session()
        .ok_or("a new session")?;
    assert_ne!(first, second);
    assert_eq!(
        app.get("/", Some(&first)).await?.location(),
        Some("/login"),
        "the old id is dead"
    );
    assert_eq!(app.get("/", Some(&second)).await?.status, StatusCode::OK);
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_everywhere_ends_every_session() -> TestResult {
    let app = TestApp::new().await?;
    app.create_user("hank", false).await?;
    let a = app.login("hank", PASSWORD).await?;
    let b = app.login("hank", PASSWORD).await?;
    let r = app
        .call("logout", &[("everywhere", "true")], Some(&a))
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(app.get("/", Some(&a)).await?.location(), Some("/login"));
    assert_eq!(app.get("/", Some(&b)).await?.location(), Some("/login"));
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn session_cookie_is_secure_behind_https() -> TestResult {
    // 192.0.2.1 (the harness' peer) is the TLS-terminating proxy.
    let proxy = ipnet::IpNet::from(std::net::IpAddr::from([192, 0, 2, 1]));
    let app = TestApp::with_config(|c| c.trusted_proxies = vec![proxy]).await?;
    app.create_user("ivy", false).await?;
    let req = Request::post("/api/fn/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("x-forwarded-proto", "https")
        .body(Body::from(format!(
            "username=ivy&password={}",
            PASSWORD.replace(' ', "+")
        )))?;
    let reply = app.send_from([192, 0, 2, 1], req).await?;
    let cookie = reply
        .headers
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(cookie.contains("; Secure"), "{cookie}");
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_works_without_javascript() -> TestResult {
    let app = TestApp::new().await?;
    app.create_user("nojs", false).await?;
    let post = |password: &str| {
        Request::post("/api/fn/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "text/html,application/xhtml+xml")
            .header(header::REFERER, "http://kiln.local/login?next=/settings")
            .header("sec-fetch-site", "same-origin")
            .body(Body::from(format!(
                "username=nojs&password={}&next=%2Fsettings",
                password.replace(' ', "+")
            )))
    };
    // A wrong password goes back to the form with a fixed message, not a JSON page.
    let wrong = app
        .send_from([192, 0, 2, 1], post("wrong password")?)
        .await?;
    assert_eq!(wrong.status, StatusCode::FOUND);
    assert_eq!(
        wrong.location(),
        Some("/login?next=/settings&error=login_failed")
    );
    let page = app
        .get("/login?next=/settings&error=login_failed", None)
        .await?;
    assert!(page.body.contains("Wrong username or password."));
    let crafted = app.get("/login?error=call+555-0100", None).await?;
    assert!(
        !crafted.body.contains("555-0100"),
        "only fixed messages are shown"
    );
    // The right one signs in and goes on.
    let ok = app.send_from([192, 0, 2, 1], post(PASSWORD)?).await?;
    assert_eq!(ok.status, StatusCode::FOUND);
    assert_eq!(ok.location(), Some("/settings"));
    assert!(ok.session().is_some());
    app.cleanup().await
}
