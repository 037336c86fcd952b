//! hubspec-conformance: the conformance suite. Every rule of the catalog checked against a
//! SignalR hub — the embedded reference hub by default, or any server named by
//! `HUBSPEC_URL` / `HUBSPEC_CONFIG` — three ways: each rule's scenarios, random histories from
//! the model, and every transition of the model's bounded graph; plus mutants of the
//! reference hub that the suite must catch. The `hubspec` binary (src/main.rs) is its CLI.
//!
//! Module map:
//! - [`target`]: the server under test (configured, or the embedded refhub) and its restarter.
//! - [`case`]: one history run against a target and compared with the model.
//! - [`scenario`]: each rule's scenarios; which are applicable; allowed variants.
//! - [`concurrent`]: the concurrent part: K connections act at once, the recorded history is
//!   checked at L1 by `hubspec-history`, a failure shrunk to a witness; histories kept as JSONL.
//! - [`crash`]: kill -9 of a `hubspec serve --rooms-db` process at seeded random moments
//!   during room churn; records lost, databases corrupted, first connections not restored.
//! - [`variants`]: the variant a target serves, found by a probe history before the run: an
//!   unstated one is an allowed variant, a contradicted one a finding; the run goes on under it.
//! - [`probes`]: the `PRO-` rules, checked with a bare client.
//! - [`properties`]: proptest-state-machine over the model, the target as system under test.
//! - [`exhaustive`]: walks covering every transition of the model's bounded graph.
//! - [`mutants`]: refhub with each fault; detection figures.
//! - [`precision`]: the precision matrix: which rules the suite fails and blocks for each
//!   fault (and pairs), against what the faults declare.
//! - [`shrink`]: removing operations from a failing history, renumbering connections; a
//!   failing case's minimal counterexample.
//! - [`diagnosis`]: experiments that decide a minimal counterexample's rule when its history
//!   cannot (a membership change that lands late).
//! - [`root_causes`]: each case's first divergence, grouped by signature; what fails a rule
//!   and what blocks one.
//! - [`suite`]: the orchestration and the verdict per rule.
//! - [`expected`]: expected verdicts per known target, kept as data keyed by rule ID.
//! - [`report`]: the report data (what `report.json` serialises) and the one text form of a
//!   finding; [`report_json`], [`report_junit`] and [`report_html`] write it.
//! - [`error`]: [`SuiteError`], why a run produced no verdicts.

pub mod case;
pub mod concurrent;
pub mod crash;
pub mod diagnosis;
pub mod error;
pub mod exhaustive;
pub mod expected;
pub mod mutants;
pub mod precision;
pub mod probes;
pub mod properties;
pub mod report;
pub mod report_html;
pub mod report_json;
pub mod report_junit;
pub mod root_causes;
pub mod scenario;
pub mod shrink;
pub mod suite;
pub mod target;
pub mod variants;

pub use error::SuiteError;
pub use report::{RuleReport, RunReport, Verdict};
pub use suite::{replay, run_suite, Part, Plan, Progress, Quiet};
pub use target::Target;
