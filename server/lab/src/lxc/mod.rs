//! The LXC runtime: the lab's containers are real LXC containers on this machine.

pub mod cmd;
pub mod image;
pub mod names;
