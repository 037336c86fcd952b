//! Root causes: every case judged up to its first divergence, and cases grouped by what that
//! divergence is.
//!
//! A server with one bug makes many cases diverge, and after the first divergence of a
//! history the model and the server are in different states, so whatever the history shows
//! later is an echo, not evidence. Each case therefore counts only its first divergence
//! ([`first_divergence`]); its first rule (the harness's blame puts the rule that decides the
//! step first) is the rule the case blames. Cases with the same signature (rule, operation
//! kind, divergence kind) are one [`RootCause`], shown by its shortest finding. A rule fails
//! only when a root cause is blamed on it; a scenario of another rule that such a root cause
//! stopped leaves that rule *blocked*, never failed and never passed.

use crate::report::{Finding, RootCause};
use std::collections::BTreeMap;

/// The rule a finding blames: its first, the most specific. A finding always names one (the
/// harness names `PRO-RESPONSIVE` when nothing more precise applies).
pub fn blamed(finding: &Finding) -> &'static str {
    finding.rules.first().copied().unwrap_or("PRO-RESPONSIVE")
}

/// The first divergence of a case: the lowest step, and of those the first the harness
/// reported (its order is the order it observed them in).
pub fn first_divergence(findings: &[Finding]) -> Option<&Finding> {
    findings.iter().min_by_key(|f| f.step)
}

type Signature = (&'static str, Option<&'static str>, &'static str);

/// The root causes of a run, as the cases come in.
#[derive(Clone, Debug, Default)]
pub struct RootCauses {
    by_signature: BTreeMap<Signature, RootCause>,
}

impl RootCauses {
    /// Count one case whose first divergence is `finding`; returns the rule it blames.
    pub fn add(&mut self, finding: &Finding) -> &'static str {
        let rule = blamed(finding);
        let key = (rule, finding.op_kind, finding.kind.name());
        let shorter = |a: &Finding, b: &Finding| {
            (a.transcript.lines().count(), a.step) < (b.transcript.lines().count(), b.step)
        };
        self.by_signature
            .entry(key)
            .and_modify(|root| {
                root.cases += 1;
                if shorter(finding, &root.finding) {
                    root.finding = finding.clone();
                }
            })
            .or_insert_with(|| RootCause {
                rule,
                op_kind: finding.op_kind,
                kind: finding.kind,
                cases: 1,
                finding: finding.clone(),
            });
        rule
    }

    /// Count a case's first divergence, if it diverged; returns the rule it blames.
    pub fn add_case(&mut self, findings: &[Finding]) -> Option<&'static str> {
        first_divergence(findings).map(|f| self.add(f))
    }

    /// Whether some root cause is blamed on `rule`.
    pub fn blames(&self, rule: &str) -> bool {
        self.by_signature.values().any(|r| r.rule == rule)
    }

    /// The minimal findings of the root causes blamed on `rule`, the shortest first.
    pub fn findings_of(&self, rule: &str) -> Vec<Finding> {
        let mut out: Vec<Finding> = self
            .by_signature
            .values()
            .filter(|r| r.rule == rule)
            .map(|r| r.finding.clone())
            .collect();
        out.sort_by_key(|f| f.transcript.lines().count());
        out
    }

    /// Every root cause, the most cases first (then by rule).
    pub fn into_sorted(self) -> Vec<RootCause> {
        let mut all: Vec<RootCause> = self.by_signature.into_values().collect();
        all.sort_by(|a, b| b.cases.cmp(&a.cases).then(a.rule.cmp(b.rule)));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hubspec_harness::DivergenceKind;

    fn finding(rules: &[&'static str], step: usize, kind: DivergenceKind, lines: usize) -> Finding {
        Finding {
            case: format!("case {step}"),
            rules: rules.to_vec(),
            kind,
            step,
            op: None,
            op_kind: Some("SendToGroup"),
            expected: String::new(),
            observed: String::new(),
            transcript: "x\n".repeat(lines),
            expected_transcript: String::new(),
            replay: String::new(),
            frames: vec![],
        }
    }

    #[test]
    fn a_case_counts_only_its_first_divergence() {
        let later = finding(&["SND-GROUP"], 5, DivergenceKind::Lost, 5);
        let first = finding(
            &["GRP-ADD-IDEMPOTENT", "SND-EXACTLY-ONCE"],
            3,
            DivergenceKind::Duplicate,
            3,
        );
        let mut roots = RootCauses::default();
        assert_eq!(roots.add_case(&[later, first]), Some("GRP-ADD-IDEMPOTENT"));
        assert!(roots.blames("GRP-ADD-IDEMPOTENT"));
        assert!(
            !roots.blames("SND-EXACTLY-ONCE"),
            "the second rule is not blamed"
        );
        assert!(!roots.blames("SND-GROUP"), "a later divergence is an echo");
        assert_eq!(roots.add_case(&[]), None);
    }

    #[test]
    fn cases_with_one_signature_are_one_root_cause_shown_by_the_shortest() {
        let mut roots = RootCauses::default();
        roots.add(&finding(&["GRP-REMOVE-ONE"], 4, DivergenceKind::Lost, 9));
        roots.add(&finding(&["GRP-REMOVE-ONE"], 3, DivergenceKind::Lost, 4));
        roots.add(&finding(
            &["GRP-REMOVE-ONE"],
            3,
            DivergenceKind::Unexpected,
            4,
        ));
        let all = roots.clone().into_sorted();
        assert_eq!(
            all.len(),
            2,
            "another divergence kind is another root cause"
        );
        assert_eq!(all[0].cases, 2);
        assert_eq!(all[0].finding.transcript.lines().count(), 4);
        assert_eq!(
            all[0].summary(),
            "GRP-REMOVE-ONE: lost at SendToGroup (2 cases)"
        );
        assert_eq!(roots.findings_of("GRP-REMOVE-ONE").len(), 2);
    }
}
