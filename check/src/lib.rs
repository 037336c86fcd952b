//! hubspec-check: bounded model checking of the specification with stateright.
//!
//! The checked model is the specification itself: its state is `hubspec_model::Hub<Small>` —
//! the same `Hub` and the same `apply` the reference hub serves and the suite compares against,
//! instantiated with small-integer names so a state is a few bytes to clone and hash. Nothing
//! here restates a rule; this crate only chooses a bounded universe, enumerates the operations
//! enabled in a state, and states the invariants to prove.
//!
//! Module map:
//! - [`bounds`]: the bounded universe (connections, users, groups, payloads, buffer, depth).
//! - [`state`]: the checked state (a `Hub<Small>` plus the transition-property verdicts) and
//!   its symmetry reduction over interchangeable connections.
//! - [`actions`]: which operations are enabled in a state.
//! - [`properties`]: the `always` invariants and the `sometimes` reachability witnesses.
//! - [`model`]: the stateright `Model` tying them together.
//! - [`explore`]: a parallel breadth-first explorer for stateright models (stateright's own
//!   checker did not gain from a second thread here).
//! - [`concrete`]: canonical paths mapped back to histories a live server can replay.
//! - [`run`]: running a check and collecting its figures.
//! - [`scaleout`]: an actor model of several hub nodes on a pub/sub backplane, and the table of
//!   which properties hold under which node behaviour.

pub mod actions;
pub mod bounds;
pub mod concrete;
pub mod explore;
pub mod model;
pub mod properties;
pub mod run;
pub mod scaleout;
pub mod state;

pub use bounds::Bounds;
pub use concrete::concretize;
pub use model::HubModel;
pub use run::{check, check_model, CheckOptions, CheckReport, Engine, PropertyVerdict};
pub use state::CheckState;
