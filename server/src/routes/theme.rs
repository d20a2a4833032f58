//! `POST /theme`: flips the theme cookie and goes back (the switch, without JavaScript).

use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use kiln_shared::theme::{THEME_COOKIE, Theme};

use crate::auth::middleware::cookie;

pub async fn toggle(headers: HeaderMap) -> Response {
    let current = cookie(&headers, THEME_COOKIE).and_then(|v| Theme::parse(&v));
    let next = current.map_or(Theme::Dark, Theme::toggled);
    // Only go back to a page of this site.
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.split_once("://").map(|(_, rest)| rest))
        .and_then(|rest| rest.find('/').map(|i| rest[i..].to_owned()))
        .filter(|p| p.starts_with('/') && !p.starts_with("//"))
        .unwrap_or_else(|| "/".into());
    (
        [(
            header::SET_COOKIE,
            format!(
                "{THEME_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
                next.as_str()
            ),
        )],
        Redirect::to(&back),
    )
        .into_response()
}
