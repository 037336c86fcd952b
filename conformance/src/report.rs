//! What a run found: a verdict per rule, with the evidence. Serialised as `report.json`
//! (schema in docs/src/report-schema.md); the JUnit and HTML reports are views of it.

use hubspec_harness::DivergenceKind;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// The verdict on one rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Every case that checks the rule ran and matched the model.
    Pass,
    /// A root cause is blamed on the rule: the first divergence of some case (shrunk to a
    /// minimal counterexample where the part shrinks) is decided by this rule.
    Fail,
    /// No root cause is blamed on the rule, but some of its cases could not be judged: a root
    /// cause blamed on another rule diverged first. Neither pass nor fail.
    Blocked {
        /// The rules whose root causes stopped the cases, in catalog order.
        blocked_by: Vec<&'static str>,
    },
    /// The rule needs a capability or a profile the target does not declare: nothing was
    /// checked, and nothing is claimed.
    NotApplicable {
        /// Why, e.g. "needs capability rooms" or "stated for profile core only".
        reason: String,
    },
    /// The target does not match the declared variant but matches another variant the spec
    /// admits (e.g. declared `groups_fanout = per-group`, behaves as `once`).
    AllowedVariant {
        /// Which variant the target showed, e.g. "groups_fanout = once".
        variant: String,
    },
}

impl Verdict {
    /// The verdict's short name: pass, fail, blocked, not-applicable, allowed-variant.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Blocked { .. } => "blocked",
            Verdict::NotApplicable { .. } => "not-applicable",
            Verdict::AllowedVariant { .. } => "allowed-variant",
        }
    }

    /// Whether the verdict counts against the target.
    pub fn is_failure(&self) -> bool {
        matches!(self, Verdict::Fail)
    }

    /// Whether anything was judged (pass, fail and allowed variant): not a rule that did not
    /// apply, nor one whose cases were all stopped by other root causes.
    pub fn was_checked(&self) -> bool {
        !matches!(
            self,
            Verdict::NotApplicable { .. } | Verdict::Blocked { .. }
        )
    }
}

/// One divergence, as evidence for a failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The case it came from, e.g. `scenario GRP-ADD-IDEMPOTENT/twice (core-stateful)`.
    pub case: String,
    /// The IDs of the rules it violates, most specific first.
    pub rules: Vec<&'static str>,
    /// What kind of difference; report.json has its name (`duplicate`, `broken barrier`, …).
    #[serde(serialize_with = "ser_kind")]
    pub kind: DivergenceKind,
    /// The 1-based step.
    pub step: usize,
    /// The step's operation in transcript form.
    pub op: Option<String>,
    /// The step's operation kind ([`hubspec_model::Op::kind`]: `AddToGroup`, `SendToGroup`, …),
    /// part of a root cause's signature; `None` for a finding outside any step (a probe, a
    /// session that could not run).
    pub op_kind: Option<&'static str>,
    /// What the model says.
    pub expected: String,
    /// What the target did.
    pub observed: String,
    /// The observed transcript up to the step: minimal when the history was shrunk (a
    /// scenario, a property counterexample, an exhaustive walk's shrunk failure).
    pub transcript: String,
    /// The model's transcript of the same history.
    pub expected_transcript: String,
    /// A command line that replays the history ([`crate::Target::replay_command`]), or for a
    /// probe reruns it ([`crate::Target::run_command`]).
    pub replay: String,
    /// Raw wire frames of the connections concerned.
    pub frames: Vec<String>,
}

impl Finding {
    /// The first line of [`Display`](fmt::Display): rules, step, operation and kind, as in
    /// `[GRP-ADD-IDEMPOTENT, SND-EXACTLY-ONCE] step 4 (c2: SendToGroup("g", "m")): duplicate`.
    pub fn header(&self) -> String {
        let mut s = format!("[{}] step {}", self.rules.join(", "), self.step);
        if let Some(op) = &self.op {
            s.push_str(&format!(" ({op})"));
        }
        s.push_str(&format!(": {}", self.kind.name()));
        s
    }
}

/// The one text form of a finding, which the console, JUnit, `cargo test` and
/// `hubspec replay` all print: the [header](Finding::header), then (indented) the case,
/// expected and observed, the transcripts, the replay command and the raw frames.
impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.header())?;
        writeln!(f, "  case: {}", self.case)?;
        writeln!(f, "  expected: {}", self.expected)?;
        writeln!(f, "  observed: {}", self.observed)?;
        for (name, text) in [
            ("observed transcript", &self.transcript),
            ("expected transcript", &self.expected_transcript),
        ] {
            if !text.trim().is_empty() {
                writeln!(f, "  {name}:")?;
                for line in text.trim_end().lines() {
                    writeln!(f, "    {line}")?;
                }
            }
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

/// One root cause: the first divergence of one or more cases, blamed on one rule. Cases whose
/// first divergence has the same signature (rule, operation kind, divergence kind) share it;
/// its evidence is the shortest of their findings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RootCause {
    /// The rule blamed: the first of the finding's rules, the one that decides its step.
    pub rule: &'static str,
    /// The operation kind of the diverging step (`None` outside a step).
    pub op_kind: Option<&'static str>,
    /// The kind of divergence.
    #[serde(serialize_with = "ser_kind")]
    pub kind: DivergenceKind,
    /// How many cases (scenarios, probes, random histories, walks) hit it.
    pub cases: usize,
    /// The minimal counterexample: the shortest finding with this signature.
    pub finding: Finding,
}

impl RootCause {
    /// The signature cases are grouped by.
    pub fn signature(&self) -> (&'static str, Option<&'static str>, DivergenceKind) {
        (self.rule, self.op_kind, self.kind)
    }

    /// One line: `GRP-ADD-IDEMPOTENT: duplicate at SendToGroup (3 cases)`.
    pub fn summary(&self) -> String {
        let at = self.op_kind.map_or(String::new(), |k| format!(" at {k}"));
        let n = if self.cases == 1 { "case" } else { "cases" };
        format!(
            "{}: {}{at} ({} {n})",
            self.rule,
            self.kind.name(),
            self.cases
        )
    }
}

/// How many rules got each verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Pass.
    pub pass: usize,
    /// Fail.
    pub fail: usize,
    /// Blocked by another rule's root cause.
    pub blocked: usize,
    /// Not applicable.
    pub not_applicable: usize,
    /// Allowed variant.
    pub allowed_variant: usize,
}

/// The result of one rule.
#[derive(Clone, Debug, Serialize)]
pub struct RuleReport {
    /// The rule's ID.
    pub id: String,
    /// Its statement.
    pub statement: String,
    /// The verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Time spent on the cases named after the rule.
    #[serde(serialize_with = "ser_ms", rename = "duration_ms")]
    pub duration: Duration,
    /// How many cases checked it (scenarios and probes named after it).
    pub cases: usize,
    /// Evidence for a failure: the minimal counterexample of each root cause blamed on the
    /// rule (the shortest first), at most a handful.
    pub findings: Vec<Finding>,
}

/// Transition coverage of the bounded-exhaustive part.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Coverage {
    /// The bounds explored, in words.
    pub bounds: String,
    /// Reachable (state, operation) transitions within the bounds.
    pub transitions: usize,
    /// Transitions run against the target without divergence.
    pub covered: usize,
    /// Transitions that could be covered around the target's deviations: neither excluded nor
    /// reachable only through an excluded one (all of them on a target that does not deviate).
    pub coverable: usize,
    /// Transitions excluded because a walk diverged on them, per rule its root cause blamed.
    pub excluded: BTreeMap<&'static str, usize>,
    /// Walks (sessions) run.
    pub walks: usize,
    /// Operations sent.
    pub ops: usize,
}

impl Coverage {
    /// Covered transitions as a percentage.
    pub fn percent(&self) -> f64 {
        if self.transitions == 0 {
            0.0
        } else {
            100.0 * self.covered as f64 / self.transitions as f64
        }
    }

    /// Covered transitions as a percentage of the coverable ones.
    pub fn percent_of_coverable(&self) -> f64 {
        if self.coverable == 0 {
            0.0
        } else {
            100.0 * self.covered as f64 / self.coverable as f64
        }
    }

    /// `, 31 excluded (SND-GROUP 30, SND-FIFO 1): 98.2 % of the 29000 coverable`, or nothing
    /// when nothing was excluded.
    pub fn excluded_text(&self) -> String {
        if self.excluded.is_empty() {
            return String::new();
        }
        let by_rule: Vec<String> = self
            .excluded
            .iter()
            .map(|(rule, n)| format!("{rule} {n}"))
            .collect();
        format!(
            "; {} excluded where the target diverged ({}): {:.1} % of the {} coverable",
            self.excluded.values().sum::<usize>(),
            by_rule.join(", "),
            self.percent_of_coverable(),
            self.coverable
        )
    }
}

/// The property-based part.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PropertyStats {
    /// Random histories run.
    pub cases: u32,
    /// Operations sent in all.
    pub ops: usize,
    /// The shrunk failing history, if any.
    pub counterexample: Option<Finding>,
}

/// One mutant (a refhub fault) and how fast the suite caught it.
#[derive(Clone, Debug, Serialize)]
pub struct MutantReport {
    /// The fault's name.
    pub fault: String,
    /// The rules the fault breaks.
    pub breaks: Vec<String>,
    /// Whether a divergence naming one of those rules was reported.
    pub detected: bool,
    /// Which part caught it first: probe, scenario, properties or exhaustive.
    pub by: Option<String>,
    /// Time to the first detection.
    #[serde(serialize_with = "ser_ms", rename = "time_to_detection_ms")]
    pub time_to_detection: Duration,
    /// Operations sent until the first detection.
    pub ops_to_detection: usize,
    /// Length of the shrunk counterexample.
    pub shrunk_len: Option<usize>,
    /// The shrunk counterexample's transcript.
    pub counterexample: Option<String>,
}

/// Everything one run found.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// The hubspec version.
    pub hubspec_version: String,
    /// The target, as given (URL(s), or "embedded refhub").
    pub target: String,
    /// The specs the target was checked under (profile + variants, e.g. "profile core, groups_fanout per-group").
    pub specs: Vec<String>,
    /// Seconds since the Unix epoch when the run started.
    pub started_unix: u64,
    /// Wall time of the whole run.
    #[serde(serialize_with = "ser_ms", rename = "duration_ms")]
    pub duration: Duration,
    /// The root causes of every divergence, the most cases first: what a reader fixes.
    pub root_causes: Vec<RootCause>,
    /// One entry per rule in catalog order (filtered by `--only`).
    pub rules: Vec<RuleReport>,
    /// Bounded-exhaustive coverage, when that part ran.
    pub coverage: Option<Coverage>,
    /// The property-based part, when it ran.
    pub properties: Option<PropertyStats>,
    /// Mutants, when that part ran (embedded refhub only).
    pub mutants: Option<Vec<MutantReport>>,
    /// The concurrent part, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrent: Option<crate::concurrent::ConcurrentStats>,
    /// Root causes blamed on rules outside `--only` (their minimal findings, the shortest
    /// ten): kept, and they fail the run, since the target diverged.
    pub unselected_findings: Vec<Finding>,
}

impl RunReport {
    /// How many rules got each verdict.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for r in &self.rules {
            match r.verdict {
                Verdict::Pass => c.pass += 1,
                Verdict::Fail => c.fail += 1,
                Verdict::Blocked { .. } => c.blocked += 1,
                Verdict::NotApplicable { .. } => c.not_applicable += 1,
                Verdict::AllowedVariant { .. } => c.allowed_variant += 1,
            }
        }
        c
    }

    /// Whether the run checked something: a rule passed, showed an allowed variant or was
    /// blocked (its cases ran into another rule's root cause), or a
    /// part that checks the target as a whole (properties, exhaustive, mutants) ran. A run with
    /// only the scenario part whose every rule was not applicable checked nothing.
    pub fn checked_anything(&self) -> bool {
        let c = self.counts();
        // A blocked rule's cases ran and diverged: the target was checked, and failed.
        c.pass + c.allowed_variant + c.blocked > 0
            || self.coverage.is_some()
            || self.properties.is_some()
            || self.mutants.is_some()
            || self.concurrent.as_ref().is_some_and(|c| c.histories > 0)
    }

    /// Whether every applicable rule passed (or showed an allowed variant), at least one rule
    /// was checked, coverage (if measured) is complete, no divergence was found outside the
    /// selected rules and every mutant (if run) was caught.
    pub fn passed(&self) -> bool {
        let c = self.counts();
        c.fail == 0
            && c.blocked == 0
            && self.checked_anything()
            && self.unselected_findings.is_empty()
            && self
                .coverage
                .as_ref()
                .is_none_or(|c| c.transitions > 0 && c.covered == c.transitions)
            && self
                .properties
                .as_ref()
                .is_none_or(|p| p.counterexample.is_none())
            && self
                .mutants
                .as_ref()
                .is_none_or(|m| m.iter().all(|m| m.detected))
    }
}

fn ser_kind<S: serde::Serializer>(kind: &DivergenceKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.name())
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report_json::fixtures::{passing_report, sample_report};

    #[test]
    fn incomplete_coverage_fails_the_run() {
        let mut r = passing_report();
        assert!(r.passed());
        let mut c = sample_report().coverage.unwrap();
        c.covered = c.transitions - 1;
        r.coverage = Some(c.clone());
        assert!(!r.passed(), "coverage below 100 %");
        c.covered = c.transitions;
        r.coverage = Some(c.clone());
        assert!(r.passed());
        c.transitions = 0;
        c.covered = 0;
        r.coverage = Some(c);
        assert!(!r.passed(), "an empty graph covers nothing");
    }

    /// One text form: the header names rules, step, operation and kind in that order, and
    /// the body carries expected, observed, transcripts, replay and frames.
    #[test]
    fn a_finding_has_one_text_form() {
        let f = sample_report().rules[0].findings[0].clone();
        assert_eq!(
            f.header(),
            "[GRP-ADD-IDEMPOTENT, SND-EXACTLY-ONCE] step 4 (c2 SendToGroup(\"g<1>\", \"p-4\")): duplicate"
        );
        let text = f.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], f.header());
        for want in [
            "  case: scenario GRP-ADD-IDEMPOTENT/twice (core)",
            "  expected: c1: Receive(\"p-4\") x1",
            "  observed transcript:",
            "     1. c1 Connect -> ok",
            "  expected transcript:",
            "  frames:",
        ] {
            assert!(lines.contains(&want), "{want:?} in:\n{text}");
        }
        assert!(lines.contains(&format!("  replay: {}", f.replay).as_str()));
    }

    /// The typed kind keeps report.json's names: the same text as before it was typed.
    #[test]
    fn a_finding_kind_is_its_name_in_json() {
        let mut f = sample_report().rules[0].findings[0].clone();
        assert_eq!(serde_json::to_value(&f).unwrap()["kind"], "duplicate");
        f.kind = DivergenceKind::BrokenBarrier;
        assert_eq!(serde_json::to_value(&f).unwrap()["kind"], "broken barrier");
        assert_eq!(
            serde_json::to_value(&f).unwrap()["rules"],
            serde_json::json!(["GRP-ADD-IDEMPOTENT", "SND-EXACTLY-ONCE"])
        );
    }

    #[test]
    fn a_divergence_outside_the_selected_rules_fails_the_run() {
        let mut r = passing_report();
        let finding = sample_report().rules[0].findings[0].clone();
        r.unselected_findings.push(finding);
        assert!(!r.passed());
    }
}
