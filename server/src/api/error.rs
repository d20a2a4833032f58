//! The API's one error shape: `{"error": {"kind", "message", "fields"}}`, with the status of
//! its kind, `Retry-After` on 429 and `WWW-Authenticate: Bearer` on 401.
//!
//! Every handler returns `Result<_, ApiError>`; a service's [`AppError`] converts with `?`,
//! and the extractors' rejections ([`super::extract`]) become `bad_request` (400) or, for a
//! body whose fields do not fit, `invalid` (422) — never axum's plain-text answers.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kiln_shared::AppError;
use serde::{Deserialize, Serialize};

/// An API error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// A service's answer (401, 403, 404, 409, 422, 429, 503, 500).
    App(AppError),
    /// The request itself is malformed: unreadable JSON, a bad path or query (400).
    BadRequest(String),
    /// `If-Match` names another version than the current one (412).
    PreconditionFailed(String),
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// One of `unauthorized`, `forbidden`, `not_found`, `conflict`, `invalid`,
    /// `rate_limited`, `unavailable`, `internal`, `bad_request`, `precondition_failed`.
    pub kind: String,
    /// A sentence for a person.
    pub message: String,
    /// For `invalid`: the message per field (`_form`: the request as a whole).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// For `rate_limited`: seconds until a new request may succeed (also `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::App(e) => {
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
        }
    }

    /// The body.
    pub fn body(&self) -> ErrorBody {
        let (kind, fields, retry_after_secs) = match self {
            ApiError::App(e) => {
                let kind = match e {
                    AppError::Unauthorized | AppError::LoginFailed => "unauthorized",
                    AppError::Forbidden(_) => "forbidden",
                    AppError::NotFound(_) => "not_found",
                    AppError::Conflict(_) => "conflict",
                    AppError::Invalid(_) => "invalid",
                    AppError::RateLimited { .. } => "rate_limited",
                    AppError::Unavailable(_) => "unavailable",
                    AppError::Internal | AppError::Transport(_) => "internal",
                };
                let fields = match e {
                    AppError::Invalid(errors) => errors
                        .iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect(),
                    _ => BTreeMap::new(),
                };
                let retry = match e {
                    AppError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
                    _ => None,
                };
                (kind, fields, retry)
            }
            ApiError::BadRequest(_) => ("bad_request", BTreeMap::new(), None),
            ApiError::PreconditionFailed(_) => ("precondition_failed", BTreeMap::new(), None),
        };
        let message = match self {
            ApiError::App(AppError::Unauthorized) => {
                "A valid API token is required: send `Authorization: Bearer <token>` (create one in Settings → API tokens)."
                    .to_owned()
            }
            ApiError::App(AppError::Transport(_)) => AppError::Internal.to_string(),
            ApiError::App(e) => e.to_string(),
            ApiError::BadRequest(m) | ApiError::PreconditionFailed(m) => m.clone(),
        };
        ErrorBody {
            error: ErrorDetail {
                kind: kind.to_owned(),
                message,
                fields,
                retry_after_secs,
            },
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::App(AppError::NotFound(what.into()))
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError::App(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut response = (self.status(), Json(&body)).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = body.error.retry_after_secs
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            headers.insert(header::RETRY_AFTER, value);
        }
        if matches!(
            self,
            ApiError::App(AppError::Unauthorized | AppError::LoginFailed)
        ) {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"kiln\""),
            );
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            // Well-formed JSON whose fields do not fit the request: the field is named.
            JsonRejection::JsonDataError(e) => {
                let detail = e.body_text();
                ApiError::App(AppError::invalid(&json_field(&detail), detail))
            }
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

/// The field a body's deserialization error is about (`scripts[0].name`, or the field a
/// `missing field` names), else `_form`.
fn json_field(detail: &str) -> String {
    let rest = detail
        .split_once("target type: ")
        .map_or(detail, |(_, rest)| rest);
    if let Some((path, _)) = rest.split_once(": ")
        && !path.is_empty()
        && path != "."
        && !path.contains(' ')
    {
        return path.to_owned();
    }
    rest.split_once("missing field `")
        .and_then(|(_, tail)| tail.split_once('`'))
        .map_or_else(
            || kiln_shared::FieldErrors::FORM.to_owned(),
            |(f, _)| f.to_owned(),
        )
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_names_its_fields_and_limits_say_when() {
        let mut fields = kiln_shared::FieldErrors::default();
        fields.add("hostname", "Too long.");
        let body = ApiError::from(AppError::Invalid(fields)).body();
        assert_eq!(body.error.kind, "invalid");
        assert_eq!(
            body.error.fields.get("hostname").map(String::as_str),
            Some("Too long.")
        );
        let limited = ApiError::from(AppError::RateLimited {
            retry_after_secs: 7,
        });
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.body().error.retry_after_secs, Some(7));
        assert_eq!(
            json_field(
                "Failed to deserialize the JSON body into the target type: cores: invalid type: string \"x\", expected u32 at line 1 column 12"
            ),
            "cores"
        );
        assert_eq!(
            json_field(
                "Failed to deserialize the JSON body into the target type: missing field `node_id` at line 1 column 2"
            ),
            "node_id"
        );
        let internal = ApiError::from(AppError::Transport("secret detail".into())).body();
        assert!(!internal.error.message.contains("secret"));
    }
}
