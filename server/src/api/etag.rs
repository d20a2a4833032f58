//! `ETag` and `If-Match`: a resource's version is a digest of what `GET` answers for it; a
//! write that can race sends the version it read in `If-Match` and gets 412 when the
//! resource changed since (no `If-Match`: the write goes ahead).

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiError;

/// The entity tag of `value` (a strong tag: the first 16 bytes of its JSON's SHA-256).
pub fn of(value: &impl Serialize) -> String {
    let json = serde_json::to_vec(value).unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, &json);
    format!("\"{}\"", hex::encode(&digest.as_ref()[..16]))
}

/// 412 when the request's `If-Match` names none of `current` (or `*` while it exists).
pub fn check_if_match(headers: &HeaderMap, current: &str) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let matches = value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == current);
    if matches {
        Ok(())
    } else {
        Err(ApiError::PreconditionFailed(
            "The resource changed since you read it (If-Match): read it again and retry.".into(),
        ))
    }
}

/// `value` as JSON with its `ETag`.
pub fn json_with_etag<T: Serialize>(value: &T) -> Response {
    let tag = of(value);
    let mut response = axum::Json(value).into_response();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_compares_versions() {
        let tag = of(&serde_json::json!({"status": "running"}));
        let mut headers = HeaderMap::new();
        assert!(check_if_match(&headers, &tag).is_ok());
        headers.insert(
            header::IF_MATCH,
            HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("x")),
        );
        assert!(check_if_match(&headers, &tag).is_ok());
        let other = of(&serde_json::json!({"status": "stopped"}));
        assert!(check_if_match(&headers, &other).is_err());
        headers.insert(header::IF_MATCH, HeaderValue::from_static("*"));
        assert!(check_if_match(&headers, &other).is_ok());
    }
}
