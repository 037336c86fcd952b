//! One case: a history run against a target and compared with the model.

use crate::report::Finding;
use crate::target::Target;
use hubspec_harness::{Divergence, DivergenceKind, HarnessError, ObservedTranscript, Session};
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
    /// Protocol deviations the harness read past (tolerant observation, see
    /// [`Divergence::tolerated`]): each a finding of its `PRO-` rule that the suite records
    /// once, while the case is judged on `findings` alone.
    pub protocol: Vec<Finding>,
    /// The first divergence of a run of the same history that this one was steered around
    /// (see [`crate::diagnosis::steered`]): another rule's root cause, recorded as such, while
    /// the case is judged on `findings`, what the target did once given time.
    pub steered_around: Vec<Finding>,
    /// The model's transcript.
    pub expected: Transcript,
    /// The target's transcript (the steps that ran), with results as read where the wire gives
    /// no model value (its `Display` prints those; `Deref` gives the model-valued transcript).
    pub observed: ObservedTranscript,
}

impl CaseOutcome {
    /// No divergence of the history (a tolerated protocol deviation aside: see `protocol`).
    pub fn passed(&self) -> bool {
        self.findings.is_empty()
    }

    /// Whether some finding names `rule`.
    pub fn violates(&self, rule: &str) -> bool {
        self.findings.iter().any(|f| f.rules.contains(&rule))
    }
}

/// A divergence as report evidence, its fields kept typed. `replay` is the command that
/// reaches the target again, from [`Target::replay_command`] (the one place replay commands are
/// built: for the embedded hub it starts a fresh one with the same faults).
pub fn finding(case: &str, d: &Divergence, expected: &Transcript, replay: &str) -> Finding {
    Finding {
        case: case.to_string(),
        rules: d.rules.clone(),
        kind: d.kind,
        step: d.step,
        op: d.op.clone(),
        op_kind: d
            .step
            .checked_sub(1)
            .and_then(|i| expected.steps.get(i))
            .map(|s| s.op.kind()),
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
    run_case_paused(target, spec, name, ops, &[]).await
}

/// [`run_case`] with a pause before each step of `pauses` (0-based indices; see
/// `Session::settle_before`).
pub async fn run_case_paused(
    target: &Target,
    spec: Spec,
    name: &str,
    ops: &[Op],
    pauses: &[(usize, Duration)],
) -> CaseOutcome {
    let start = Instant::now();
    let expected = Transcript::run(spec, ops)
        .unwrap_or_else(|e| panic!("case {name} is not a valid history of the model: {e}"));
    let mut session = Session::new(&target.config, spec, name, target.restarter.clone());
    for (index, pause) in pauses {
        session.settle_before(*index, *pause);
    }
    let mut result = session.run(ops).await;
    // A run the harness itself was too slow for says nothing about the target: run it again
    // (twice at most; a third too-slow run is judged as it is).
    for _ in 0..2 {
        match &result {
            Ok(report) if report.too_slow.is_some() => result = session.run(ops).await,
            _ => break,
        }
    }
    // What the clients captured, for a run that could not finish (an `Ok` run has closed
    // them already and its divergences carry their frames).
    let frames: Vec<String> = match &result {
        Ok(_) => Vec::new(),
        Err(_) => session.frames().iter().map(|f| f.to_string()).collect(),
    };
    session.close().await;
    // Built only for a failing case: passing ones are most of thousands of walks and histories.
    let replay = || target.replay_command(spec, ops);
    let (observed, findings, protocol) = match result {
        Ok(report) => {
            let replay = if report.divergences.is_empty() {
                String::new()
            } else {
                replay()
            };
            let (mut findings, mut protocol) = (Vec::new(), Vec::new());
            for d in &report.divergences {
                let f = finding(name, d, &report.expected, &replay);
                match d.tolerated {
                    true => protocol.push(f),
                    false => findings.push(f),
                }
            }
            (report.observed_text(), findings, protocol)
        }
        Err(e) => {
            let rule = match &e {
                HarnessError::Client(c) => c.rule().unwrap_or("PRO-RESPONSIVE"),
                _ => "PRO-RESPONSIVE",
            };
            let f = Finding {
                case: name.to_string(),
                rules: vec![rule],
                kind: DivergenceKind::Protocol,
                step: 0,
                op: None,
                op_kind: None,
                expected: "the session runs".into(),
                observed: e.to_string(),
                transcript: String::new(),
                expected_transcript: expected.to_string(),
                replay: replay(),
                frames,
            };
            (
                ObservedTranscript {
                    transcript: Transcript {
                        spec,
                        steps: vec![],
                    },
                    results_as_read: Default::default(),
                },
                vec![f],
                Vec::new(),
            )
        }
    };
    CaseOutcome {
        name: name.to_string(),
        ops: ops.len(),
        duration: start.elapsed(),
        findings,
        protocol,
        steered_around: Vec::new(),
        expected,
        observed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hubspec_harness::restart::{BoxFuture, Restarter};
    use hubspec_model::{ConnId, Profile, Selector};
    use std::collections::BTreeSet;
    use std::sync::Arc;

    /// A restart that fails, as a `restart_command` exiting non-zero does.
    struct FailingRestart;

    impl Restarter for FailingRestart {
        fn restart(&self) -> BoxFuture<'_, Result<(), HarnessError>> {
            Box::pin(async { Err(HarnessError::Restart("exit status 1".into())) })
        }
    }

    /// A session the harness cannot finish (here: the restart fails) is reported with the
    /// frames its clients captured up to then, not an empty list.
    #[tokio::test]
    async fn a_session_that_cannot_run_reports_its_frames() {
        let mut target = Target::embedded(Profile::Core, BTreeSet::new())
            .await
            .unwrap();
        target.restarter = Some(Arc::new(FailingRestart));
        let ops = vec![
            Op::Connect { user: None },
            Op::AddToGroup {
                caller: ConnId(1),
                group: Some("g".into()),
            },
            Op::Send {
                caller: ConnId(1),
                selector: Selector::Group(Some("g".into())),
                payload: "m".into(),
            },
            Op::Restart,
        ];
        let spec = target.config.spec();
        let outcome = run_case(&target, spec, "frames on a harness error", &ops).await;
        target.shutdown().await;
        let [f] = &outcome.findings[..] else {
            panic!("one finding: {:?}", outcome.findings)
        };
        assert_eq!(f.expected, "the session runs");
        assert!(f.observed.contains("exit status 1"), "{f:?}");
        assert!(
            f.frames.iter().any(|l| l.contains("AddToGroup")),
            "the frames of c1 up to the failed restart: {:?}",
            f.frames
        );
    }

    /// The received `Receive` payloads in a finding's frames (`c1 <- text {…"Receive"…}`).
    fn received_payloads(frames: &[String]) -> Vec<String> {
        frames
            .iter()
            .filter(|l| l.contains(" <- ") && l.contains("\"target\":\"Receive\""))
            .filter_map(|l| {
                let json = &l[l.find('{')?..l.rfind('}')? + 1];
                let v: serde_json::Value = serde_json::from_str(json).ok()?;
                Some(v["arguments"][0].as_str()?.to_string())
            })
            .collect()
    }

    /// `double-add-delivers-twice` perturbs only the connection added twice and the group it
    /// was added to: sessions sharing the faulty hub each see the doubled copies of their own
    /// group sends, and nothing of the other sessions'.
    #[tokio::test]
    async fn double_add_perturbs_only_its_own_session() {
        let target = Target::embedded(
            Profile::CoreStateful,
            BTreeSet::from([hubspec_refhub::Fault::DoubleAddDeliversTwice]),
        )
        .await
        .unwrap();
        let spec = target.config.spec();
        let (c1, c2) = (ConnId(1), ConnId(2));
        let add = |c, g: &str| Op::AddToGroup {
            caller: c,
            group: Some(g.into()),
        };
        let send = |c, selector, p: &str| Op::Send {
            caller: c,
            selector,
            payload: p.into(),
        };
        let g = |n: &str| Some(n.to_string());
        let ops = vec![
            Op::Connect { user: None },
            Op::Connect { user: None },
            add(c1, "g"),
            add(c1, "g"),
            add(c2, "g"),
            add(c2, "h"),
            send(c2, Selector::Group(g("g")), "a"),
            send(c1, Selector::Groups(vec![g("g"), g("h")]), "b"),
            send(c2, Selector::OthersInGroup(g("g")), "c"),
            Op::RemoveFromGroup {
                caller: c1,
                group: g("g"),
            },
            send(c2, Selector::Group(g("g")), "d"),
        ];
        let names: Vec<String> = (1..=6).map(|i| format!("double add {i}")).collect();
        let outcomes =
            futures_util::future::join_all(names.iter().map(|n| run_case(&target, spec, n, &ops)))
                .await;
        target.shutdown().await;
        for (name, o) in names.iter().zip(&outcomes) {
            assert!(!o.passed(), "{name}: the fault went unnoticed");
            let own = format!("{}#", name.replace(' ', ""));
            for f in &o.findings {
                assert_eq!(
                    f.kind,
                    DivergenceKind::Duplicate,
                    "{name}: only the doubled copies diverge: {f:?}"
                );
                assert!(
                    [7, 8, 9].contains(&f.step),
                    "{name}: a copy too many at step {}: {f:?}",
                    f.step
                );
                let payloads = received_payloads(&f.frames);
                assert!(!payloads.is_empty(), "{name}: {f:?}");
                for p in payloads {
                    assert!(
                        p.starts_with(&own),
                        "{name} received another session's message {p}"
                    );
                }
            }
        }
    }
}
