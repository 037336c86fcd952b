//! Keeps the book's per-rule pages in step with the model.
//!
//! `cargo run -p hubspec-model --example docs -- [--check] [DOCS_SRC]`
//!
//! For every rule in the catalog it maintains `DOCS_SRC/rules/<RULE-ID>.md` (default `DOCS_SRC`:
//! the book's `docs/src`): it rewrites only the generated blocks (statement header, sources,
//! example transcripts) and creates a skeleton for a rule without a page. It also regenerates
//! the rules index in `rules/README.md` and the rules' chapters in `SUMMARY.md`.
//!
//! With `--check` it writes nothing and exits 1 listing every page whose generated blocks
//! differ from the model's output, every rule without a page and every page for no rule.
//! Both modes also list, and exit 1 for, every page whose example changed since its prose was
//! reviewed: its `<!-- prose reviewed: HASH -->` line is a person's to update, after reading the
//! prose against the example, never the generator's. `model/tests/docs.rs` runs the same checks
//! in `cargo test`.

#[path = "support/docs_gen.rs"]
mod docs_gen;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut check = false;
    let mut dir = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check = true,
            "-h" | "--help" => {
                println!(
                    "usage: cargo run -p hubspec-model --example docs -- [--check] [DOCS_SRC]"
                );
                return ExitCode::SUCCESS;
            }
            a if a.starts_with('-') => {
                eprintln!("docs: unknown option {a} (expected --check)");
                return ExitCode::from(2);
            }
            a => dir = Some(PathBuf::from(a)),
        }
    }
    let dir =
        dir.unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/src")));
    let dir = dir.canonicalize().unwrap_or(dir);
    if !dir.join("SUMMARY.md").is_file() {
        eprintln!(
            "docs: {} is not the book's src directory (no SUMMARY.md)",
            dir.display()
        );
        return ExitCode::from(2);
    }
    let plan = docs_gen::plan(&dir);
    if check {
        if plan.is_clean() {
            println!(
                "docs: {} rule pages are in step with the model",
                hubspec_model::RULES.len()
            );
            return ExitCode::SUCCESS;
        }
        if !plan.is_generated_clean() {
            for line in plan.report() {
                eprintln!("{line}");
            }
            eprintln!(
                "docs: the book is out of step with the model: {}",
                docs_gen::HOW_TO_FIX
            );
        }
        report_unreviewed(&plan);
        return ExitCode::FAILURE;
    }
    for c in &plan.changes {
        let verb = if c.current.is_none() {
            "created"
        } else {
            "updated"
        };
        println!("{verb} {}", c.path.display());
    }
    if let Err(e) = plan.apply() {
        eprintln!("docs: {e}");
        return ExitCode::FAILURE;
    }
    println!(
        "docs: {} files written, {} rules",
        plan.changes.len(),
        hubspec_model::RULES.len()
    );
    for p in &plan.problems {
        eprintln!("{p}");
    }
    if !plan.problems.is_empty() {
        eprintln!("docs: generated blocks written; resolve the problems above by hand");
    }
    report_unreviewed(&plan);
    if plan.problems.is_empty() && plan.unreviewed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Lists the pages whose prose must be re-read against their changed example, if any.
fn report_unreviewed(plan: &docs_gen::Plan) {
    if plan.unreviewed.is_empty() {
        return;
    }
    for line in plan.review_report() {
        eprintln!("{line}");
    }
    eprintln!(
        "docs: rule pages to re-read ({}): {}",
        plan.unreviewed.len(),
        docs_gen::HOW_TO_REVIEW
    );
}
