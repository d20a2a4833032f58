//! Building blocks shared by the pages.

pub mod confirm;
pub mod copy;
pub mod error;
pub mod form;
pub mod icons;
pub mod layout;
pub mod nav;
pub mod theme;
pub mod toast;
