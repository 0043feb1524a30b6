//! The alarm manager: tenant-scoped silence, inhibit and group rules applied to the transitions
//! the notification engine routes here (every transition of a tenant that has rules).
//!
//! - [`state`]: the pure state machine (holds, groups, timers) of one partition.
//! - [`sources`]: inhibition sources, shared by every partition through the sources topic, and
//!   how complete they are in record time.
//! - [`notice`]: a grouped notification as the transition plugins send.
//! - [`persist`]: the state's rows in the config database, per partition.
//! - [`engine`]: the consumer of the filtered-transitions topic that drives the three.
//! - `config`: the `[alarm_manager]` section.
//!
//! Rules themselves (parsing, matching, storage, the live index) are in `crate::rules`.

mod config;
pub mod engine;
pub mod notice;
pub mod persist;
pub mod sources;
pub mod state;

#[cfg(test)]
mod tests;

pub use config::ManagerConfig;
pub use engine::{ManagerEngine, ManagerHandler};
pub use state::{Effect, ManagerState};
