//! Evaluating a configuration for one packet: ISC expressions ([`expr`]), statements run into
//! an option state ([`exec`], [`state`]). Pure: everything comes from the packet, the
//! configuration, the lease and `now`.

pub mod exec;
pub mod expr;
pub mod state;

pub use exec::{Effects, ExecCall};
pub use expr::{Bindings, Env, Val, packet_option};
pub use state::{OptionState, Sv};
