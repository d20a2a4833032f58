//! Plain axum endpoints beside the Leptos pages: health checks, the built assets, the no-JS
//! theme switch.

pub mod assets;
pub mod health;
pub mod theme;
