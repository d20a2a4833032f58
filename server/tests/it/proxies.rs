//! Behind a reverse proxy: `X-Forwarded-For` / `Forwarded` / `X-Forwarded-Proto` count only
//! from a peer in `trusted_proxies` — for the audited address, the sign-in limit's address key,
//! and the session cookie's `Secure` (then named `__Host-kiln_session`).

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use kiln_server::db;

use crate::harness::{PASSWORD, Reply, TestApp, TestResult};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A form-encoded sign-in with extra headers.
fn login_request(
    username: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> Result<Request<Body>, BoxError> {
    let mut req = Request::post("/api/fn/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .header("sec-fetch-site", "same-origin");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    Ok(req.body(Body::from(format!(
        "username={username}&password={}",
        password.replace(' ', "+")
    )))?)
}

/// The source address of the newest audit row.
async fn last_audited_address(app: &TestApp) -> Result<Option<String>, BoxError> {
    let mut conn = app.state.db.get().await?;
    let rows = db::audit::recent(&mut conn, 1).await?;
    Ok(rows.into_iter().next().and_then(|r| r.source_ip))
}

fn set_cookie(reply: &Reply) -> String {
    reply
        .headers
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() -> TestResult {
    let app = TestApp::with_config(|c| c.login_max_failures = 2).await?;
    for name in ["spoof1", "spoof2", "spoof3"] {
        app.create_user(name, false).await?;
    }
    let spoofed = [
        ("x-forwarded-for", "203.0.113.1"),
        ("forwarded", "for=203.0.113.2;proto=https"),
        ("x-forwarded-proto", "https"),
    ];
    // Two wrong passwords (two users) from 192.0.2.1, each claiming another address.
    for (name, xff) in [("spoof1", "203.0.113.1"), ("spoof2", "203.0.113.9")] {
        let mut headers = spoofed.to_vec();
        headers[0].1 = xff;
        let reply = app
            .send_from(
                [192, 0, 2, 1],
                login_request(name, "wrong password!", &headers)?,
            )
            .await?;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
        assert_eq!(
            last_audited_address(&app).await?.as_deref(),
            Some("192.0.2.1")
        );
    }
    // The address limit counted both against the real peer: a third user is refused too.
    let reply = app
        .send_from(
            [192, 0, 2, 1],
            login_request("spoof3", PASSWORD, &[("x-forwarded-for", "203.0.113.77")])?,
        )
        .await?;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );

    // `X-Forwarded-Proto: https` from anyone does not make the cookie Secure.
    let reply = app
        .send_from([192, 0, 2, 2], login_request("spoof3", PASSWORD, &spoofed)?)
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let cookie = set_cookie(&reply);
    assert!(cookie.starts_with("kiln_session="), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trusted_proxy_names_the_client() -> TestResult {
    let app = TestApp::with_config(|c| {
        c.login_max_failures = 2;
        c.trusted_proxies = ["10.0.0.0/8", "2001:db8::/32"]
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
    })
    .await?;
    for name in ["via1", "via2", "via3"] {
        app.create_user(name, false).await?;
    }
    // Through the proxy 10.0.0.1: the client forged an entry, the proxy appended the real one.
    for (name, client) in [("via1", "198.51.100.1"), ("via2", "198.51.100.2")] {
        let xff = format!("6.6.6.6, {client}");
        let reply = app
            .send_from(
                [10, 0, 0, 1],
                login_request(name, "wrong password!", &[("x-forwarded-for", &xff)])?,
            )
            .await?;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
        assert_eq!(last_audited_address(&app).await?.as_deref(), Some(client));
    }
    // Each client has its own address key: a third client is not limited.
    let reply = app
        .send_from(
            [10, 0, 0, 1],
            login_request(
                "via3",
                "wrong password!",
                &[("forwarded", "for=198.51.100.3")],
            )?,
        )
        .await?;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    assert_eq!(
        last_audited_address(&app).await?.as_deref(),
        Some("198.51.100.3")
    );
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_https_the_session_cookie_is_host_prefixed() -> TestResult {
    let proxy: ipnet::IpNet = "10.0.0.1/32".parse()?;
    let app = TestApp::with_config(move |c| c.trusted_proxies = vec![proxy]).await?;
    app.create_user("tls", false).await?;
    let https = [
        ("x-forwarded-for", "198.51.100.20"),
        ("x-forwarded-proto", "https"),
    ];
    let reply = app
        .send_from([10, 0, 0, 1], login_request("tls", PASSWORD, &https)?)
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let cookie = set_cookie(&reply);
    assert!(cookie.starts_with("__Host-kiln_session="), "{cookie}");
    assert!(cookie.contains("; Path=/;"), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(!cookie.to_ascii_lowercase().contains("domain"), "{cookie}");
    let id = reply.session().ok_or("no session cookie")?;

    let page = |cookie: String, via_https: bool| -> Result<Request<Body>, BoxError> {
        let mut req = Request::get("/settings").header(header::COOKIE, cookie);
        if via_https {
            req = req.header("x-forwarded-proto", "https");
        }
        Ok(req.body(Body::empty())?)
    };
    // Over HTTPS the __Host- cookie signs in; the plain name is not read there.
    let ok = app
        .send_from(
            [10, 0, 0, 1],
            page(format!("__Host-kiln_session={id}"), true)?,
        )
        .await?;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let plain = app
        .send_from([10, 0, 0, 1], page(format!("kiln_session={id}"), true)?)
        .await?;
    assert_eq!(plain.location(), Some("/login?next=/settings"));
    // Over plain HTTP only `kiln_session` is read.
    let http = app
        .send_from(
            [10, 0, 0, 1],
            page(format!("__Host-kiln_session={id}"), false)?,
        )
        .await?;
    assert_eq!(http.location(), Some("/login?next=/settings"));

    // Signing out clears the same name.
    let mut out = Request::post("/api/fn/logout")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .header("sec-fetch-site", "same-origin")
        .header(header::COOKIE, format!("__Host-kiln_session={id}"));
    for (name, value) in https {
        out = out.header(name, value);
    }
    let reply = app
        .send_from([10, 0, 0, 1], out.body(Body::empty())?)
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let cleared = set_cookie(&reply);
    assert!(
        cleared.starts_with("__Host-kiln_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    app.cleanup().await
}
