//! `hubspec bench concurrency`: the concurrent part's figures (issue 16), medians of `--runs`.
//!
//! - on the correct reference hub, `--histories` concurrent histories per run (default
//!   5 lanes × 12 operations): histories and operations checked per second of checking time,
//!   the worst check time, the Unknown count and the false failures (both must be 0);
//! - for each race fault (`Fault::RACE`), the time and the histories it takes the part to
//!   catch it, from a different seed each run, and the rule it is blamed on.

use super::bench::BenchArgs;
use super::{fail, Exit};
use hubspec_conformance::concurrent::{hunt, record_and_check, Size};
use hubspec_conformance::Target;
use hubspec_model::Profile;
use hubspec_refhub::Fault;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// One run on the correct hub.
#[derive(Default)]
struct Clean {
    histories: u32,
    ops: usize,
    checking: Duration,
    worst: Duration,
    unknown: u32,
    failed: Vec<String>,
    broken: u32,
    wall: Duration,
}

async fn clean_run(histories: u32, seed: u64) -> Result<Clean, String> {
    let target = Target::embedded(Profile::Core, BTreeSet::new())
        .await
        .map_err(|e| e.to_string())?;
    let size = Size::default();
    let mut c = Clean::default();
    let start = Instant::now();
    for i in 0..u64::from(histories) {
        match record_and_check(&target, seed + i, &size).await {
            Err(_) => c.broken += 1,
            Ok(j) => {
                c.histories += 1;
                c.ops += j.history.ops.len();
                c.checking += j.report.elapsed;
                c.worst = c.worst.max(j.report.elapsed);
                match &j.report.verdict {
                    hubspec_history::Verdict::Linearizable => {}
                    hubspec_history::Verdict::Unknown { .. } => c.unknown += 1,
                    hubspec_history::Verdict::Violations(vs) => {
                        c.failed.push(format!("seed {}: {}", seed + i, vs[0]))
                    }
                }
            }
        }
    }
    c.wall = start.elapsed();
    target.shutdown().await;
    Ok(c)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `hubspec bench concurrency`; fails when the correct hub fails a history or one is Unknown,
/// or a race fault is not caught.
pub fn concurrency(args: &BenchArgs) -> Exit {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(Exit::Usage, format!("cannot start the runtime: {e}")),
    };
    let runs = args.runs.max(1);
    let seed = args.seed.unwrap_or_else(|| rand::random::<u32>().into());
    println!(
        "hubspec bench concurrency: medians of {runs} runs, {} histories each on the correct hub, --seed {seed}",
        args.histories
    );
    let mut bad = Vec::new();
    let (mut hps, mut ops, mut worst, mut rec) = (vec![], vec![], vec![], vec![]);
    let (mut total, mut unknown, mut broken) = (0, 0, 0);
    for r in 0..runs {
        let c = match rt.block_on(clean_run(args.histories, seed + r as u64 * 1_000_000)) {
            Ok(c) => c,
            Err(e) => return fail(Exit::Failure, e),
        };
        let secs = c.checking.as_secs_f64().max(1e-9);
        hps.push(f64::from(c.histories) / secs);
        ops.push(c.ops as f64 / secs);
        worst.push(c.worst.as_secs_f64() * 1e3);
        rec.push(f64::from(c.histories) / c.wall.as_secs_f64());
        total += c.histories;
        unknown += c.unknown;
        broken += c.broken;
        bad.extend(c.failed);
        println!(
            "  run {}: {} histories ({} ops) in {:.1} s, checking {:.2} s, worst {:.2} ms, {} unknown, {} failed",
            r + 1,
            c.histories,
            c.ops,
            c.wall.as_secs_f64(),
            secs,
            c.worst.as_secs_f64() * 1e3,
            c.unknown,
            bad.len()
        );
    }
    println!(
        "{:<52} median {:>10.0}",
        "histories checked/s (checking time)",
        median(hps)
    );
    println!(
        "{:<52} median {:>10.0}",
        "operations checked/s (checking time)",
        median(ops)
    );
    println!(
        "{:<52} median {:>10.2}",
        "worst check of one history, ms",
        median(worst)
    );
    println!(
        "{:<52} median {:>10.1}",
        "histories recorded and checked/s (wall)",
        median(rec)
    );
    println!(
        "{:<52}        {total} histories, {} false failures, {unknown} unknown, {broken} broken recordings",
        "correct refhub",
        bad.len()
    );
    for fault in Fault::RACE {
        let (mut secs, mut hist, mut rules) = (vec![], vec![], BTreeSet::new());
        for r in 0..runs {
            let h = match rt.block_on(hunt(fault, 200, &Size::default(), seed + r as u64 * 7919)) {
                Ok(h) => h,
                Err(e) => return fail(Exit::Failure, e.to_string()),
            };
            match &h.caught {
                Some(v) => {
                    secs.push(h.elapsed.as_secs_f64());
                    hist.push(f64::from(h.histories));
                    rules.insert(v.rule);
                    if !fault.breaks().contains(&v.rule) {
                        bad.push(format!("{} blamed on {}", fault.name(), v.rule));
                    }
                }
                None => bad.push(format!("{} not caught in 200 histories", fault.name())),
            }
        }
        println!(
            "{:<52} median {:>8.3} s  {:>5.0} histories  blamed on {}",
            format!("time to catch {}", fault.name()),
            median(secs),
            median(hist),
            rules.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    if bad.is_empty() && unknown == 0 {
        Exit::Success
    } else {
        fail(Exit::Failure, format!("{unknown} unknown; {bad:#?}"))
    }
}
