//! One module per route.

mod alerts;
mod auth;
pub mod container;
mod container_new;
mod containers;
mod node;
mod node_ssh;
mod nodes;
mod packages;
mod settings;
mod template_detail;
mod template_edit;
mod templates;

pub use crate::components::error::NotFoundPage;
pub use alerts::{AlertSettingsPage, AlertsPage};
pub use auth::{LoginPage, SetupPage};
pub use container::ContainerPage;
pub use container_new::ContainerNewPage;
pub use containers::{ContainersPage, DashboardPage};
pub use node::NodePage;
pub use node_ssh::NodeSshPage;
pub use nodes::{NodeEditPage, NodeNewPage, NodesPage};
pub use packages::PackagesPage;
pub use settings::SettingsPage;
pub use template_detail::TemplatePage;
pub use template_edit::{TemplateEditPage, TemplateNewPage};
pub use templates::TemplatesPage;
