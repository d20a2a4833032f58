//! Plain axum endpoints beside the Leptos pages: health checks, the built assets, the no-JS
//! theme switch, the template export download, a container's live progress (SSE).

pub mod assets;
pub mod container_events;
pub mod export;
pub mod health;
pub mod theme;
