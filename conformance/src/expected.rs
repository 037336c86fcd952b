//! Expected verdicts per known target, kept as data keyed by rule ID (as tokio-tungstenite
//! keeps Autobahn's): a change in any verdict is either a regression or a deliberate update
//! of the file, and the diff says which rule moved.

use crate::report::RunReport;
use std::collections::BTreeMap;

/// The expected verdicts of a target: rule ID -> verdict name.
pub type Expected = BTreeMap<String, String>;

/// The directory of expected-results files.
pub fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("expected")
}

/// Load `expected/<name>.json`.
pub fn load(name: &str) -> Result<Expected, String> {
    let path = dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a rule -> verdict map: {e}", path.display()))
}

/// The verdicts of a run in the same form.
pub fn actual(report: &RunReport) -> Expected {
    report
        .rules
        .iter()
        .map(|r| (r.id.clone(), r.verdict.name().to_string()))
        .collect()
}

/// The differences, one line per rule, or `Ok` when there are none.
pub fn diff(expected: &Expected, actual: &Expected, name: &str) -> Result<(), String> {
    let mut lines = Vec::new();
    for (rule, want) in expected {
        match actual.get(rule) {
            Some(got) if got == want => {}
            Some(got) => lines.push(format!("  {rule}: expected {want}, got {got}")),
            None => lines.push(format!("  {rule}: expected {want}, not run")),
        }
    }
    for (rule, got) in actual {
        if !expected.contains_key(rule) {
            lines.push(format!("  {rule}: {got}, not in expected/{name}.json"));
        }
    }
    if lines.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the verdicts differ from expected/{name}.json:\n{}\nThis is a regression, or update the expected results (expected/{name}.json) if the change is meant.",
            lines.join("\n")
        ))
    }
}
