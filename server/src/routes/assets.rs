//! The browser assets (WASM, JS, CSS) built by Trunk, embedded into the release binary and
//! served under `/pkg/` with long-lived cache headers (their names carry a content hash).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kiln_app::Assets;
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "$KILN_SITE_DIR"]
struct Site;

/// The asset names found at build time (see `build.rs`).
pub fn built_assets() -> Assets {
    let url = |name: &str| (!name.is_empty()).then(|| format!("/pkg/{name}"));
    Assets {
        js: url(env!("KILN_ASSET_JS")),
        wasm: url(env!("KILN_ASSET_WASM")),
        css: url(env!("KILN_ASSET_CSS")),
    }
}

pub async fn serve(Path(path): Path<String>) -> Response {
    let Some(file) = Site::get(&path) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let mime = file.metadata.mimetype().to_owned();
    (
        [
            (header::CONTENT_TYPE, mime),
            (
                header::CACHE_CONTROL,
                "public, max-age=31536000, immutable".to_owned(),
            ),
        ],
        file.data,
    )
        .into_response()
}
