//! PVE's answer envelope. Success: `{"data": ...}` (some lists add `total`). Parameter
//! errors: 400, reason phrase `Parameter verification failed.`, body
//! `{"data":null,"errors":{param: message}}`. Every other failure: the message in the HTTP
//! reason phrase (via hyper's `ReasonPhrase` extension) and `{"data":null}`.
//!
//! [`ApiError`] is the lab's one error type between handlers and the wire.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};

/// A failed API call, as PVE reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// 400 `Parameter verification failed.` with one message per parameter.
    Params(BTreeMap<String, String>),
    /// Any other status with its message (shown as the reason phrase).
    Status(u16, String),
}

impl ApiError {
    /// One parameter error.
    pub fn param(name: &str, message: impl Into<String>) -> ApiError {
        ApiError::Params(BTreeMap::from([(name.to_owned(), message.into())]))
    }
    /// 500 with `message`: how PVE reports most refused operations (`die`).
    pub fn fail(message: impl Into<String>) -> ApiError {
        ApiError::Status(500, message.into())
    }
    /// 401 with `message`.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::Status(401, message.into())
    }
    /// 403 `Permission check failed (path, priv)`.
    pub fn forbidden(path: &str, privilege: &str) -> ApiError {
        ApiError::Status(
            403,
            format!("Permission check failed ({path}, {privilege})"),
        )
    }
    /// The text a task would end with.
    pub fn message(&self) -> String {
        match self {
            ApiError::Params(errors) => errors
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("; "),
            ApiError::Status(_, message) => message.clone(),
        }
    }
}

/// A handler's result: the `data` value, plus extra top-level fields (`total`).
pub type ApiResult = Result<Data, ApiError>;

/// The successful payload of a call.
#[derive(Debug, Clone)]
pub struct Data {
    /// Goes under `data`.
    pub data: Value,
    /// Extra top-level fields, e.g. `total` for task logs.
    pub extra: Vec<(&'static str, Value)>,
}

impl From<Value> for Data {
    fn from(data: Value) -> Data {
        Data {
            data,
            extra: Vec::new(),
        }
    }
}

/// `Ok({"data": value})`.
pub fn ok(value: Value) -> ApiResult {
    Ok(value.into())
}

/// Builds the HTTP response for a call's outcome.
pub fn respond(result: ApiResult) -> Response<Body> {
    match result {
        Ok(payload) => {
            let mut body = json!({ "data": payload.data });
            if let Value::Object(map) = &mut body {
                for (k, v) in payload.extra {
                    map.insert(k.to_owned(), v);
                }
            }
            build(StatusCode::OK, None, &body)
        }
        Err(ApiError::Params(errors)) => build(
            StatusCode::BAD_REQUEST,
            Some("Parameter verification failed.".to_owned()),
            &json!({ "data": null, "errors": errors }),
        ),
        Err(ApiError::Status(code, message)) => build(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Some(message),
            &json!({ "data": null }),
        ),
    }
}

fn build(status: StatusCode, reason: Option<String>, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    if let Some(reason) = reason {
        // A reason phrase may not hold CR/LF or other control bytes; PVE keeps only the
        // first line too.
        let line: String = reason
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(line.into_bytes()) {
            response.extensions_mut().insert(phrase);
        }
    }
    response
}
