//! The node behaviours compared and the small scripted clusters they are checked on.

use hubspec_model::{ConnId, Op, Selector, Small, Target};

/// How a node behaves. One model, three behaviours: the table says which properties hold
/// under which.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Behaviour {
    /// refhub's default, model-faithful: an add or remove of an id no node holds completes at
    /// once as a no-op (the PUBLISH reports no subscriber); a group send's Completion waits
    /// until its own publication came back and was written to the local members; a lost
    /// subscription closes every local client with `allowReconnect: true`. Inbound channel
    /// messages are handled in arrival order. An ack that does not come although the id had a
    /// subscriber (its node crashed) fails the invocation after a timeout, as in ASP.NET.
    Refhub,
    /// ASP.NET Core's Redis backplane (reference/scaleout.md §1.3–1.6): a remote add or remove
    /// waits for an ack that an unknown id never sends (the ~30 s timeout, here a timer that
    /// fails the invocation); a send to a local connection is written directly; a group send
    /// completes once published; the per-connection group set is case-insensitive (groups
    /// `2k` and `2k+1` are case variants of one name); each channel has its own queue, so
    /// messages on different channels can be handled in either order; after a lost
    /// subscription the node resubscribes and carries on.
    AspNet,
    /// refhub's node behaviour on a backplane that does not keep per-publisher order (Azure
    /// SignalR under load, SQL Server): any queued message can be handled next.
    Unordered,
}

impl Behaviour {
    /// Every behaviour, in table order.
    pub const ALL: [Behaviour; 3] = [Behaviour::Refhub, Behaviour::AspNet, Behaviour::Unordered];

    /// The column heading.
    pub fn name(self) -> &'static str {
        match self {
            Behaviour::Refhub => "refhub default",
            Behaviour::AspNet => "ASP.NET-compatible",
            Behaviour::Unordered => "unordered backplane",
        }
    }
}

/// A small cluster with scripted clients. Client `k` (0-based) is connection `c{k+1}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scenario {
    /// A short name for the table.
    pub name: &'static str,
    /// How many nodes (2 or 3).
    pub nodes: u8,
    /// Per client: its node and the invocations it makes, each awaited before the next.
    pub clients: Vec<(u8, Vec<Op<Small>>)>,
    /// The groups connections are in at the start, as `(connection, group)`.
    pub members: Vec<(ConnId, u8)>,
    /// Whether one node's subscription connection may drop once.
    pub gaps: bool,
    /// Whether one node may crash (kill -9; it does not come back in the run).
    pub crashes: bool,
}

impl Scenario {
    /// The node client connection `c` is pinned to.
    pub fn node_of(&self, c: ConnId) -> u8 {
        self.clients[c.0 as usize - 1].0
    }

    /// The operation of step `step` of connection `c`'s script.
    pub fn op(&self, c: ConnId, step: u8) -> &Op<Small> {
        &self.clients[c.0 as usize - 1].1[step as usize]
    }
}

/// A deliberate bug in every node, for the tests that show a property can fail (a checker
/// that cannot fail proves nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// A group message is written twice to each local member.
    DoubleWrite,
    /// A group message is written to every local connection, member or not.
    WriteToAll,
    /// A node waits for an ack forever (no timeout).
    NoAckTimeout,
}

/// A scenario under one behaviour: the configuration of one actor model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cluster {
    /// How the nodes behave.
    pub behaviour: Behaviour,
    /// Who is where and does what.
    pub scenario: Scenario,
    /// A deliberate bug; `None` in every real check.
    pub fault: Option<Fault>,
}

impl Cluster {
    /// `scenario` under `behaviour`, without a fault.
    pub fn new(behaviour: Behaviour, scenario: Scenario) -> Self {
        Cluster {
            behaviour,
            scenario,
            fault: None,
        }
    }
}

fn c(n: u32) -> ConnId {
    ConnId(n)
}

fn leave(caller: u32, group: u8) -> Op<Small> {
    Op::RemoveFromGroup {
        caller: c(caller),
        group: Some(group),
    }
}

fn add(caller: u32, target: Target, group: u8) -> Op<Small> {
    Op::AddConnectionToGroup {
        caller: c(caller),
        target,
        group: Some(group),
    }
}

fn to_group(caller: u32, group: u8, payload: u8) -> Op<Small> {
    Op::Send {
        caller: c(caller),
        selector: Selector::Group(Some(group)),
        payload,
    }
}

fn to_conn(caller: u32, target: u32, payload: u8) -> Op<Small> {
    Op::Send {
        caller: c(caller),
        selector: Selector::Connection(Target::Id(c(target))),
        payload,
    }
}

/// The scenarios of the table: two nodes A (0) and B (1), groups 0 and 1 (case variants of
/// one name under the ASP.NET behaviour). Each is the smallest cluster that exercises one
/// cross-node case of reference/scaleout.md §4–5; every property is checked on every one.
pub fn scenarios() -> Vec<Scenario> {
    let plain = |name, clients, members: &[(u32, u8)], gaps, crashes| Scenario {
        name,
        nodes: 2,
        clients,
        members: members.iter().map(|&(m, g)| (c(m), g)).collect(),
        gaps,
        crashes,
    };
    let cross_add = || {
        vec![
            (0, vec![]),
            (1, vec![add(2, Target::Id(c(1)), 0), to_group(2, 0, 1)]),
        ]
    };
    vec![
        plain("cross-node add, then send", cross_add(), &[], false, false),
        plain(
            "case-variant names",
            vec![
                (0, vec![]),
                (1, vec![add(2, Target::Id(c(1)), 1), to_group(2, 1, 1)]),
            ],
            &[(1, 0)],
            false,
            false,
        ),
        plain(
            "leave after a completed send",
            vec![
                (0, vec![leave(1, 2), leave(1, 0)]),
                (1, vec![to_group(2, 0, 1)]),
            ],
            &[(1, 0)],
            false,
            false,
        ),
        plain(
            "own group message, then a direct send",
            vec![(0, vec![to_group(1, 0, 1), to_conn(1, 2, 2)]), (0, vec![])],
            &[(1, 0), (2, 0)],
            false,
            false,
        ),
        plain(
            "a group send, then a direct send, to another node",
            vec![(0, vec![to_group(1, 0, 1), to_conn(1, 2, 2)]), (1, vec![])],
            &[(2, 0)],
            false,
            false,
        ),
        plain(
            "unknown id",
            vec![(0, vec![add(1, Target::Unknown, 0)])],
            &[],
            false,
            false,
        ),
        plain("subscription gap", cross_add(), &[], true, false),
        plain("node crash", cross_add(), &[], false, true),
    ]
}

/// Larger clusters for the benchmark (`cargo run -p hubspec-check --example scaleout --
/// --large`), too big for the default tests: three nodes, three clients, the cross-node cases
/// of [`scenarios`] together, with a gap and a crash.
pub fn large_scenarios() -> Vec<Scenario> {
    let three = |name, clients, gaps, crashes| Scenario {
        name,
        nodes: 3,
        clients,
        members: vec![(c(1), 0)],
        gaps,
        crashes,
    };
    let clients = || {
        vec![
            (0, vec![to_group(1, 0, 1)]),
            (1, vec![add(2, Target::Id(c(3)), 0), to_group(2, 0, 2)]),
            (2, vec![]),
        ]
    };
    vec![
        three("three nodes", clients(), false, false),
        three("three nodes, a gap", clients(), true, false),
        three("three nodes, a crash", clients(), false, true),
        three("three nodes, a gap and a crash", clients(), true, true),
    ]
}
