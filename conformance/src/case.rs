//! One case: a history run against a target and compared with the model.

use crate::report::Finding;
use crate::target::Target;
use hubspec_harness::{Divergence, HarnessError, Session};
use hubspec_model::{Op, Spec, Transcript};
use std::time::{Duration, Instant};

/// What one case found.
#[derive(Clone, Debug)]
pub struct CaseOutcome {
    /// e.g. `scenario GRP-ADD-IDEMPOTENT/twice (core-stateful)`.
    pub name: String,
    /// Operations sent.
    pub ops: usize,
    /// Wall time.
    pub duration: Duration,
    /// Every divergence, with the rules it names.
    pub findings: Vec<Finding>,
    /// The model's transcript.
    pub expected: Transcript,
    /// The target's transcript (the steps that ran).
    pub observed: Transcript,
}

impl CaseOutcome {
    /// No divergence.
    pub fn passed(&self) -> bool {
        self.findings.is_empty()
    }

    /// Whether some finding names `rule`.
    pub fn violates(&self, rule: &str) -> bool {
        self.findings
            .iter()
            .any(|f| f.rules.iter().any(|r| r == rule))
    }
}

/// A divergence as report evidence; `replay` reaches the target again (the harness's own
/// command names the session's URL, which for the embedded hub ends with the run).
pub fn finding(case: &str, d: &Divergence, expected: &Transcript, replay: &str) -> Finding {
    Finding {
        case: case.to_string(),
        rules: d.rules.iter().map(|r| r.to_string()).collect(),
        kind: d.kind.name().to_string(),
        step: d.step,
        op: d.op.clone(),
        expected: d.expected.clone(),
        observed: d.observed.clone(),
        transcript: d.transcript.to_string(),
        expected_transcript: expected.to_string(),
        replay: replay.to_string(),
        frames: d.frames.iter().map(|f| f.to_string()).collect(),
    }
}

/// Run `ops` under `spec` against `target` in a fresh session and compare with the model.
///
/// A session the harness cannot even run (the target refuses connections, a client error
/// ends it) is a finding too, named by the `PRO-` rule the error breaks.
pub async fn run_case(target: &Target, spec: Spec, name: &str, ops: &[Op]) -> CaseOutcome {
    let start = Instant::now();
    let expected = Transcript::run(spec, ops)
        .unwrap_or_else(|e| panic!("case {name} is not a valid history of the model: {e}"));
    let mut session = Session::new(&target.config, spec, name, target.restarter.clone());
    let result = session.run(ops).await;
    session.close().await;
    let replay = target.replay_command(spec, ops);
    let (observed, findings) = match result {
        Ok(report) => {
            let findings = report
                .divergences
                .iter()
                .map(|d| finding(name, d, &report.expected, &replay))
                .collect();
            (report.observed, findings)
        }
        Err(e) => {
            let rule = match &e {
                HarnessError::Client(c) => c.rule().unwrap_or("PRO-RESPONSIVE"),
                _ => "PRO-RESPONSIVE",
            };
            let f = Finding {
                case: name.to_string(),
                rules: vec![rule.to_string()],
                kind: "protocol".into(),
                step: 0,
                op: None,
                expected: "the session runs".into(),
                observed: e.to_string(),
                transcript: String::new(),
                expected_transcript: expected.to_string(),
                replay,
                frames: vec![],
            };
            (
                Transcript {
                    spec,
                    steps: vec![],
                },
                vec![f],
            )
        }
    };
    CaseOutcome {
        name: name.to_string(),
        ops: ops.len(),
        duration: start.elapsed(),
        findings,
        expected,
        observed,
    }
}
