//! Plain axum endpoints beside the Leptos pages: health checks, the built assets, the no-JS
//! theme switch, the template export download, a container's live progress (SSE), a
//! resource history's CSV/JSON export.

pub mod assets;
pub mod container_events;
pub mod export;
pub mod health;
pub mod metrics_export;
pub mod theme;
