//! A divergence: one place where the target did not do what the model says, with everything
//! needed to understand and reproduce it.

use crate::client::RawFrame;
use crate::reading::ObservedTranscript;
use hubspec_model::{GroupsFanout, Op, Spec};
use std::fmt;

/// What kind of difference was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DivergenceKind {
    /// The op's result (ok / error kind / connection id) differs.
    Result,
    /// An expected message never arrived (by the op's barrier, nor later).
    Lost,
    /// An expected message arrived, but only after the barrier that followed its op.
    Late,
    /// More copies arrived than expected.
    Duplicate,
    /// A message arrived that the op should not have delivered to that connection, or one
    /// no op of the case sent.
    Unexpected,
    /// The right messages arrived in the wrong order.
    Reordered,
    /// The barrier (a `SendToConnection` marker to oneself) did not come back.
    BrokenBarrier,
    /// The target broke the wire protocol.
    Protocol,
}

impl DivergenceKind {
    /// A short lowercase name for reports.
    pub fn name(self) -> &'static str {
        match self {
            DivergenceKind::Result => "result",
            DivergenceKind::Lost => "lost",
            DivergenceKind::Late => "late",
            DivergenceKind::Duplicate => "duplicate",
            DivergenceKind::Unexpected => "unexpected",
            DivergenceKind::Reordered => "reordered",
            DivergenceKind::BrokenBarrier => "broken barrier",
            DivergenceKind::Protocol => "protocol",
        }
    }
}

/// A mismatch between the target and the model.
#[derive(Clone, Debug)]
pub struct Divergence {
    /// The rules it violates, most specific first (see [`crate::blame`]).
    pub rules: Vec<&'static str>,
    /// What kind of difference.
    pub kind: DivergenceKind,
    /// The 1-based step it was seen at (0: before the first step).
    pub step: usize,
    /// The step's operation in transcript form, if any.
    pub op: Option<String>,
    /// What the model says, in transcript form.
    pub expected: String,
    /// What the target did, in transcript form (or the protocol problem).
    pub observed: String,
    /// The observed transcript up to and including the step (results as read, see
    /// [`crate::reading`]).
    pub transcript: ObservedTranscript,
    /// A command line that replays the whole op sequence against the same target.
    pub replay: String,
    /// The raw frames involved (the last ones of the connections concerned).
    pub frames: Vec<RawFrame>,
}

impl Divergence {
    /// Whether `rule` is among the violated rules.
    pub fn violates(&self, rule: &str) -> bool {
        self.rules.contains(&rule)
    }
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] step {}", self.rules.join(", "), self.step)?;
        if let Some(op) = &self.op {
            write!(f, " ({op})")?;
        }
        writeln!(f, ": {}", self.kind.name())?;
        writeln!(f, "  expected: {}", self.expected)?;
        writeln!(f, "  observed: {}", self.observed)?;
        writeln!(f, "  observed transcript:")?;
        for line in self.transcript.to_string().lines() {
            writeln!(f, "    {line}")?;
        }
        writeln!(f, "  replay: {}", self.replay)?;
        if !self.frames.is_empty() {
            writeln!(f, "  frames:")?;
            for frame in &self.frames {
                writeln!(f, "    {frame}")?;
            }
        }
        Ok(())
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The command line that replays `ops` under `spec` against `target`.
///
/// The `hubspec` CLI's `replay` subcommand takes exactly these arguments:
/// - `--profile core|core-stateful`: the spec's profile;
/// - `--groups-fanout per-group|once`: given only when not `per-group`;
/// - `--ops '<json>'`: the operations as a JSON array of `hubspec_model::Op` (serde form);
/// - `--url URL`, once per node URL, when `target` is non-empty (comma-separated URLs);
///   without it the CLI replays against the embedded reference hub.
pub fn replay_command(target: &str, spec: &Spec, ops: &[Op]) -> String {
    let json = serde_json::to_string(ops).unwrap_or_else(|e| format!("<unserializable: {e}>"));
    let mut cmd = format!(
        "cargo run -p hubspec-conformance --bin hubspec -- replay --profile {}",
        spec.profile
    );
    if spec.groups_fanout != GroupsFanout::PerGroup {
        cmd.push_str(&format!(" --groups-fanout {}", spec.groups_fanout));
    }
    cmd.push_str(&format!(" --ops {}", shell_quote(&json)));
    for url in target.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        cmd.push_str(&format!(" --url {}", shell_quote(url)));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use hubspec_model::{ConnId, Profile, Selector};

    #[test]
    fn the_replay_command_carries_the_ops_as_json_that_parses_back() {
        let ops = vec![
            Op::Connect { user: None },
            Op::Send {
                caller: ConnId(1),
                selector: Selector::Group(Some("it's".into())),
                payload: "m1".into(),
            },
        ];
        let spec = Spec::new(Profile::CoreStateful).with_fanout(GroupsFanout::Once);
        let cmd = replay_command("http://a/hub,http://b/hub", &spec, &ops);
        assert!(cmd.starts_with(
            "cargo run -p hubspec-conformance --bin hubspec -- replay --profile core-stateful --groups-fanout once --ops '"
        ));
        assert!(
            cmd.ends_with("--url 'http://a/hub' --url 'http://b/hub'"),
            "{cmd}"
        );
        let quoted = cmd
            .split(" --ops ")
            .nth(1)
            .unwrap()
            .split(" --url")
            .next()
            .unwrap();
        // Undo the shell quoting the way sh would.
        let json = quoted.trim_matches('\'').replace("'\\''", "'");
        let back: Vec<Op> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ops);
        assert!(!replay_command("", &Spec::default(), &ops).contains("--url"));
    }
}
