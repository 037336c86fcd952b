//! The precision matrix: refhub with known faults, and which rules the suite blames for them.
//!
//! Every refhub fault declares the rules it breaks (`Fault::breaks`). A row runs the suite
//! against the embedded hub with one fault (or a pair) under both profiles it serves and
//! compares what failed with what the faults declare: **precision** is the share of failing
//! rules the faults declare, **recall** the share of declared rules that fail, and a row also
//! counts the rules left *blocked* among the others that apply. The bar is precision and
//! recall of 100 % with at most 5 % of the other applicable rules blocked.

use crate::report::{RunReport, Verdict};
use crate::suite::{run_suite, Part, Plan};
use crate::target::Target;
use crate::{Quiet, SuiteError};
use hubspec_model::{GroupsFanout, Profile, RULES};
use hubspec_refhub::Fault;
use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

/// The most of the other applicable rules a row may leave blocked: 5 %.
pub const BLOCKED_SHARE_MAX: f64 = 0.05;

/// One row: faults, what they declare, what the suite failed and blocked.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The faults injected together.
    pub faults: Vec<Fault>,
    /// The union of their declared rules that apply to the profiles run.
    pub declared: BTreeSet<&'static str>,
    /// The rules that failed.
    pub failing: BTreeSet<&'static str>,
    /// The rules left blocked.
    pub blocked: BTreeSet<&'static str>,
    /// Rules applicable to at least one profile run (neither not-applicable in the report).
    pub applicable: usize,
    /// Exhaustive coverage in percent of the coverable transitions (those the faults' divergences
    /// did not exclude), when that part ran.
    pub coverage: Option<f64>,
}

impl Row {
    /// Failing rules the faults declare, over failing rules (1 when nothing failed).
    pub fn precision(&self) -> f64 {
        ratio(
            self.failing.intersection(&self.declared).count(),
            self.failing.len(),
        )
    }

    /// Declared rules that failed, over declared rules.
    pub fn recall(&self) -> f64 {
        ratio(
            self.declared.intersection(&self.failing).count(),
            self.declared.len(),
        )
    }

    /// Blocked rules over the applicable rules the faults do not declare.
    pub fn blocked_share(&self) -> f64 {
        let others = self.applicable.saturating_sub(self.declared.len());
        if others == 0 {
            0.0
        } else {
            self.blocked.len() as f64 / others as f64
        }
    }

    /// Precision and recall 100 %, at most [`BLOCKED_SHARE_MAX`] of the others blocked.
    pub fn meets_bar(&self) -> bool {
        self.failing == self.declared && self.blocked_share() <= BLOCKED_SHARE_MAX
    }

    /// The faults' names, joined with `+`.
    pub fn name(&self) -> String {
        self.faults
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join("+")
    }
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 {
        1.0
    } else {
        n as f64 / d as f64
    }
}

fn ids(set: &BTreeSet<&str>) -> String {
    if set.is_empty() {
        "–".into()
    } else {
        set.iter().copied().collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for Row {
    /// `name  precision  recall  blocked%  coverage  declared | failing | blocked`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<44} {:>5.0}% {:>5.0}% {:>5.1}% {:>7}  {}  declared [{}]  failing [{}]  blocked [{}]",
            self.name(),
            100.0 * self.precision(),
            100.0 * self.recall(),
            100.0 * self.blocked_share(),
            self.coverage.map_or("–".into(), |c| format!("{c:.1}%")),
            if self.meets_bar() { "ok " } else { "BAD" },
            ids(&self.declared),
            ids(&self.failing),
            ids(&self.blocked),
        )
    }
}

/// The profiles the embedded hub serves, each a target of every row.
pub const PROFILES: [Profile; 2] = [Profile::Core, Profile::CoreStateful];

/// The row of `faults` from a finished report.
pub fn row_of(faults: &[Fault], report: &RunReport) -> Row {
    let mut failing = BTreeSet::new();
    let mut blocked = BTreeSet::new();
    let mut applicable = 0;
    for r in &report.rules {
        let id = RULES
            .iter()
            .find(|rule| rule.id == r.id)
            .map(|rule| rule.id)
            .expect("report rules are catalog rules");
        match &r.verdict {
            Verdict::Fail => {
                failing.insert(id);
            }
            Verdict::Blocked { .. } => {
                blocked.insert(id);
            }
            _ => {}
        }
        if !matches!(r.verdict, Verdict::NotApplicable { .. }) {
            applicable += 1;
        }
    }
    let declared = faults
        .iter()
        .flat_map(|f| f.breaks().iter().copied())
        .filter(|id| {
            hubspec_model::rule(id).is_some_and(|r| PROFILES.iter().any(|p| r.applies_to(*p)))
        })
        .collect();
    Row {
        faults: faults.to_vec(),
        declared,
        failing,
        blocked,
        applicable,
        coverage: report.coverage.as_ref().map(|c| c.percent_of_coverable()),
    }
}

/// The disconnect timeout of a row's hubs: rows run many at a time, and a resume three steps
/// after its drop must not miss a shorter one on two busy cores (it would show as an echo on
/// REC-RESUME-KEEPS-GROUPS). Only `Expire` steps wait it out, and scenarios have few.
pub const ROW_DISCONNECT_TIMEOUT: Duration = Duration::from_millis(1500);

/// Runs `parts` with `cases` random histories against refhub with `faults`, under both
/// profiles, and gives the row.
pub async fn row(faults: &[Fault], parts: &[Part], cases: u32) -> Result<Row, SuiteError> {
    let mut targets = Vec::new();
    for profile in PROFILES {
        let faults = faults.iter().copied().collect();
        let served = GroupsFanout::PerGroup;
        targets
            .push(Target::embedded_timed(profile, faults, served, ROW_DISCONNECT_TIMEOUT).await?);
    }
    let plan = Plan {
        parts: parts.iter().copied().collect(),
        cases,
        ..Plan::default()
    };
    let report = run_suite(&targets, &plan, &Quiet).await;
    for t in targets {
        t.shutdown().await;
    }
    match report {
        Ok(report) => Ok(row_of(faults, &report)),
        // A hub that breaks the first exchange (negotiate, handshake) fails that exchange's
        // rule and nothing else can be judged: every other applicable rule is blocked by it.
        Err(SuiteError::Unreachable {
            rule: Some(rule), ..
        }) => Ok(unreachable_row(faults, rule)),
        Err(e) => Err(e),
    }
}

/// The row of a hub the suite could not run a case against, because its first exchange broke
/// `rule`.
fn unreachable_row(faults: &[Fault], rule: &'static str) -> Row {
    let declared: BTreeSet<&'static str> = faults
        .iter()
        .flat_map(|f| f.breaks().iter().copied())
        .collect();
    let applicable: Vec<&'static str> = RULES
        .iter()
        .filter(|r| PROFILES.iter().any(|p| r.applies_to(*p)))
        .map(|r| r.id)
        .collect();
    Row {
        faults: faults.to_vec(),
        declared,
        failing: BTreeSet::from([rule]),
        blocked: applicable
            .iter()
            .copied()
            .filter(|id| *id != rule)
            .collect(),
        applicable: applicable.len(),
        coverage: None,
    }
}

/// The first pairs, fixed: CI asserts these (with their records in the suite's `KNOWN`), so a
/// fault added to [`Fault::ALL`] does not change which pairs CI runs. More pairs are walked from
/// `Fault::ALL` after them.
pub const FIXED_PAIRS: [[Fault; 2]; 6] = [
    [Fault::StickyGroups, Fault::NoRejoinOnResume],
    [Fault::OthersInGroupTwice, Fault::LateMembership],
    [Fault::LateMembership, Fault::CoreDropRejoins],
    [Fault::OneGroupPerConnection, Fault::LeaveRoomKeepsRecord],
    [
        Fault::SuspendedIgnoresMembership,
        Fault::SendCompletesBeforeQueue,
    ],
    [Fault::ConnectionsDuplicates, Fault::RemoveDropsGroup],
];

/// Pairs of faults that break different rules: [`FIXED_PAIRS`] first, then more spread over
/// the fault list, `n` in all (a
/// sample: all pairs would be over a thousand rows).
pub fn sample_pairs(n: usize) -> Vec<[Fault; 2]> {
    let all = Fault::ALL;
    let mut pairs: Vec<[Fault; 2]> = FIXED_PAIRS.iter().take(n).copied().collect();
    let mut i = 0;
    while pairs.len() < n && i < all.len() * all.len() {
        // A stride coprime with the list length walks every pair in a spread-out order.
        let a = all[(i * 7) % all.len()];
        let b = all[(i * 7 / all.len() + i * 13 + 1) % all.len()];
        i += 1;
        let disjoint = a.breaks().iter().all(|r| !b.breaks().contains(r));
        if a != b
            && disjoint
            && !pairs
                .iter()
                .any(|p: &[Fault; 2]| p.contains(&a) && p.contains(&b))
        {
            pairs.push([a, b]);
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(declared: &[&'static str], failing: &[&'static str], blocked: &[&'static str]) -> Row {
        Row {
            faults: vec![Fault::LateMembership],
            declared: declared.iter().copied().collect(),
            failing: failing.iter().copied().collect(),
            blocked: blocked.iter().copied().collect(),
            applicable: 41,
            coverage: None,
        }
    }

    #[test]
    fn precision_recall_and_the_blocked_share_follow_their_definitions() {
        let exact = row(
            &["GRP-REMOVE-ONE"],
            &["GRP-REMOVE-ONE"],
            &["GRP-ADD-BY-ID", "ROOM-LEAVE-DELETES"],
        );
        assert_eq!((exact.precision(), exact.recall()), (1.0, 1.0));
        assert_eq!(exact.blocked_share(), 2.0 / 40.0);
        assert!(exact.meets_bar());
        let echo = row(
            &["SND-GROUP-EXCEPT"],
            &["SND-EXACTLY-ONCE", "SND-GROUP-EXCEPT"],
            &[],
        );
        assert_eq!((echo.precision(), echo.recall()), (0.5, 1.0));
        assert!(!echo.meets_bar());
        let missed = row(&["SND-GROUPS-FANOUT"], &[], &[]);
        assert_eq!((missed.precision(), missed.recall()), (1.0, 0.0));
        assert!(!missed.meets_bar());
        let blocking = row(&["SND-ALL"], &["SND-ALL"], &["A", "B", "C"]);
        assert!(!blocking.meets_bar(), "3 of 40 others blocked is over 5 %");
    }

    #[test]
    fn sampled_pairs_are_distinct_faults_of_disjoint_rules() {
        let pairs = sample_pairs(12);
        assert_eq!(pairs.len(), 12);
        for [a, b] in &pairs {
            assert_ne!(a, b);
            assert!(a.breaks().iter().all(|r| !b.breaks().contains(r)));
        }
    }
}
