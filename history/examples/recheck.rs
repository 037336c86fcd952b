//! Re-check a kept history: read its JSON Lines, print the verdict, and for a failure the
//! shrunk witness as a timeline (and as JSON Lines, to keep, when a second path is given).
//! Exit status: 0 linearizable, 1 violated or unknown, 2 unreadable.
//!
//! `cargo run -p hubspec-history --example recheck -- HISTORY.jsonl [WITNESS.jsonl]`

use hubspec_history::jsonl::{from_jsonl, to_jsonl};
use hubspec_history::{check, render, shrink, Verdict};
use std::process::ExitCode;
use std::time::Duration;

const BUDGET: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: recheck HISTORY.jsonl [WITNESS.jsonl]");
        return ExitCode::from(2);
    };
    let read = std::fs::File::open(path)
        .map_err(hubspec_history::HistoryError::from)
        .and_then(|f| from_jsonl(std::io::BufReader::new(f)));
    let h = match read {
        Ok(h) => h,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match check(&h, BUDGET) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "{path}: {} operations, {} connections searched, {} states, {:.1} ms",
        h.ops.len(),
        report.searched,
        report.states,
        report.elapsed.as_secs_f64() * 1e3
    );
    match &report.verdict {
        Verdict::Linearizable => {
            println!("linearizable (L1)");
            return ExitCode::SUCCESS;
        }
        Verdict::Unknown { conn } => {
            println!("UNKNOWN: the search for {conn} ran out of its {BUDGET:?} budget");
            return ExitCode::FAILURE;
        }
        Verdict::Violations(vs) => vs.iter().for_each(|v| println!("{v}")),
    }
    if let Ok(Some((witness, v))) = shrink(&h, BUDGET) {
        println!("\nwitness ({} operations):\n", witness.ops.len());
        print!("{}", render(&witness, std::slice::from_ref(&v)));
        if let Some(out) = args.get(1) {
            if let Err(e) = std::fs::write(out, to_jsonl(&witness)) {
                eprintln!("{out}: {e}");
            }
        }
    }
    ExitCode::FAILURE
}
