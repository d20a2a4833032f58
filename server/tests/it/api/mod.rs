//! The REST API (`/api/v1`): tokens, the error shape, the document, and each domain's routes.

mod alerts;
mod buckets;
mod containers;
mod jobs;
mod metrics;
mod node_choices;
mod nodes;
mod openapi;
mod templates;
mod tokens;

use axum::body::Body;
use axum::http::{Method, Request, header};
use kiln_server::auth::api_tokens::ApiTokens;
use kiln_shared::api_tokens::TokenInput;
use kiln_shared::auth::{Actor, CurrentUser};
use serde_json::Value;

use crate::harness::{Reply, TestApp};

type R<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The user `name` as an actor (for calling services directly).
pub(crate) async fn actor(app: &TestApp, name: &str) -> R<Actor> {
    let mut conn = app.state.db.get().await?;
    let row = kiln_server::db::users::by_username(&mut conn, name)
        .await?
        .ok_or("no such user")?;
    Ok(Actor::user(&CurrentUser::from(&row), "127.0.0.1"))
}

/// A new user `name` (admin or not) and a full token of theirs.
pub(crate) async fn user_with_token(app: &TestApp, name: &str, admin: bool) -> R<String> {
    app.create_user(name, admin).await?;
    token_of(app, name, "test", false).await
}

/// A new token of user `name`.
pub(crate) async fn token_of(app: &TestApp, name: &str, token: &str, read_only: bool) -> R<String> {
    let actor = actor(app, name).await?;
    let created = ApiTokens::new(app.state.clone())
        .create(
            &actor,
            &TokenInput {
                name: token.into(),
                read_only,
                expires_in_days: None,
            },
        )
        .await?;
    Ok(created.secret)
}

/// Calls the API: `method path` with the bearer `token` and a JSON `body`.
pub(crate) async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> R<Reply> {
    call_with(app, method, path, token, body, &[]).await
}

/// [`call`] with extra headers.
pub(crate) async fn call_with(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> R<Reply> {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = match body {
        Some(body) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(body)?))?,
        None => req.body(Body::empty())?,
    };
    app.send_from([192, 0, 2, 1], req).await
}

/// The reply's JSON body.
pub(crate) fn json(reply: &Reply) -> R<Value> {
    serde_json::from_str(&reply.body).map_err(|e| format!("not JSON ({e}): {}", reply.body).into())
}

/// Asserts the reply is an API error of `status` and `kind`; returns its body.
pub(crate) fn expect_error(reply: &Reply, status: u16, kind: &str) -> R<Value> {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
    let body = json(reply)?;
    assert_eq!(body["error"]["kind"], kind, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    Ok(body)
}
