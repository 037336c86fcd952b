//! The suite's one error type: why a run could not produce verdicts at all.

use hubspec_harness::HarnessError;

/// A run that cannot produce verdicts. A target that misbehaves is never this: it is a
/// failing verdict with its finding.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// Nothing answers at the target's URL, or it does not speak SignalR well enough to run a
    /// case: `rule` names the `PRO-` rule the first exchange broke, when one does.
    #[error("{}", unreachable_text(detail, *rule))]
    Unreachable {
        /// What failed, with the URL.
        detail: String,
        /// The protocol rule the failure breaks (a bad negotiate, a handshake), if any.
        rule: Option<&'static str>,
    },
    /// The target's configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// `--only` named nothing in the catalog.
    #[error("--only {0} matches no rule in the catalog (rule IDs look like GRP-ADD-IDEMPOTENT; a prefix such as GRP- selects an area)")]
    NothingMatched(String),
    /// Every selected rule was not applicable: a run that checked nothing is not a pass.
    #[error("no rule was checked: every selected rule is not applicable to this target (declare its capabilities and profile, or select other rules)")]
    NothingChecked,
    /// The embedded reference hub did not start.
    #[error("the embedded reference hub did not start: {0}")]
    Embedded(String),
    /// The harness refused to run (invalid history, missing capability).
    #[error(transparent)]
    Harness(#[from] HarnessError),
}

/// A target that broke a protocol rule on its first exchange did answer: say so, and name the
/// rule, rather than calling it unreachable. PRO-RESPONSIVE (refused, or no answer in time) is
/// the one way of breaking it that is not answering.
fn unreachable_text(detail: &str, rule: Option<&'static str>) -> String {
    match rule {
        Some(rule) if rule != "PRO-RESPONSIVE" => {
            format!("the target answers but breaks {rule} before any case can run: {detail}")
        }
        _ => format!("the target cannot be reached: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::SuiteError;

    #[test]
    fn a_target_that_answers_with_a_protocol_break_is_not_called_unreachable() {
        let broke = SuiteError::Unreachable {
            detail: "http://127.0.0.1:5000/hub: GetConnectionId: got 'garbage'".into(),
            rule: Some("PRO-WELL-FORMED"),
        };
        assert_eq!(
            broke.to_string(),
            "the target answers but breaks PRO-WELL-FORMED before any case can run: \
             http://127.0.0.1:5000/hub: GetConnectionId: got 'garbage'"
        );
        let silent = SuiteError::Unreachable {
            detail: "http://127.0.0.1:1/hub".into(),
            rule: None,
        };
        assert_eq!(
            silent.to_string(),
            "the target cannot be reached: http://127.0.0.1:1/hub"
        );
        let refused = SuiteError::Unreachable {
            detail: "http://127.0.0.1:1/hub: connection refused".into(),
            rule: Some("PRO-RESPONSIVE"),
        };
        assert_eq!(
            refused.to_string(),
            "the target cannot be reached: http://127.0.0.1:1/hub: connection refused"
        );
    }
}
