//! The concurrent part (issue 16): K connections act at once, and the history they make is
//! checked against the model by `hubspec-history`.
//!
//! Every other part runs one operation at a time and sees no race. Here each history is a
//! seeded plan of random operations per connection (membership changes, by the caller and by
//! id, on two hot groups; sends through seven selectors with unique payloads; now and then a
//! disconnect at a lane's end), recorded by the harness's [`recorder`] with every invocation,
//! completion and delivery on one clock, converted to a [`History`] and checked at L1 (every
//! send takes effect for each recipient at one point of its interval). A failing history is
//! shrunk by weakening to a witness and shown as its timeline; every history is kept as JSON
//! Lines that `cargo run -p hubspec-history --example recheck` re-checks.
//!
//! The harness records into its own types and this module converts (see [`recorder`] for
//! why); the conversion is the one place the two vocabularies meet.

use crate::report::Finding;
use crate::suite::Progress;
use crate::target::Target;
use hubspec_harness::recorder::{self, Ended, Event, Recording};
use hubspec_harness::DivergenceKind;
use hubspec_history::jsonl::to_jsonl;
use hubspec_history::{check, render, shrink, Anomaly, End, History, Verdict, Violation};
use hubspec_model::{ConnId, Op, Selector, Spec, Target as To};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::time::Duration;

/// How much the part records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    /// Histories per target.
    pub histories: u32,
    /// Connections acting at once (lanes).
    pub lanes: usize,
    /// Operations per lane.
    pub ops: usize,
}

/// Histories per target when nothing says otherwise (`HUBSPEC_CC_HISTORIES`).
pub const DEFAULT_HISTORIES: u32 = 16;

impl Default for Size {
    /// 16 histories of 5 lanes × 12 operations (research §6.3 suggests 5 lanes; fewer
    /// operations per lane keep the part to about a second on loopback).
    fn default() -> Self {
        Size {
            histories: DEFAULT_HISTORIES,
            lanes: 5,
            ops: 12,
        }
    }
}

/// The checker's time budget per history: a search that does not finish is Unknown, a
/// failure.
pub const BUDGET: Duration = Duration::from_secs(10);

/// The users of the lanes in turn: two connections share a user, one has none.
const USERS: [Option<&str>; 5] = [Some("u0"), Some("u1"), Some("u0"), None, Some("u1")];
/// The hot groups: few, so that operations collide.
const GROUPS: [&str; 2] = ["g0", "g1"];

/// The plan of history `seed`: each lane's operations.
pub fn plan(seed: u64, size: &Size) -> recorder::Plan {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = size.lanes.max(1);
    let users = (0..n)
        .map(|i| USERS[i % USERS.len()].map(str::to_string))
        .collect();
    let lanes = (0..n)
        .map(|i| {
            let me = ConnId(i as u32 + 1);
            let mut ops: Vec<Op> = (0..size.ops)
                .map(|k| random_op(&mut rng, me, n, format!("m{}.{k}", me.0)))
                .collect();
            // Now and then a lane ends by disconnecting while the others still act.
            if rng.random_ratio(1, 5) {
                ops.push(Op::Disconnect { conn: me });
            }
            ops
        })
        .collect();
    recorder::Plan { users, lanes }
}

fn random_op(rng: &mut StdRng, caller: ConnId, lanes: usize, payload: String) -> Op {
    let group = Some(GROUPS[rng.random_range(0..GROUPS.len())].to_string());
    let other = To::Id(ConnId(rng.random_range(1..=lanes as u32)));
    match rng.random_range(0..100) {
        0..15 => Op::AddToGroup { caller, group },
        15..25 => Op::RemoveFromGroup { caller, group },
        25..32 => Op::AddConnectionToGroup {
            caller,
            target: other,
            group,
        },
        32..38 => Op::RemoveConnectionFromGroup {
            caller,
            target: other,
            group,
        },
        _ => {
            let selector = match rng.random_range(0..100) {
                0..35 => Selector::Group(group),
                35..45 => Selector::OthersInGroup(group),
                45..55 => Selector::GroupExcept(group, vec![other]),
                55..65 => Selector::Groups(GROUPS.iter().map(|g| Some(g.to_string())).collect()),
                65..75 => Selector::All,
                75..85 => Selector::User(format!("u{}", rng.random_range(0..2))),
                _ => Selector::Connection(other),
            };
            Op::Send {
                caller,
                selector,
                payload,
            }
        }
    }
}

/// A recording as the checker's history under `spec`.
pub fn to_history(spec: Spec, r: &Recording) -> History {
    let users: Vec<Option<&str>> = r.users.iter().map(Option::as_deref).collect();
    let mut h = History::new(spec, &users);
    for o in &r.ops {
        let end = match &o.end {
            Some(Ended::Completed { ts, result }) => End::Completed {
                ts: *ts,
                result: *result,
            },
            Some(Ended::GaveUp { ts, .. }) => End::Info { ts: *ts },
            None => End::Pending,
        };
        h.ops.push(hubspec_history::OpRecord {
            id: o.id,
            op: o.op.clone(),
            inv: o.inv,
            end,
        });
    }
    for (conn, events) in &r.streams {
        for e in events {
            match e {
                Event::Message { ts, payload } => h.deliver(*conn, *ts, payload),
                Event::Closed { ts } => h.close(*conn, *ts),
            }
        }
    }
    h
}

/// A history the part kept: its name and its JSON Lines (and its witness's, if it failed).
#[derive(Clone, Debug, Serialize)]
pub struct Kept {
    /// The file name, without `.jsonl`.
    pub name: String,
    /// The history.
    #[serde(skip)]
    pub jsonl: String,
    /// The witness a failure shrank to.
    #[serde(skip)]
    pub witness: Option<String>,
}

/// A failing history: its witness, for the report's timeline.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The kept history's name.
    pub name: String,
    /// The witness (the whole history when shrinking found nothing smaller).
    pub witness: History,
    /// The violation it shows.
    pub violation: Violation,
}

/// What the part did, for the report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ConcurrentStats {
    /// Histories recorded and checked.
    pub histories: u32,
    /// Operations in them.
    pub ops: usize,
    /// Deliveries in them.
    pub deliveries: usize,
    /// Histories whose search ran out of its budget (a failure, as in etcd's tests).
    pub unknown: u32,
    /// Histories that failed.
    pub failed: u32,
    /// The longest check of one history, in ms.
    pub worst_check_ms: f64,
    /// Every history, as JSON Lines (`concurrent/NAME.jsonl` in the report directory).
    pub kept: Vec<Kept>,
    /// The failing histories' witnesses (the report draws the first).
    #[serde(skip)]
    pub failures: Vec<Failure>,
}

impl ConcurrentStats {
    /// Adds `other`'s counts and histories.
    pub fn merge(&mut self, other: ConcurrentStats) {
        self.histories += other.histories;
        self.ops += other.ops;
        self.deliveries += other.deliveries;
        self.unknown += other.unknown;
        self.failed += other.failed;
        self.worst_check_ms = self.worst_check_ms.max(other.worst_check_ms);
        self.kept.extend(other.kept);
        self.failures.extend(other.failures);
    }
}

/// The verdict of one recorded history.
pub struct Judged {
    /// The history.
    pub history: History,
    /// The checker's report.
    pub report: hubspec_history::Report,
}

/// Records history `seed` against `target` and checks it; `Err` when the recording broke (a
/// connection that could not open, a marker that never came back) or is not a history the
/// checker accepts.
pub async fn record_and_check(target: &Target, seed: u64, size: &Size) -> Result<Judged, String> {
    let p = plan(seed, size);
    let recording = recorder::record(&target.config, &p, &format!("cc{seed}")).await;
    if let Some(broken) = &recording.broken {
        return Err(broken.clone());
    }
    let history = to_history(target.config.spec(), &recording);
    let report = check(&history, BUDGET).map_err(|e| e.to_string())?;
    Ok(Judged { history, report })
}

/// Runs the part against `target`: `size.histories` histories from a random base seed.
pub async fn run(
    target: &Target,
    size: &Size,
    progress: &dyn Progress,
) -> (ConcurrentStats, Vec<Finding>) {
    let base: u64 = rand::random::<u32>().into();
    let mut stats = ConcurrentStats::default();
    let mut findings = Vec::new();
    let profile = target.config.spec().profile;
    for i in 0..u64::from(size.histories) {
        let seed = base + i;
        let name = format!("{profile}-{seed}");
        match record_and_check(target, seed, size).await {
            Err(why) => {
                progress.advance(&name, false);
                findings.push(broken_finding(&name, &why));
            }
            Ok(judged) => {
                let passed = judged.report.verdict.passed();
                progress.advance(&name, passed);
                let h = &judged.history;
                stats.histories += 1;
                stats.ops += h.ops.len();
                stats.deliveries += h.streams.values().map(Vec::len).sum::<usize>();
                stats.worst_check_ms = stats
                    .worst_check_ms
                    .max(judged.report.elapsed.as_secs_f64() * 1e3);
                let mut kept = Kept {
                    name: name.clone(),
                    jsonl: to_jsonl(h),
                    witness: None,
                };
                match &judged.report.verdict {
                    Verdict::Linearizable => {}
                    Verdict::Unknown { conn } => {
                        stats.unknown += 1;
                        stats.failed += 1;
                        findings.push(unknown_finding(&name, *conn));
                    }
                    Verdict::Violations(vs) => {
                        stats.failed += 1;
                        let (witness, violation) = match shrink(h, BUDGET) {
                            Ok(Some(w)) => w,
                            _ => (h.clone(), vs[0].clone()),
                        };
                        kept.witness = Some(to_jsonl(&witness));
                        findings.push(violation_finding(&name, &witness, &violation));
                        stats.failures.push(Failure {
                            name: name.clone(),
                            witness,
                            violation,
                        });
                    }
                }
                stats.kept.push(kept);
            }
        }
    }
    (stats, findings)
}

/// A race fault hunted by the concurrent part.
#[derive(Clone, Debug)]
pub struct Hunt {
    /// The fault.
    pub fault: hubspec_refhub::Fault,
    /// Histories recorded until it was caught (or all of them).
    pub histories: u32,
    /// Wall time until it was caught (or of the whole hunt).
    pub elapsed: Duration,
    /// The first violation of the history that caught it (`None`: not caught).
    pub caught: Option<Violation>,
    /// Histories whose search ran out of its budget on the way.
    pub unknown: u32,
}

/// Hunts `fault` with the concurrent part on an embedded hub of its own (profile `core`):
/// histories from `seed` on until one fails, at most `max`.
pub async fn hunt(
    fault: hubspec_refhub::Fault,
    max: u32,
    size: &Size,
    seed: u64,
) -> Result<Hunt, crate::SuiteError> {
    let target = Target::embedded(
        hubspec_model::Profile::Core,
        std::collections::BTreeSet::from([fault]),
    )
    .await?;
    let start = std::time::Instant::now();
    let mut hunt = Hunt {
        fault,
        histories: 0,
        elapsed: Duration::ZERO,
        caught: None,
        unknown: 0,
    };
    for i in 0..u64::from(max) {
        hunt.histories += 1;
        let Ok(judged) = record_and_check(&target, seed + i, size).await else {
            continue;
        };
        match judged.report.verdict {
            Verdict::Violations(vs) => {
                hunt.caught = vs.into_iter().next();
                break;
            }
            Verdict::Unknown { .. } => hunt.unknown += 1,
            Verdict::Linearizable => {}
        }
    }
    hunt.elapsed = start.elapsed();
    target.shutdown().await;
    Ok(hunt)
}

/// The divergence kind a violation is grouped under with the suite's root causes.
fn kind(a: Anomaly) -> DivergenceKind {
    match a {
        Anomaly::Phantom => DivergenceKind::Unexpected,
        Anomaly::Duplicate => DivergenceKind::Duplicate,
        Anomaly::Reordered => DivergenceKind::Reordered,
        Anomaly::AfterClose | Anomaly::LateChange | Anomaly::LateEnd => DivergenceKind::Late,
        Anomaly::Hung => DivergenceKind::Protocol,
        Anomaly::ResumeGap | Anomaly::NoPoint => DivergenceKind::Lost,
    }
}

fn finding(name: &str, rule: &'static str, kind: DivergenceKind) -> Finding {
    Finding {
        case: format!("concurrent history {name}"),
        rules: vec![rule],
        kind,
        step: 0,
        op: None,
        op_kind: Some("concurrent"),
        expected: String::new(),
        observed: String::new(),
        transcript: String::new(),
        expected_transcript: String::new(),
        replay: String::new(),
        frames: Vec::new(),
    }
}

/// The command that re-checks a kept history (its path in the report directory).
pub fn recheck_command(name: &str) -> String {
    format!(
        "cargo run -p hubspec-history --example recheck -- concurrent/{name}.jsonl concurrent/{name}.witness.jsonl"
    )
}

fn violation_finding(name: &str, witness: &History, v: &Violation) -> Finding {
    Finding {
        expected: "a placement of every send and change within its interval that explains \
                   what each connection received (L1)"
            .into(),
        observed: format!("{} {}", v.anomaly.name(), v.detail),
        transcript: render(witness, std::slice::from_ref(v)),
        replay: recheck_command(name),
        ..finding(name, v.rule, kind(v.anomaly))
    }
}

fn unknown_finding(name: &str, conn: ConnId) -> Finding {
    Finding {
        expected: format!("a verdict within {} s", BUDGET.as_secs()),
        observed: format!("inconclusive: the search for {conn} ran out of its budget"),
        replay: recheck_command(name),
        ..finding(
            name,
            hubspec_history::verdict::CC_ATOMIC_SEND,
            DivergenceKind::Lost,
        )
    }
}

fn broken_finding(name: &str, why: &str) -> Finding {
    Finding {
        expected: "every connection opens and gets its own end-of-run marker back".into(),
        observed: why.to_string(),
        ..finding(name, "PRO-RESPONSIVE", DivergenceKind::Protocol)
    }
}

/// Writes every kept history (and witness) into `dir/concurrent/`.
pub fn write(
    dir: &std::path::Path,
    stats: &ConcurrentStats,
) -> std::io::Result<Vec<std::path::PathBuf>> {
    let sub = dir.join("concurrent");
    std::fs::create_dir_all(&sub)?;
    let mut written = Vec::new();
    for k in &stats.kept {
        let path = sub.join(format!("{}.jsonl", k.name));
        std::fs::write(&path, &k.jsonl)?;
        written.push(path);
        if let Some(w) = &k.witness {
            let path = sub.join(format!("{}.witness.jsonl", k.name));
            std::fs::write(&path, w)?;
            written.push(path);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_is_its_seed_and_every_payload_is_unique() {
        let size = Size::default();
        let a = plan(7, &size);
        assert_eq!(
            format!("{:?}", a.lanes),
            format!("{:?}", plan(7, &size).lanes)
        );
        assert_ne!(
            format!("{:?}", a.lanes),
            format!("{:?}", plan(8, &size).lanes)
        );
        let payloads: Vec<&str> = a
            .lanes
            .iter()
            .flatten()
            .filter_map(|o| match o {
                Op::Send { payload, .. } => Some(payload.as_str()),
                _ => None,
            })
            .collect();
        let unique: std::collections::BTreeSet<&&str> = payloads.iter().collect();
        assert_eq!(unique.len(), payloads.len());
        for (i, lane) in a.lanes.iter().enumerate() {
            let me = ConnId(i as u32 + 1);
            for (k, op) in lane.iter().enumerate() {
                let own = match op {
                    Op::Disconnect { conn } => {
                        assert_eq!(k, lane.len() - 1, "a disconnect ends its lane");
                        *conn
                    }
                    other => other.caller().unwrap(),
                };
                assert_eq!(own, me);
            }
        }
    }
}
