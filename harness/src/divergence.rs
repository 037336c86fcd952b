//! A divergence: one place where the target did not do what the model says, with everything
//! needed to understand it (rules, expected and observed text, the observed transcript, raw
//! frames).
//!
//! A divergence carries no replay command: the harness does not know how its caller reaches
//! the target again (a configured URL, or a fresh embedded hub with its faults), so the one
//! replay builder is the caller's (`hubspec_conformance::target::Target::replay_command`). What
//! the harness knows of a configured target it gives as [`target_flags`].

use crate::client::RawFrame;
use crate::config::TargetConfig;
use crate::reading::ObservedTranscript;
use hubspec_model::{Capability, Op};
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
    /// The raw frames involved (the last ones of the connections concerned).
    pub frames: Vec<RawFrame>,
    /// A protocol deviation that did not prevent observation (JSON in a binary frame, a socket
    /// closed without a Close reply, a record cut short but still readable, a second
    /// Completion…): recorded as a finding of its `PRO-` rule while the history goes on and is
    /// judged on what the server sent, so it is never the history's first divergence. A
    /// message it made unreadable is not tolerated: the divergence that loss causes is blamed
    /// on the rule first (see `Run::unreadable` in `session/compare.rs`).
    pub tolerated: bool,
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
        if self.tolerated {
            writeln!(
                f,
                "  (read past: recorded as a finding of its rule, not as the history's divergence)"
            )?;
        }
        writeln!(f, "  expected: {}", self.expected)?;
        writeln!(f, "  observed: {}", self.observed)?;
        writeln!(f, "  observed transcript:")?;
        for line in self.transcript.to_string().lines() {
            writeln!(f, "    {line}")?;
        }
        if !self.frames.is_empty() {
            writeln!(f, "  frames:")?;
            for frame in &self.frames {
                writeln!(f, "    {frame}")?;
            }
        }
        Ok(())
    }
}

/// Quotes `s` for a POSIX shell (single quotes; an embedded quote becomes `'\''`).
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The `hubspec` flags that reach `target` again with what `ops` need from it, so a command
/// carrying them works in a fresh shell (no `HUBSPEC_*` variable, no config file):
/// - `--url URL`, once per node;
/// - `--skip-negotiation` when the target is reached without negotiate;
/// - `--capability rooms` / `--capability restart` when the ops join rooms or restart (the
///   profile flag already implies `stateful-reconnect`), and `--restart-command CMD` with a
///   `Restart` when the target has one;
/// - `--disconnect-timeout-ms MS` with an `Expire`, when it is not the default, since an
///   `Expire` waits the target's own timeout.
pub fn target_flags(target: &TargetConfig, ops: &[Op]) -> String {
    let mut flags = String::new();
    for url in &target.urls {
        flags.push_str(&format!(" --url {}", shell_quote(url.as_str())));
    }
    if target.skip_negotiation {
        flags.push_str(" --skip-negotiation");
    }
    // The protocols decide which connection speaks which: a replay needs the same ones.
    if target.protocols != [hubspec_wire::HubProtocol::Json] {
        for p in &target.protocols {
            flags.push_str(&format!(" --protocol {}", p.name()));
        }
    }
    // `needs` under `core`: the flags here are rooms and restart, which no profile changes.
    let needs = hubspec_model::needs(ops, hubspec_model::Profile::Core);
    let rooms = needs.contains(&Capability::Rooms);
    let restart = needs.contains(&Capability::Restart);
    if rooms && target.has(Capability::Rooms) {
        flags.push_str(" --capability rooms");
    }
    if restart && target.has(Capability::Restart) {
        flags.push_str(" --capability restart");
    }
    if let (true, Some(cmd)) = (restart, &target.restart_command) {
        flags.push_str(&format!(" --restart-command {}", shell_quote(cmd)));
    }
    let expire = ops.iter().any(|op| matches!(op, Op::Expire { .. }));
    let default = crate::config::Timeouts::default().disconnect_timeout;
    if expire && target.timeouts.disconnect_timeout != default {
        flags.push_str(&format!(
            " --disconnect-timeout-ms {}",
            target.timeouts.disconnect_timeout.as_millis()
        ));
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;
    use hubspec_model::ConnId;

    #[test]
    fn the_target_flags_name_every_node_quoted_for_a_shell() {
        let mut target = TargetConfig::for_url("http://a/hub").unwrap();
        target
            .urls
            .extend(TargetConfig::for_url("http://b/hub?x=1").unwrap().urls);
        let flags = target_flags(&target, &[Op::Connect { user: None }]);
        assert_eq!(flags, " --url 'http://a/hub' --url 'http://b/hub?x=1'");
    }

    #[test]
    fn the_target_flags_carry_what_reaches_the_target_and_what_the_ops_need() {
        let mut target = TargetConfig::for_url("http://127.0.0.1:5000/hub")
            .unwrap()
            .with_capabilities([Capability::Rooms, Capability::Restart]);
        target.skip_negotiation = true;
        target.restart_command = Some("systemctl restart 'my hub'".into());
        target.timeouts.disconnect_timeout = std::time::Duration::from_millis(400);
        let plain = vec![Op::Connect { user: None }];
        assert_eq!(
            target_flags(&target, &plain),
            " --url 'http://127.0.0.1:5000/hub' --skip-negotiation",
            "only what plain ops need"
        );
        let ops = vec![
            Op::Connect {
                user: Some("u".into()),
            },
            Op::JoinRoom {
                caller: ConnId(1),
                room: Some("r".into()),
            },
            Op::Restart,
            Op::Expire { conn: ConnId(1) },
        ];
        let flags = target_flags(&target, &ops);
        for flag in [
            " --skip-negotiation",
            " --capability rooms",
            " --capability restart",
            r" --restart-command 'systemctl restart '\''my hub'\'''",
            " --disconnect-timeout-ms 400",
        ] {
            assert!(flags.contains(flag), "{flag} missing: {flags}");
        }
    }
}
