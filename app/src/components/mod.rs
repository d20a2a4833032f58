//! Building blocks shared by the pages.

pub mod badges;
pub mod call;
pub mod chart;
pub mod confirm;
pub mod copy;
#[cfg(feature = "hydrate")]
pub mod dom;
pub mod error;
pub mod form;
pub mod format;
pub mod icons;
pub mod layout;
pub mod nav;
pub mod post_forms;
pub mod route;
pub mod theme;
pub mod toast;
