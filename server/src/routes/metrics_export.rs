//! A resource history as a download: `GET /containers/{id}/metrics.csv?range=24h` (and
//! `.json`), `GET /nodes/{id}/metrics.csv?member=NAME&range=7d` (and `.json`).
//!
//! The series comes from the metrics backend with the signed-in actor, so the same rules
//! apply as on the pages (a container: its owner or an administrator; a node: its owner;
//! anyone else 404). `range` is one of `1h`, `24h`, `7d`, `30d`, `1y` (default `1h`; anything
//! else 422), `member` a PVE node name (422 otherwise). The request gate has already sent a
//! signed-out browser to `/login`; the handler checks the user again. Refusals are plain
//! text, like the template export (these are download links, not an API).
//!
//! CSV: a header `time,<field>_avg,<field>_min,<field>_max,...` (the series' fields in its
//! order), then one row per slot: its start as RFC 3339 (UTC), and each value, empty where
//! the slot has none. JSON: the `Series` as the server functions answer it.

use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use chrono::{DateTime, SecondsFormat};
use kiln_app::ssr::{RequestCtx, SharedMetrics};
use kiln_shared::AppError;
use kiln_shared::metrics::{Range, Series, Subject, validate_member};
use serde::Deserialize;

use crate::app_state::AppState;
use crate::errors;

/// The export routes, with the metrics backend they ask.
pub fn routes(metrics: SharedMetrics) -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/metrics.csv", get(container_csv))
        .route("/containers/{id}/metrics.json", get(container_json))
        .route("/nodes/{id}/metrics.csv", get(member_csv))
        .route("/nodes/{id}/metrics.json", get(member_json))
        .layer(Extension(metrics))
}

/// The query string.
#[derive(Debug, Deserialize)]
pub struct Params {
    range: Option<String>,
    /// A node's member (node exports only).
    member: Option<String>,
}

/// The file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

/// What the handlers share.
type Ctx = Option<Extension<RequestCtx>>;

async fn container_csv(
    Extension(m): Extension<SharedMetrics>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Response {
    export(m, ctx, container(&id), p, Format::Csv).await
}

async fn container_json(
    Extension(m): Extension<SharedMetrics>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Response {
    export(m, ctx, container(&id), p, Format::Json).await
}

async fn member_csv(
    Extension(m): Extension<SharedMetrics>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Response {
    let subject = member(&id, p.member.as_deref());
    export(m, ctx, subject, p, Format::Csv).await
}

async fn member_json(
    Extension(m): Extension<SharedMetrics>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Response {
    let subject = member(&id, p.member.as_deref());
    export(m, ctx, subject, p, Format::Json).await
}

/// Container `id` of the path (404 when it is not a number).
fn container(id: &str) -> Result<Subject, AppError> {
    id.parse::<i64>()
        .map(Subject::Container)
        .map_err(|_| AppError::NotFound(format!("container {id}")))
}

/// Node `id`'s member `member`.
fn member(id: &str, member: Option<&str>) -> Result<Subject, AppError> {
    let node_id = id
        .parse::<i64>()
        .map_err(|_| AppError::NotFound(format!("node {id}")))?;
    member_of(node_id, member)
}

/// Node `node_id`'s member `member` (422 on `member` when absent or not a node name); also
/// the API's `GET /api/v1/nodes/{id}/metrics`.
pub(crate) fn member_of(node_id: i64, member: Option<&str>) -> Result<Subject, AppError> {
    let member = member.ok_or_else(|| AppError::invalid("member", "name a cluster member"))?;
    validate_member(member).map_err(|m| AppError::invalid("member", m))?;
    Ok(Subject::Member {
        node_id,
        member: member.to_owned(),
    })
}

/// The range `?range=` names: absent or empty is the last hour, anything but `1h`, `24h`,
/// `7d`, `30d`, `1y` is 422 on `range` (also the API's metrics routes).
pub(crate) fn range_of(word: Option<&str>) -> Result<Range, AppError> {
    match word {
        None | Some("") => Ok(Range::default()),
        Some(word) => kiln_app::functions::metrics::range_of(word),
    }
}

async fn export(
    metrics: SharedMetrics,
    ctx: Ctx,
    subject: Result<Subject, AppError>,
    params: Params,
    format: Format,
) -> Response {
    let Some(actor) = ctx.and_then(|Extension(ctx)| ctx.actor()) else {
        return refusal(&AppError::Unauthorized);
    };
    let answer = async {
        let subject = subject?;
        let range = range_of(params.range.as_deref())?;
        let series = metrics.series(&actor, subject.clone(), range).await?;
        Ok::<_, AppError>((subject, series))
    }
    .await;
    let (subject, series) = match answer {
        Ok(found) => found,
        Err(e) => return refusal(&e),
    };
    let stem = file_stem(&subject, series.range);
    let (body, content_type, ext) = match format {
        Format::Csv => (csv(&series), "text/csv; charset=utf-8", "csv"),
        Format::Json => match serde_json::to_string(&series) {
            Ok(json) => (json, "application/json", "json"),
            Err(e) => return refusal(&errors::internal("writing a series as JSON", e)),
        },
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{stem}.{ext}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}

/// `kiln-ct-12-24h`, `kiln-node-3-pve-a-7d` (a member's name is a validated node name).
fn file_stem(subject: &Subject, range: Range) -> String {
    match subject {
        Subject::Container(id) => format!("kiln-ct-{id}-{}", range.as_str()),
        Subject::Member { node_id, member } => {
            format!("kiln-node-{node_id}-{member}-{}", range.as_str())
        }
    }
}

/// The series as CSV (see the module docs).
pub fn csv(series: &Series) -> String {
    let mut out = String::with_capacity(64 + series.len() * (24 + series.lines.len() * 24));
    out.push_str("time");
    for line in &series.lines {
        let name = line.field.as_str();
        out.push_str(&format!(",{name}_avg,{name}_min,{name}_max"));
    }
    out.push('\n');
    let cell = |v: Option<f32>| v.map(|v| v.to_string()).unwrap_or_default();
    for i in 0..series.len() {
        let time = DateTime::from_timestamp(series.time(i), 0)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_default();
        out.push_str(&time);
        for line in &series.lines {
            for values in [&line.avg, &line.min, &line.max] {
                out.push(',');
                out.push_str(&cell(values.get(i).copied().flatten()));
            }
        }
        out.push('\n');
    }
    out
}

/// A refusal as plain text with its status.
fn refusal(err: &AppError) -> Response {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, err.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    use kiln_shared::metrics::{Field, Line};

    use super::*;

    #[test]
    fn csv_has_a_time_column_then_three_per_field_and_empty_gaps() {
        let series = Series {
            range: Range::Hour,
            from: 1_800_000_000,
            step: 10,
            lines: vec![
                Line {
                    field: Field::Cpu,
                    avg: vec![Some(0.25), None],
                    min: vec![Some(0.125), None],
                    max: vec![Some(0.5), None],
                },
                Line {
                    field: Field::Mem,
                    avg: vec![Some(1024.0), None],
                    min: vec![Some(512.0), None],
                    max: vec![Some(2048.0), None],
                },
            ],
        };
        assert_eq!(
            csv(&series),
            "time,cpu_avg,cpu_min,cpu_max,mem_avg,mem_min,mem_max\n\
             2027-01-15T08:00:00Z,0.25,0.125,0.5,1024,512,2048\n\
             2027-01-15T08:00:10Z,,,,,,\n"
        );
    }

    #[test]
    fn file_names_say_what_and_when() {
        assert_eq!(
            file_stem(&Subject::Container(12), Range::Day),
            "kiln-ct-12-24h"
        );
        let member = Subject::Member {
            node_id: 3,
            member: "pve-a".into(),
        };
        assert_eq!(file_stem(&member, Range::Week), "kiln-node-3-pve-a-7d");
        assert!(matches!(
            super::member("3", Some("a/b")),
            Err(AppError::Invalid(_))
        ));
        assert!(matches!(
            super::member("x", Some("a")),
            Err(AppError::NotFound(_))
        ));
    }
}
