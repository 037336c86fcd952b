//! `hubspec run`: the conformance suite against a target, with live progress, the verdict
//! table, the reports and an exit code a CI job can trust.
//!
//! A run that cannot say anything is never a pass: a `--only` that matches no rule exits 2
//! before any hub is started, and so does a run in which every selected rule was not
//! applicable. An unreachable target exits 3, distinct from a failing one (1).

use super::progress::BarProgress;
use super::target::{targets, TargetArgs};
use super::{fail, table, Exit};
use clap::{Args, ValueEnum};
use hubspec_conformance::report::RunReport;
use hubspec_conformance::{report_html, report_json, report_junit};
use hubspec_conformance::{run_suite, Part, Plan, SuiteError};
use hubspec_model::RULES;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The parts of the suite, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PartArg {
    /// One or more hand-written scenarios per rule.
    Scenarios,
    /// Random histories from the model, shrunk on failure.
    Properties,
    /// Every transition of a small bounded universe, walked over the wire.
    Exhaustive,
    /// The embedded hub with each refhub fault: the suite must catch every one.
    Mutants,
    /// Several connections at once; each recorded history checked at L1.
    Concurrent,
}

impl From<PartArg> for Part {
    fn from(p: PartArg) -> Part {
        match p {
            PartArg::Scenarios => Part::Scenarios,
            PartArg::Properties => Part::Properties,
            PartArg::Exhaustive => Part::Exhaustive,
            PartArg::Mutants => Part::Mutants,
            PartArg::Concurrent => Part::Concurrent,
        }
    }
}

/// `hubspec run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Only these rules: an ID (GRP-ADD-IDEMPOTENT) or an area prefix ending in a dash (GRP-,
    /// SND-); repeatable or comma-separated. A filter that matches no rule is an error (exit 2).
    #[arg(long, value_name = "RULE", num_args = 1.., value_delimiter = ',')]
    pub only: Vec<String>,
    /// Random histories in the property-based part (default: `HUBSPEC_CASES`, else 32).
    #[arg(long, value_name = "N", default_value_t = Plan::from_env().cases)]
    pub cases: u32,
    /// Concurrent histories per target in the concurrent part (default:
    /// `HUBSPEC_CC_HISTORIES`, else 16).
    #[arg(long, value_name = "N", default_value_t = Plan::from_env().concurrent.histories)]
    pub histories: u32,
    /// Cases run at once against one target (cases that need the hub to themselves always
    /// run alone).
    #[arg(long, value_name = "N", default_value_t = Plan::default().parallel)]
    pub jobs: usize,
    /// Run only these parts (repeatable; default: all of them).
    #[arg(long = "part", value_enum, value_name = "PART")]
    pub parts: Vec<PartArg>,
    /// Write report.json, junit.xml and report.html into this directory.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// List the rules (ID, capability, statement) and exit.
    #[arg(long)]
    pub list: bool,
}

/// The `--only` filters, upper-cased, each checked against the catalog with the suite's own
/// matching ([`Plan::rules`]: an exact ID, or a prefix ending in `-`).
pub fn selection(only: &[String]) -> Result<Vec<String>, String> {
    let filters: Vec<String> = only
        .iter()
        .map(|f| f.trim().to_ascii_uppercase())
        .filter(|f| !f.is_empty())
        .collect();
    if !only.is_empty() && filters.is_empty() {
        return Err(SuiteError::NothingMatched(format!("{only:?}")).to_string());
    }
    let plan = Plan {
        only: filters,
        ..Plan::default()
    };
    plan.rules().map_err(|e| e.to_string())?;
    Ok(plan.only)
}

fn list() -> Exit {
    for r in RULES {
        let needs = r
            .needs
            .map_or(String::new(), |c| format!(" [needs {}]", c.name()));
        println!("{:<32} {}{needs}", r.id, r.statement);
    }
    Exit::Success
}

/// Writes the three reports, and the concurrent part's histories into `concurrent/`; the
/// reports' paths.
pub fn write_reports(dir: &Path, report: &RunReport) -> std::io::Result<Vec<PathBuf>> {
    let written = vec![
        report_json::write(dir, report)?,
        report_junit::write(dir, report)?,
        report_html::write(dir, report)?,
    ];
    if let Some(stats) = &report.concurrent {
        hubspec_conformance::concurrent::write(dir, stats)?;
    }
    Ok(written)
}

/// The exit code of a finished run.
pub fn outcome(report: &RunReport) -> Exit {
    if report.counts().fail == 0 && !report.checked_anything() {
        return super::fail(Exit::Usage, SuiteError::NothingChecked);
    }
    if report.passed() {
        Exit::Success
    } else {
        Exit::Failure
    }
}

/// Runs `hubspec run`.
pub async fn run(args: RunArgs) -> Exit {
    if args.list {
        return list();
    }
    let only = match selection(&args.only) {
        Ok(only) => only,
        Err(message) => return fail(Exit::Usage, message),
    };
    let parts: BTreeSet<Part> = args.parts.iter().map(|p| Part::from(*p)).collect();
    let plan = Plan {
        only,
        cases: args.cases,
        parallel: args.jobs.max(1),
        concurrent: hubspec_conformance::concurrent::Size {
            histories: args.histories,
            ..Plan::default().concurrent
        },
        parts: if parts.is_empty() {
            Plan::default().parts
        } else {
            parts
        },
    };
    let targets = match targets(&args.target).await {
        Ok(t) => t,
        Err(exit) => return exit,
    };
    let progress = BarProgress::new();
    for t in &targets {
        progress.line(&format!("target: {}", t.describe()));
    }
    let result = run_suite(&targets, &plan, &progress).await;
    progress.finish();
    for t in targets {
        t.shutdown().await;
    }
    let report = match result {
        Ok(report) => report,
        Err(e @ SuiteError::Unreachable { .. }) => return fail(Exit::Unreachable, e),
        Err(e) => return fail(Exit::Usage, e),
    };
    print!("{}", table::render(&report));
    if let Some(dir) = &args.report_dir {
        match write_reports(dir, &report) {
            Ok(paths) => {
                let names: Vec<_> = paths.iter().map(|p| p.display().to_string()).collect();
                println!("reports: {}", names.join(", "));
            }
            Err(e) => {
                return fail(
                    Exit::Usage,
                    format!("cannot write the reports into {}: {e}", dir.display()),
                )
            }
        }
    }
    let exit = outcome(&report);
    println!(
        "{}",
        match exit {
            Exit::Success => "PASSED: every applicable rule passed",
            Exit::Failure => "FAILED",
            _ => "NOTHING CHECKED",
        }
    );
    exit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_must_match_a_rule() {
        assert_eq!(
            selection(&["grp-".into()]).unwrap(),
            vec!["GRP-".to_string()]
        );
        assert!(
            selection(&["GRP".into()]).is_err(),
            "a prefix ends with a dash"
        );
        assert!(selection(&["GRP-ADD-IDEMPOTENT".into()]).is_ok());
        let err = selection(&["NOPE".into()]).unwrap_err();
        assert!(
            err.contains("NOPE") && err.contains("matches no rule"),
            "{err}"
        );
        assert!(selection(&["GRP-".into(), "NOPE".into()]).is_err());
        assert!(selection(&[" ".into()]).is_err());
        assert!(selection(&[]).unwrap().is_empty());
    }
}
