//! hubspec-model: the executable specification of SignalR hub *group* semantics.
//!
//! Pure and deterministic: no I/O, no async, no clock, no randomness, ordered collections only.
//! Everything else in hubspec (the reference hub, the harness, the suite, the model checker,
//! the docs) depends on this crate and on nothing it does not say.
//!
//! Module map:
//! - [`names`]: the two vocabularies the one spec is written over ([`Text`] for transcripts
//!   and servers, [`Small`] for the model checker).
//! - [`sets`]: how each vocabulary stores a connection's groups and kept messages.
//! - [`ids`]: connection ids and targets (issued, closed, unknown).
//! - [`profile`]: profiles (`core`, `core-stateful`, `classic`) and variants (`groups_fanout`).
//! - [`op`]: operations and send selectors.
//! - [`outcome`]: results, error kinds and deliveries of an operation.
//! - [`hub`]: the state and the semantics of every operation — the specification proper.
//! - [`transcript`]: histories with outcomes, in the stable text form everything prints.
//! - [`rules`]: the rules catalog, one stable ID per rule.
//! - [`scenarios`]: for each rule, a short history that shows it.
//! - [`error`]: the crate's error type (an operation whose precondition does not hold).

pub mod error;
pub mod hub;
pub mod ids;
pub mod names;
pub mod op;
pub mod outcome;
pub mod profile;
pub mod rules;
pub mod scenarios;
pub mod sets;
pub mod transcript;

pub use error::ModelError;
pub use hub::{Conn, Hub, Status};
pub use ids::{ConnId, Target};
pub use names::{Name, Names, Small, Text};
pub use op::{is_exclusive, needs, MembershipChange, Op, Selector};
pub use outcome::{Delivery, ErrorKind, Mode, OpResult, Outcome, Sink};
pub use profile::{GroupsFanout, Profile, Spec};
pub use rules::{rule, Area, Capability, Rule, RULES};
pub use scenarios::{scenarios, Scenario};
pub use sets::{GroupSet, Queue};
pub use transcript::{format_op, Step, Transcript};
