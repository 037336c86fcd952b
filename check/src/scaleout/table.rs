//! Checking every scenario under every behaviour, and the table of which property holds
//! under which behaviour (the generated page `docs/src/scaleout-model.md`).

use super::actor::{Part, PartState, ScaleoutActor};
use super::history::{self, Event, History};
use super::properties::{self, ClusterModel, ClusterState, PROPERTIES, QUIESCENCE};
use super::scenario::{scenarios, Behaviour, Cluster, Scenario};
use hubspec_model::transcript::small_to_text;
use hubspec_model::ConnId;
use stateright::actor::{ActorModel, Network};
use stateright::{Checker, Expectation, Model};
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The actor model of one cluster: a broker, the nodes, the clients, on FIFO links (Redis
/// keeps per-publisher order, reference/scaleout.md §1.5); at most one node crash, no
/// restart.
pub fn model(cluster: Cluster) -> ClusterModel {
    let s = &cluster.scenario;
    let shared = Arc::new(cluster.clone());
    let actor = |part| ScaleoutActor {
        part,
        cluster: Arc::clone(&shared),
    };
    let mut actors = vec![actor(Part::Broker)];
    actors.extend((0..s.nodes).map(|n| actor(Part::Node(n))));
    actors.extend((1..=s.clients.len() as u32).map(|c| actor(Part::Client(ConnId(c)))));
    let crashes = usize::from(s.crashes);
    let history = History::new(s.clients.len() as u8, &s.members);
    let mut m = ActorModel::new(cluster, history)
        .actors(actors)
        .init_network(Network::new_ordered([]))
        .max_crashes(crashes)
        .record_msg_out(history::record)
        .within_boundary(within);
    for (name, condition) in PROPERTIES {
        m = m.property(Expectation::Always, name, condition);
    }
    m.property(Expectation::Sometimes, QUIESCENCE, properties::quiescence)
}

/// Only nodes crash, and a crashed node stays down.
fn within(cluster: &Cluster, state: &ClusterState) -> bool {
    let nodes = cluster.scenario.nodes as usize;
    state.crashed.iter().enumerate().all(|(i, &crashed)| {
        let node = (1..=nodes).contains(&i);
        (node || !crashed) && !matches!(&*state.actor_states[i], PartState::Node(n) if n.restarted)
    })
}

/// The outcome of checking one scenario under one behaviour.
#[derive(Clone, Debug)]
pub struct Run {
    pub scenario: &'static str,
    pub behaviour: Behaviour,
    /// Distinct states explored.
    pub states: usize,
    /// The properties with a counterexample, in table order.
    pub failed: Vec<&'static str>,
    /// Whether some run ended with every script finished.
    pub quiescent: bool,
    /// Whether every reachable state was explored (a capped check may stop first).
    pub complete: bool,
    pub elapsed: Duration,
}

/// Check `cluster` exhaustively (breadth first, one thread: these graphs are small).
pub fn check(cluster: Cluster) -> Run {
    check_up_to(cluster, None)
}

/// Check `cluster` breadth first, stopping after about `cap` states if given (the larger
/// clusters of the benchmark: their histories make states a few KB each).
pub fn check_up_to(cluster: Cluster, cap: Option<usize>) -> Run {
    let scenario = cluster.scenario.name;
    let behaviour = cluster.behaviour;
    let start = Instant::now();
    let mut builder = model(cluster).checker();
    if let Some(cap) = cap {
        builder = builder.target_state_count(cap);
    }
    let checker = builder.spawn_bfs().join();
    let failed = PROPERTIES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| checker.discovery(name).is_some())
        .collect();
    Run {
        scenario,
        behaviour,
        states: checker.unique_state_count(),
        failed,
        quiescent: checker.discovery(QUIESCENCE).is_some(),
        complete: cap.is_none_or(|cap| checker.state_count() < cap),
        elapsed: start.elapsed(),
    }
}

/// A path to a state that breaks a property.
#[derive(Clone, Debug)]
pub struct Counterexample {
    /// The steps, as stateright prints them (a message line is its delivery).
    pub actions: Vec<String>,
    /// The history of the last state: what the clients saw, in the order it was written.
    pub log: Vec<Event>,
}

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "steps:")?;
        for a in &self.actions {
            writeln!(f, "  {a}")?;
        }
        writeln!(f, "written:")?;
        for e in &self.log {
            writeln!(f, "  {e:?}")?;
        }
        Ok(())
    }
}

/// A counterexample of `property` in `cluster`, if any (the shortest: breadth first).
pub fn counterexample(cluster: Cluster, property: &'static str) -> Option<Counterexample> {
    let model = model(cluster);
    let checker = model.clone().checker().spawn_bfs().join();
    let path = checker.discovery(property)?;
    let log = path.last_state().history.log.clone();
    let actions = path
        .into_actions()
        .iter()
        .map(|a| model.format_action(a))
        .collect();
    Some(Counterexample { actions, log })
}

/// Every scenario under every behaviour.
pub struct Table {
    pub runs: Vec<Run>,
}

impl Table {
    /// Check every scenario of the table under every behaviour.
    pub fn check() -> Self {
        Self::check_these(scenarios())
    }

    /// Check `scenarios` under every behaviour.
    pub fn check_these(scenarios: Vec<Scenario>) -> Self {
        let mut runs = Vec::new();
        for behaviour in Behaviour::ALL {
            for scenario in scenarios.clone() {
                runs.push(check(Cluster::new(behaviour, scenario)));
            }
        }
        Table { runs }
    }

    /// The scenarios in which `property` has a counterexample under `behaviour`.
    pub fn counterexamples(&self, behaviour: Behaviour, property: &str) -> Vec<&'static str> {
        self.runs
            .iter()
            .filter(|r| r.behaviour == behaviour && r.failed.contains(&property))
            .map(|r| r.scenario)
            .collect()
    }

    /// The generated page `docs/src/scaleout-model.md`.
    pub fn page(&self) -> String {
        let mut p = String::new();
        p.push_str(PAGE_HEAD);
        p.push_str("| property |");
        for b in Behaviour::ALL {
            let _ = write!(p, " {} |", b.name());
        }
        p.push_str("\n|---|");
        for _ in Behaviour::ALL {
            p.push_str("---|");
        }
        p.push('\n');
        for (name, _) in PROPERTIES {
            let _ = write!(p, "| {name} |");
            for b in Behaviour::ALL {
                let found = self.counterexamples(b, name);
                if found.is_empty() {
                    p.push_str(" holds |");
                } else {
                    let _ = write!(p, " **counterexample**: {} |", found.join("; "));
                }
            }
            p.push('\n');
        }
        p.push_str(SCENARIOS_HEAD);
        for s in scenarios() {
            let _ = write!(p, "| {} |", s.name);
            for (k, (node, ops)) in s.clients.iter().enumerate() {
                let me = format!("c{}: ", k + 1);
                let ops: Vec<String> = ops
                    .iter()
                    .map(|op| {
                        let text = hubspec_model::format_op(&small_to_text(op));
                        text.strip_prefix(&me).unwrap_or(&text).to_string()
                    })
                    .collect();
                let _ = write!(
                    p,
                    "{}c{}@{}: {}",
                    if k == 0 { " " } else { "<br>" },
                    k + 1,
                    (b'A' + node) as char,
                    if ops.is_empty() {
                        "—".to_string()
                    } else {
                        ops.join(", ")
                    }
                );
            }
            let members: Vec<String> = s
                .members
                .iter()
                .map(|(c, g)| format!("{c} in \"g{g}\""))
                .collect();
            let _ = writeln!(
                p,
                " | {} | {} | {} |",
                if members.is_empty() {
                    "—".to_string()
                } else {
                    members.join(", ")
                },
                if s.gaps { "one" } else { "none" },
                if s.crashes { "one" } else { "none" }
            );
        }
        p.push_str(PAGE_TAIL);
        p
    }
}

const PAGE_HEAD: &str = "# The scale-out model

<!-- Generated by `cargo run -p hubspec-check --example scaleout -- --write-docs` from
check/src/scaleout/; check/tests/scaleout.rs fails when this page is not what the checker
says. Do not edit by hand. -->

Which single-hub properties survive when one hub runs as several nodes on a pub/sub backplane?
`hubspec-check`'s actor model (`check/src/scaleout/`, stateright's actor framework) answers it
for three node behaviours, exhaustively over every interleaving of a few small clusters:

- **refhub default** (model-faithful): an add or remove of an id no node holds completes at
  once as a no-op (the publication reports no subscriber of the id's channel); a group send's
  Completion comes only after the node's own publication came back and was written to its local
  members; a lost backplane subscription closes every local client with `allowReconnect: true`;
  an ack that does not come although the id had a subscriber (its node crashed) fails the
  invocation after a timeout.
- **ASP.NET-compatible**: ASP.NET Core's Redis backplane as read from its source
  (`src/SignalR/server/StackExchangeRedis/src/RedisHubLifetimeManager.cs` and
  `Internal/AckHandler.cs` in dotnet/aspnetcore): a remote add or remove waits for
  an ack an unknown id never sends (the ~30 s timeout, which fails the invocation); a send to a
  local connection is written directly, a group send completes once published; the
  per-connection group set is case-insensitive (`StringComparer.OrdinalIgnoreCase`) while
  subscriptions are ordinal; each channel has its own queue; after a lost subscription the node
  resubscribes and carries on.
- **unordered backplane**: refhub's node behaviour on a backplane that does not keep
  per-publisher order.

The broker is Redis: it runs one command at a time and keeps each publisher's order on FIFO
links. A node's group membership is the specification's own `Hub` state changed by its
`apply`; beside it, the history keeps the single-hub specification of every connection, changed
at the instant the connection's node carries out an add or remove, so \"member\" always means
member as the specification has it. A client whose node crashed or closed it may lose its
messages (its connection ended); nobody else may.

## Which property holds under which behaviour

A cell is **holds** when no interleaving of any scenario below breaks the property, else the
scenarios with a counterexample.

";

const SCENARIOS_HEAD: &str = "
## The scenarios

Two nodes, A and B; `cN@X` is connection `cN` on node X, with the invocations it makes, each
awaited before the next. Groups `g0` and `g1` are case variants of one name (say `Chat` and
`chat`) for the ASP.NET behaviour's case-insensitive set, and different names for the others;
`g2` is another name.

| scenario | clients | initially | subscription gaps | node crashes |
|---|---|---|---|---|
";

const PAGE_TAIL: &str = "
## Reading the table

- A completed group send is not a delivery across nodes under any of the three: the Completion
  says the node's own members have it, while another node may still hold the message in flight
  when a member there leaves. Tests of a cluster must not assert it.
- ASP.NET's direct local writes and immediate group Completion break per-sender FIFO and the
  caller's own message before its Completion; its case-insensitive set makes a completed add
  ineffective; its unknown-id add fails after the ack timeout instead of being a no-op; and
  silently resubscribing after a gap loses messages of completed adds and sends.
- An unordered backplane keeps refhub's guarantees except the order of one sender's messages.
";
