//! An actor model of scale-out: several hub nodes on a pub/sub backplane (issue 14).
//!
//! N nodes each hold local connections and their groups; a broker stands for Redis (one
//! command at a time, FIFO links, so per-publisher order); clients run short scripts of adds,
//! removes and sends against their node, awaiting each Completion. A node's subscription can
//! drop (a gap) and a node can crash. Node behaviour is a parameter ([`Behaviour`]): refhub's
//! model-faithful default, ASP.NET Core's Redis backplane, and refhub on an unordered
//! backplane. [`Table`] checks every scenario under every behaviour and says which of the
//! properties hold; `docs/src/scaleout-model.md` is generated from it.
//!
//! Module map:
//! - [`scenario`]: the behaviours and the scripted clusters.
//! - [`msg`]: channels, backplane payloads, messages, timers.
//! - [`node`]: a node's state and what it does with invocations and channel messages.
//! - [`actor`]: the broker, the clients, and the stateright `Actor` of all three.
//! - [`history`]: what clients saw, and the single-hub specification beside it.
//! - [`properties`]: the properties over the history.
//! - [`table`]: the model, the checks, and the generated page.

pub mod actor;
pub mod history;
pub mod msg;
pub mod node;
pub mod properties;
pub mod scenario;
pub mod table;

pub use scenario::{large_scenarios, scenarios, Behaviour, Cluster, Fault, Scenario};
pub use table::{check, check_up_to, counterexample, model, Counterexample, Run, Table};
