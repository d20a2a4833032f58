//! `GET /templates/{slug}/export.tar.gz`: a template as a folder, packed for download
//! (see `templates::export`); the API's `GET /api/v1/templates/{slug}/export` answers with
//! the same archive (`prepare` and `stream`).
//!
//! The request gate has already sent a signed-out browser to `/login`; the handler checks
//! the user again. The archive is made on the blocking pool and streamed as it is written.

use std::io::{self, BufWriter, Write};

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kiln_app::ssr::RequestCtx;
use kiln_shared::AppError;
use kiln_shared::templates::{Template, validate_slug};
use tokio::sync::mpsc;

use crate::app_state::AppState;
use crate::db::templates as rows;
use crate::errors;
use crate::templates::export::Export;

/// Chunks in flight between the archive writer and the response.
const CHANNEL_CHUNKS: usize = 8;
/// Bytes per chunk sent to the client.
const CHUNK_BYTES: usize = 64 * 1024;

pub async fn template_tar_gz(
    State(state): State<AppState>,
    ctx: Option<Extension<RequestCtx>>,
    Path(slug): Path<String>,
) -> Response {
    if ctx.and_then(|Extension(ctx)| ctx.user).is_none() {
        return refusal(&AppError::Unauthorized);
    }
    match prepare(&state, &slug).await {
        Ok(export) => stream(export),
        Err(e) => refusal(&e),
    }
}

/// Loads the template and writes it out as a folder (also `GET /api/v1/templates/{slug}/export`).
pub(crate) async fn prepare(state: &AppState, slug: &str) -> Result<Export, AppError> {
    validate_slug(slug).map_err(|_| AppError::NotFound("No such template.".into()))?;
    let mut conn = state.conn().await?;
    let row = rows::by_slug(&mut conn, slug)
        .await
        .map_err(|e| errors::db("loading a template", e))?
        .ok_or_else(|| AppError::NotFound("No such template.".into()))?;
    drop(conn);
    let template: Template = serde_json::from_value(row.model)
        .map_err(|e| errors::internal("reading a stored template", e))?;
    tokio::task::spawn_blocking(move || Export::prepare(template))
        .await
        .map_err(|e| errors::internal("exporting a template", e))?
        .map_err(|e| errors::internal("exporting a template", e))
}

/// The response: headers now, the archive as the blocking writer produces it.
pub(crate) fn stream(export: Export) -> Response {
    let disposition = format!("attachment; filename=\"{}\"", export.file_name());
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL_CHUNKS);
    tokio::task::spawn_blocking(move || {
        let mut out = BufWriter::with_capacity(CHUNK_BYTES, ChannelWriter(tx.clone()));
        let written = export.write_tar_gz(&mut out).and_then(|()| out.flush());
        drop(out);
        if let Err(e) = written
            && !tx.is_closed()
        {
            tracing::error!(error = %e, file = %export.file_name(), "writing an export failed");
            let _ = tx.blocking_send(Err(e));
        }
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    (
        [
            (header::CONTENT_TYPE, "application/gzip".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// A refusal as plain text (this is a download link, not an API).
fn refusal(err: &AppError) -> Response {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, err.to_string()).into_response()
}

/// Sends what is written to the response body; fails once the client has gone.
struct ChannelWriter(mpsc::Sender<io::Result<Bytes>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
