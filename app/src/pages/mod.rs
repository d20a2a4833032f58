//! One module per route.

mod auth;
mod dashboard;
mod empty;
mod settings;

pub use crate::components::error::NotFoundPage;
pub use auth::{LoginPage, SetupPage};
pub use dashboard::DashboardPage;
pub use empty::{ContainersPage, NodesPage, PackagesPage, TemplatesPage};
pub use settings::SettingsPage;
