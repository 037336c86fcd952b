//! Transcripts: a history with each step's result and deliveries, in a stable text form.
//!
//! The same form is used by the docs' example blocks, the insta snapshots, the harness's
//! observed histories and every failure message, so that "expected" and "observed" can be
//! compared line by line. Deliveries are listed per recipient in ascending id order, and in
//! arrival order for one recipient: that is everything a client can observe (per-connection
//! FIFO, no order across connections).

use crate::error::ModelError;
use crate::hub::Hub;
use crate::names::{Names, Small, Text};
use crate::op::{GroupArg, Op, Selector};
use crate::outcome::{Mode, Outcome};
use crate::profile::Spec;
use serde::{Deserialize, Serialize};
use std::fmt::{self, Display, Write as _};

/// One step: an operation and what it did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Step<N: Names = Text> {
    /// The operation.
    pub op: Op<N>,
    /// Its result and deliveries.
    pub outcome: Outcome<N>,
}

/// A history with its outcomes, under one spec.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Transcript<N: Names = Text> {
    /// The behaviour the history was run under.
    pub spec: Spec,
    /// The steps, in order.
    pub steps: Vec<Step<N>>,
}

/// A history the model refused: the step whose precondition failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidHistory {
    /// The 1-based step number.
    pub step: usize,
    /// Why the step cannot happen.
    pub error: ModelError,
}

impl Display for InvalidHistory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {}: {}", self.step, self.error)
    }
}

impl std::error::Error for InvalidHistory {}

impl<N: Names> Transcript<N> {
    /// Run `ops` from an empty hub and record every outcome.
    pub fn run(spec: Spec, ops: &[Op<N>]) -> Result<Self, InvalidHistory> {
        let mut hub = Hub::new();
        Self::run_from(&mut hub, spec, ops)
    }

    /// Run `ops` on `hub`, leaving it in the final state.
    pub fn run_from(hub: &mut Hub<N>, spec: Spec, ops: &[Op<N>]) -> Result<Self, InvalidHistory> {
        let mut steps = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let outcome = hub
                .apply(&spec, op)
                .map_err(|error| InvalidHistory { step: i + 1, error })?;
            steps.push(Step {
                op: op.clone(),
                outcome,
            });
        }
        Ok(Transcript { spec, steps })
    }

    /// The operations alone.
    pub fn ops(&self) -> Vec<Op<N>> {
        self.steps.iter().map(|s| s.op.clone()).collect()
    }
}

fn quoted(out: &mut String, name: &impl Display) {
    out.push('"');
    for ch in name.to_string().chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn group<N: Names>(out: &mut String, g: &GroupArg<N>) {
    match g {
        Some(g) => quoted(out, g),
        None => out.push_str("null"),
    }
}

fn list<T>(out: &mut String, items: &[T], mut each: impl FnMut(&mut String, &T)) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        each(out, item);
    }
    out.push(']');
}

/// Write an operation in transcript form, e.g. `c2: SendToGroup("g", "m1")`.
pub fn format_op<N: Names>(op: &Op<N>) -> String {
    let mut s = String::new();
    let targets =
        |s: &mut String, ids: &[crate::Target]| list(s, ids, |s, t| s.push_str(&t.to_string()));
    match op {
        Op::Connect { user } => {
            s.push_str("connect(");
            if let Some(u) = user {
                s.push_str("user ");
                quoted(&mut s, u);
            }
            s.push(')');
        }
        Op::Disconnect { conn } => {
            let _ = write!(s, "{conn}: disconnect");
        }
        Op::Drop { conn } => {
            let _ = write!(s, "{conn}: drop transport");
        }
        Op::Resume {
            conn,
            altered_token,
        } => {
            let _ = write!(s, "{conn}: resume");
            if *altered_token {
                s.push_str(" with altered groups token");
            }
        }
        Op::Expire { conn } => {
            let _ = write!(s, "{conn}: disconnect timeout passes");
        }
        Op::Restart => s.push_str("restart server"),
        Op::AddToGroup { caller, group: g }
        | Op::RemoveFromGroup { caller, group: g }
        | Op::JoinRoom { caller, room: g }
        | Op::LeaveRoom { caller, room: g } => {
            let _ = write!(s, "{caller}: {}(", op.kind());
            group::<N>(&mut s, g);
            s.push(')');
        }
        Op::AddConnectionToGroup {
            caller,
            target,
            group: g,
        }
        | Op::RemoveConnectionFromGroup {
            caller,
            target,
            group: g,
        } => {
            let _ = write!(s, "{caller}: {}({target}, ", op.kind());
            group::<N>(&mut s, g);
            s.push(')');
        }
        Op::Send {
            caller,
            selector,
            payload,
        } => {
            let _ = write!(s, "{caller}: {}(", selector.method());
            match selector {
                Selector::All | Selector::Others | Selector::Caller => {}
                Selector::AllExcept(ids) | Selector::Connections(ids) => {
                    targets(&mut s, ids);
                    s.push_str(", ");
                }
                Selector::Connection(t) => {
                    let _ = write!(s, "{t}, ");
                }
                Selector::Group(g) | Selector::OthersInGroup(g) => {
                    group::<N>(&mut s, g);
                    s.push_str(", ");
                }
                Selector::Groups(gs) => {
                    list(&mut s, gs, group::<N>);
                    s.push_str(", ");
                }
                Selector::GroupExcept(g, ids) => {
                    group::<N>(&mut s, g);
                    s.push_str(", ");
                    targets(&mut s, ids);
                    s.push_str(", ");
                }
                Selector::User(u) => {
                    quoted(&mut s, u);
                    s.push_str(", ");
                }
                Selector::Users(us) => {
                    list(&mut s, us, quoted);
                    s.push_str(", ");
                }
            }
            quoted(&mut s, payload);
            s.push(')');
        }
    }
    s
}

/// Write the deliveries of one outcome, one line per recipient:
/// `c1 <= "m1", "m2"` and, for kept messages, `c3 <= "m1" (buffered)`.
pub fn format_deliveries<N: Names>(outcome: &Outcome<N>) -> Vec<String> {
    let mut lines = Vec::new();
    for (to, msgs) in outcome.per_recipient() {
        for mode in [Mode::Now, Mode::Replayed, Mode::Buffered] {
            let of_mode: Vec<_> = msgs.iter().filter(|(m, _)| *m == mode).collect();
            if of_mode.is_empty() {
                continue;
            }
            let mut line = format!("{to} <= ");
            for (i, (_, p)) in of_mode.iter().enumerate() {
                if i > 0 {
                    line.push_str(", ");
                }
                quoted(&mut line, p);
            }
            match mode {
                Mode::Now => {}
                Mode::Replayed => line.push_str(" (replayed)"),
                Mode::Buffered => line.push_str(" (buffered)"),
            }
            lines.push(line);
        }
    }
    lines
}

impl<N: Names> Transcript<N> {
    /// The text form ([`Display`]) with some results shown otherwise: `result_as_read(step)`
    /// (1-based) replaces the model's result where it answers `Some`, as the harness does for
    /// an error it read from the wire with no kind stated.
    pub fn fmt_with(
        &self,
        f: &mut fmt::Formatter<'_>,
        result_as_read: impl Fn(usize) -> Option<String>,
    ) -> fmt::Result {
        writeln!(f, "# {}", self.spec)?;
        for (i, step) in self.steps.iter().enumerate() {
            let result = result_as_read(i + 1).unwrap_or_else(|| step.outcome.result.to_string());
            writeln!(f, "{:>2}. {} -> {result}", i + 1, format_op(&step.op))?;
            for line in format_deliveries(&step.outcome) {
                writeln!(f, "      {line}")?;
            }
        }
        Ok(())
    }
}

impl<N: Names> Display for Transcript<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_with(f, |_| None)
    }
}

/// The readable names the checker's small integers stand for: group `gN`, user `uN`, payload
/// `mN`, so that a counterexample found by the checker reads like any other transcript.
pub fn small_to_text(op: &Op<Small>) -> Op<Text> {
    let g = |g: &GroupArg<Small>| g.map(|g| format!("g{g}"));
    let u = |u: &u8| format!("u{u}");
    let p = |p: &u8| format!("m{p}");
    match op {
        Op::Connect { user } => Op::Connect {
            user: user.as_ref().map(u),
        },
        Op::Disconnect { conn } => Op::Disconnect { conn: *conn },
        Op::Drop { conn } => Op::Drop { conn: *conn },
        Op::Resume {
            conn,
            altered_token,
        } => Op::Resume {
            conn: *conn,
            altered_token: *altered_token,
        },
        Op::Expire { conn } => Op::Expire { conn: *conn },
        Op::Restart => Op::Restart,
        Op::AddToGroup { caller, group } => Op::AddToGroup {
            caller: *caller,
            group: g(group),
        },
        Op::RemoveFromGroup { caller, group } => Op::RemoveFromGroup {
            caller: *caller,
            group: g(group),
        },
        Op::AddConnectionToGroup {
            caller,
            target,
            group,
        } => Op::AddConnectionToGroup {
            caller: *caller,
            target: *target,
            group: g(group),
        },
        Op::RemoveConnectionFromGroup {
            caller,
            target,
            group,
        } => Op::RemoveConnectionFromGroup {
            caller: *caller,
            target: *target,
            group: g(group),
        },
        Op::JoinRoom { caller, room } => Op::JoinRoom {
            caller: *caller,
            room: g(room),
        },
        Op::LeaveRoom { caller, room } => Op::LeaveRoom {
            caller: *caller,
            room: g(room),
        },
        Op::Send {
            caller,
            selector,
            payload,
        } => Op::Send {
            caller: *caller,
            payload: p(payload),
            selector: match selector {
                Selector::All => Selector::All,
                Selector::AllExcept(ids) => Selector::AllExcept(ids.clone()),
                Selector::Others => Selector::Others,
                Selector::Caller => Selector::Caller,
                Selector::Connection(t) => Selector::Connection(*t),
                Selector::Connections(ids) => Selector::Connections(ids.clone()),
                Selector::Group(x) => Selector::Group(g(x)),
                Selector::Groups(xs) => Selector::Groups(xs.iter().map(g).collect()),
                Selector::GroupExcept(x, ids) => Selector::GroupExcept(g(x), ids.clone()),
                Selector::OthersInGroup(x) => Selector::OthersInGroup(g(x)),
                Selector::User(x) => Selector::User(u(x)),
                Selector::Users(xs) => Selector::Users(xs.iter().map(u).collect()),
            },
        },
    }
}
