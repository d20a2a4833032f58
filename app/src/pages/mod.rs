//! One module per route.

mod auth;
mod dashboard;
mod empty;
mod node_ssh;
mod nodes;
mod settings;

pub use crate::components::error::NotFoundPage;
pub use auth::{LoginPage, SetupPage};
pub use dashboard::DashboardPage;
pub use empty::{ContainersPage, PackagesPage, TemplatesPage};
pub use node_ssh::NodeSshPage;
pub use nodes::{NodeEditPage, NodeNewPage, NodesPage};
pub use settings::SettingsPage;
