//! Plain axum endpoints beside the Leptos pages: health checks, the built assets, the no-JS
//! theme switch, the template export download.

pub mod assets;
pub mod export;
pub mod health;
pub mod theme;
