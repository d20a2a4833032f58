//! The monitor: polls every node on an interval, stores the samples as tiered history in
//! PostgreSQL, keeps each node's reachability, and publishes what it saw ([`Observation`]).

pub mod no_history;
pub mod observation;

pub use observation::{GuestKind, GuestSeen, MemberSeen, Observation, Observations, Seen};
