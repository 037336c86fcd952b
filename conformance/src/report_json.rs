//! `report.json`: the [`RunReport`] as JSON, with a schema version and a summary, and a
//! checker for the documented schema (docs/src/report-schema.md).
//!
//! The document is the serde form of [`RunReport`] plus three keys added here:
//! `schema_version` (bumped on any incompatible change), `summary` (the verdict counts and the
//! overall outcome, so a CI script needs no arithmetic) and nothing else: every other key is the
//! report's own field. [`validate`] checks a parsed document against the schema as documented;
//! the CLI's tests run it on every report they produce, so the docs page and the code cannot
//! drift apart silently.

use crate::report::RunReport;
use serde_json::{json, Map, Value};
use std::path::Path;

/// The version of the `report.json` schema this module writes.
pub const SCHEMA_VERSION: u64 = 2;

/// The report as a JSON value: the report's fields, `schema_version` and `summary`.
pub fn to_value(report: &RunReport) -> Value {
    let mut value = serde_json::to_value(report).unwrap_or_else(|e| {
        // A `RunReport` holds only strings, numbers and collections: serialising it cannot
        // fail unless the type itself changes.
        panic!("a RunReport always serialises. error={e}")
    });
    let c = report.counts();
    let object = value
        .as_object_mut()
        .expect("a RunReport serialises to an object");
    object.insert("schema_version".into(), json!(SCHEMA_VERSION));
    object.insert(
        "summary".into(),
        json!({
            "passed": report.passed(),
            "rules": report.rules.len(),
            "root_causes": report.root_causes.len(),
            "pass": c.pass,
            "fail": c.fail,
            "blocked": c.blocked,
            "not_applicable": c.not_applicable,
            "allowed_variant": c.allowed_variant,
        }),
    );
    value
}

/// The report as pretty-printed JSON text.
pub fn to_string(report: &RunReport) -> String {
    serde_json::to_string_pretty(&to_value(report)).expect("a JSON value always prints")
}

/// Writes `report.json` into `dir` (created if missing) and returns its path.
pub fn write(dir: &Path, report: &RunReport) -> std::io::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("report.json");
    std::fs::write(&path, to_string(report) + "\n")?;
    Ok(path)
}

/// The JSON types the schema uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Str,
    Uint,
    Bool,
    StrArray,
    Object,
    Array,
}

impl Ty {
    fn accepts(self, v: &Value) -> bool {
        match self {
            Ty::Str => v.is_string(),
            Ty::Uint => v.is_u64(),
            Ty::Bool => v.is_boolean(),
            Ty::StrArray => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            Ty::Object => v.is_object(),
            Ty::Array => v.is_array(),
        }
    }
}

/// Required keys of the top-level object.
const TOP: &[(&str, Ty)] = &[
    ("schema_version", Ty::Uint),
    ("hubspec_version", Ty::Str),
    ("target", Ty::Str),
    ("specs", Ty::StrArray),
    ("started_unix", Ty::Uint),
    ("duration_ms", Ty::Uint),
    ("summary", Ty::Object),
    ("root_causes", Ty::Array),
    ("rules", Ty::Array),
];

/// Required keys of `summary`.
const SUMMARY: &[(&str, Ty)] = &[
    ("passed", Ty::Bool),
    ("rules", Ty::Uint),
    ("root_causes", Ty::Uint),
    ("pass", Ty::Uint),
    ("fail", Ty::Uint),
    ("blocked", Ty::Uint),
    ("not_applicable", Ty::Uint),
    ("allowed_variant", Ty::Uint),
];

/// Required keys of each `rules[]` entry.
const RULE: &[(&str, Ty)] = &[
    ("id", Ty::Str),
    ("statement", Ty::Str),
    ("verdict", Ty::Str),
    ("duration_ms", Ty::Uint),
    ("cases", Ty::Uint),
    ("findings", Ty::Array),
];

/// Required keys of a finding (`rules[].findings[]`, `properties.counterexample`).
const FINDING: &[(&str, Ty)] = &[
    ("case", Ty::Str),
    ("rules", Ty::StrArray),
    ("kind", Ty::Str),
    ("step", Ty::Uint),
    ("expected", Ty::Str),
    ("observed", Ty::Str),
    ("transcript", Ty::Str),
    ("expected_transcript", Ty::Str),
    ("replay", Ty::Str),
    ("frames", Ty::StrArray),
];

/// Required keys of `coverage` when present.
const COVERAGE: &[(&str, Ty)] = &[
    ("bounds", Ty::Str),
    ("transitions", Ty::Uint),
    ("covered", Ty::Uint),
    ("coverable", Ty::Uint),
    ("excluded", Ty::Object),
    ("walks", Ty::Uint),
    ("ops", Ty::Uint),
];

/// Required keys of `properties` when present.
const PROPERTIES: &[(&str, Ty)] = &[("cases", Ty::Uint), ("ops", Ty::Uint)];

/// Required keys of each `mutants[]` entry.
const MUTANT: &[(&str, Ty)] = &[
    ("fault", Ty::Str),
    ("breaks", Ty::StrArray),
    ("detected", Ty::Bool),
    ("time_to_detection_ms", Ty::Uint),
    ("ops_to_detection", Ty::Uint),
];

/// Required keys of each `root_causes[]` entry (`op_kind` may be null).
const ROOT_CAUSE: &[(&str, Ty)] = &[
    ("rule", Ty::Str),
    ("kind", Ty::Str),
    ("cases", Ty::Uint),
    ("finding", Ty::Object),
];

/// The verdict names, as `rules[].verdict`.
pub const VERDICTS: [&str; 5] = [
    "pass",
    "fail",
    "blocked",
    "not-applicable",
    "allowed-variant",
];

fn keys(at: &str, v: &Value, spec: &[(&str, Ty)], errors: &mut Vec<String>) {
    let Some(object) = v.as_object() else {
        errors.push(format!("{at}: expected an object"));
        return;
    };
    for (key, ty) in spec {
        match object.get(*key) {
            None => errors.push(format!("{at}.{key}: missing")),
            Some(value) if !ty.accepts(value) => {
                errors.push(format!("{at}.{key}: expected {ty:?}, found {value}"))
            }
            Some(_) => {}
        }
    }
}

fn optional_str(at: &str, object: &Map<String, Value>, key: &str, errors: &mut Vec<String>) {
    if let Some(v) = object.get(key) {
        if !v.is_null() && !v.is_string() {
            errors.push(format!("{at}.{key}: expected a string or null, found {v}"));
        }
    }
}

fn finding(at: &str, v: &Value, errors: &mut Vec<String>) {
    keys(at, v, FINDING, errors);
    if let Some(object) = v.as_object() {
        optional_str(at, object, "op", errors);
        optional_str(at, object, "op_kind", errors);
    }
}

/// Checks a parsed `report.json` against the documented schema: every required key present
/// with its type, the verdict one of [`VERDICTS`] with its `reason` / `variant` /
/// `blocked_by`, every failing rule carrying at least one finding and being the rule of some
/// root cause, every blocking rule failing, and the summary agreeing with the rules. Returns
/// every problem found, each as `path: problem`.
pub fn validate(doc: &Value) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    keys("$", doc, TOP, &mut errors);
    if let Some(summary) = doc.get("summary") {
        keys("$.summary", summary, SUMMARY, &mut errors);
    }
    if doc.get("schema_version").and_then(Value::as_u64) != Some(SCHEMA_VERSION) {
        errors.push(format!("$.schema_version: expected {SCHEMA_VERSION}"));
    }
    let mut root_rules: Vec<&str> = Vec::new();
    let roots = doc.get("root_causes").and_then(Value::as_array);
    for (i, root) in roots.into_iter().flatten().enumerate() {
        let at = format!("$.root_causes[{i}]");
        keys(&at, root, ROOT_CAUSE, &mut errors);
        if let Some(object) = root.as_object() {
            optional_str(&at, object, "op_kind", &mut errors);
        }
        if let Some(f) = root.get("finding") {
            finding(&format!("{at}.finding"), f, &mut errors);
        }
        root_rules.extend(root.get("rule").and_then(Value::as_str));
    }
    let mut counts = [0u64; VERDICTS.len()];
    for (i, rule) in doc
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("$.rules[{i}]");
        keys(&at, rule, RULE, &mut errors);
        let verdict = rule.get("verdict").and_then(Value::as_str).unwrap_or("");
        match VERDICTS.iter().position(|v| *v == verdict) {
            Some(k) => counts[k] += 1,
            None => errors.push(format!(
                "{at}.verdict: '{verdict}' is not one of {VERDICTS:?}"
            )),
        }
        let needs = match verdict {
            "not-applicable" => Some("reason"),
            "allowed-variant" => Some("variant"),
            _ => None,
        };
        let id = rule.get("id").and_then(Value::as_str).unwrap_or("");
        if verdict == "fail" && !root_rules.contains(&id) {
            errors.push(format!("{at}: fails, but no root cause is blamed on {id}"));
        }
        if verdict == "blocked" {
            match rule.get("blocked_by").and_then(Value::as_array) {
                Some(by) if !by.is_empty() => {
                    for b in by.iter().filter_map(Value::as_str) {
                        if !root_rules.contains(&b) {
                            errors.push(format!("{at}.blocked_by: no root cause is blamed on {b}"));
                        }
                    }
                }
                _ => errors.push(format!(
                    "{at}.blocked_by: required (a non-empty array) for verdict blocked"
                )),
            }
        }
        if let Some(key) = needs {
            if !rule.get(key).is_some_and(Value::is_string) {
                errors.push(format!(
                    "{at}.{key}: required (a string) for verdict {verdict}"
                ));
            }
        }
        let findings = rule.get("findings").and_then(Value::as_array);
        if verdict == "fail" && findings.is_none_or(Vec::is_empty) {
            errors.push(format!(
                "{at}.findings: a failing rule needs at least one finding"
            ));
        }
        for (j, f) in findings.into_iter().flatten().enumerate() {
            finding(&format!("{at}.findings[{j}]"), f, &mut errors);
        }
    }
    if let Some(summary) = doc.get("summary") {
        for (k, key) in [
            "pass",
            "fail",
            "blocked",
            "not_applicable",
            "allowed_variant",
        ]
        .iter()
        .enumerate()
        {
            let got = summary.get(*key).and_then(Value::as_u64);
            if got.is_some() && got != Some(counts[k]) {
                errors.push(format!(
                    "$.summary.{key}: {} but the rules have {}",
                    got.unwrap_or(0),
                    counts[k]
                ));
            }
        }
    }
    match doc.get("coverage") {
        None | Some(Value::Null) => {}
        Some(c) => {
            keys("$.coverage", c, COVERAGE, &mut errors);
        }
    }
    match doc.get("properties") {
        None | Some(Value::Null) => {}
        Some(p) => {
            keys("$.properties", p, PROPERTIES, &mut errors);
            match p.get("counterexample") {
                None | Some(Value::Null) => {}
                Some(f) => finding("$.properties.counterexample", f, &mut errors),
            }
        }
    }
    match doc.get("unselected_findings") {
        None => {}
        Some(Value::Array(found)) => {
            for (i, f) in found.iter().enumerate() {
                finding(&format!("$.unselected_findings[{i}]"), f, &mut errors);
            }
        }
        Some(other) => errors.push(format!(
            "$.unselected_findings: expected an array, found {other}"
        )),
    }
    match doc.get("mutants") {
        None | Some(Value::Null) => {}
        Some(Value::Array(mutants)) => {
            for (i, m) in mutants.iter().enumerate() {
                keys(&format!("$.mutants[{i}]"), m, MUTANT, &mut errors);
            }
        }
        Some(other) => errors.push(format!(
            "$.mutants: expected an array or null, found {other}"
        )),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Hand-built reports for the tests of the three report writers.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::report::*;
    use std::time::Duration;

    /// A report with every verdict, a failure with hostile content (markup, quotes, control
    /// characters, a record separator), coverage, properties and mutants.
    pub(crate) fn sample_report() -> RunReport {
        let finding = Finding {
            case: "scenario GRP-ADD-IDEMPOTENT/twice (core)".into(),
            rules: vec!["GRP-ADD-IDEMPOTENT", "SND-EXACTLY-ONCE"],
            kind: hubspec_harness::DivergenceKind::Duplicate,
            step: 4,
            op: Some("c2 SendToGroup(\"g<1>\", \"p-4\")".into()),
            op_kind: Some("SendToGroup"),
            expected: "c1: Receive(\"p-4\") x1".into(),
            observed: "c1: Receive(\"p-4\") x2 <script>alert(1)</script>".into(),
            transcript: "# profile core\n 1. c1 Connect -> ok\n 2. c1 AddToGroup(\"g<1>\") -> ok".into(),
            expected_transcript: "# profile core\n 1. c1 Connect -> ok".into(),
            replay: "cargo run -p hubspec-conformance --bin hubspec -- replay --profile core --ops '[]'".into(),
            frames: vec![
                "c1 <- {\"type\":1,\"target\":\"Receive\",\"arguments\":[\"</pre><b>x</b>\"]}\u{1e}".into(),
                "c1 -> \u{7}bell & \"quotes\" ]]>".into(),
            ],
        };
        let rule = |id: &str, verdict: Verdict, findings: Vec<Finding>| RuleReport {
            id: id.into(),
            statement: format!("the statement of {id} & <more>"),
            verdict,
            duration: Duration::from_millis(120),
            cases: 2,
            findings,
        };
        RunReport {
            hubspec_version: "0.1.0".into(),
            target: "http://127.0.0.1:5000/hub?a=1&b=<2>".into(),
            specs: vec!["profile core, groups_fanout per-group".into()],
            started_unix: 1_700_000_000,
            duration: Duration::from_millis(4321),
            root_causes: vec![RootCause {
                rule: "GRP-ADD-IDEMPOTENT",
                op_kind: Some("SendToGroup"),
                kind: hubspec_harness::DivergenceKind::Duplicate,
                cases: 3,
                finding: finding.clone(),
            }],
            rules: vec![
                rule("GRP-ADD-IDEMPOTENT", Verdict::Fail, vec![finding.clone()]),
                rule("GRP-REMOVE-ONE", Verdict::Pass, vec![]),
                rule(
                    "SND-EXACTLY-ONCE",
                    Verdict::Blocked {
                        blocked_by: vec!["GRP-ADD-IDEMPOTENT"],
                    },
                    vec![],
                ),
                rule(
                    "ROOM-RESTORE-ON-CONNECT",
                    Verdict::NotApplicable {
                        reason: "needs capability rooms".into(),
                    },
                    vec![],
                ),
                rule(
                    "SND-GROUPS-FANOUT",
                    Verdict::AllowedVariant {
                        variant: "groups_fanout = once".into(),
                    },
                    vec![],
                ),
            ],
            coverage: Some(Coverage {
                bounds: "2 connections x 1 group".into(),
                transitions: 40,
                covered: 38,
                coverable: 39,
                excluded: [("SND-GROUP", 1)].into(),
                walks: 3,
                ops: 120,
            }),
            properties: Some(PropertyStats {
                cases: 32,
                ops: 600,
                counterexample: Some(finding),
            }),
            mutants: Some(vec![MutantReport {
                fault: "double-add-delivers-twice".into(),
                breaks: vec!["GRP-ADD-IDEMPOTENT".into()],
                detected: true,
                by: Some("scenario".into()),
                time_to_detection: Duration::from_millis(50),
                ops_to_detection: 4,
                shrunk_len: Some(4),
                counterexample: Some("1. c1 Connect <x>".into()),
            }]),
            concurrent: None,
            unselected_findings: vec![],
        }
    }

    /// A report in which every rule passed.
    pub(crate) fn passing_report() -> RunReport {
        let mut r = sample_report();
        r.rules.retain(|r| r.verdict == Verdict::Pass);
        r.root_causes.clear();
        r.properties = None;
        r.coverage = None;
        r.mutants = None;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixtures::sample_report;

    #[test]
    fn a_report_serialises_to_a_document_that_validates() {
        let report = sample_report();
        let doc = to_value(&report);
        assert_eq!(validate(&doc), Ok(()));
        assert_eq!(doc["schema_version"], 2);
        assert_eq!(doc["summary"]["fail"], 1);
        assert_eq!(doc["summary"]["blocked"], 1);
        assert_eq!(doc["summary"]["root_causes"], 1);
        assert_eq!(doc["root_causes"][0]["rule"], "GRP-ADD-IDEMPOTENT");
        assert_eq!(doc["root_causes"][0]["op_kind"], "SendToGroup");
        let blocked = doc["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["verdict"] == "blocked")
            .unwrap();
        assert_eq!(blocked["blocked_by"], json!(["GRP-ADD-IDEMPOTENT"]));
        assert_eq!(doc["summary"]["passed"], false);
        let failing = doc["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["verdict"] == "fail")
            .unwrap();
        assert!(!failing["findings"][0]["frames"]
            .as_array()
            .unwrap()
            .is_empty());
    }

    #[test]
    fn validation_names_each_missing_or_mistyped_key() {
        let mut doc = to_value(&sample_report());
        doc.as_object_mut().unwrap().remove("target");
        doc["rules"][0]["duration_ms"] = json!("slow");
        doc["rules"][1]["verdict"] = json!("maybe");
        let errors = validate(&doc).unwrap_err();
        assert!(
            errors.iter().any(|e| e == "$.target: missing"),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("$.rules[0].duration_ms")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.starts_with("$.rules[1].verdict")),
            "{errors:?}"
        );
    }

    #[test]
    fn a_failing_rule_without_findings_is_invalid() {
        let mut doc = to_value(&sample_report());
        for r in doc["rules"].as_array_mut().unwrap() {
            if r["verdict"] == "fail" {
                r["findings"] = json!([]);
            }
        }
        assert!(validate(&doc).is_err());
    }

    /// A failure with no root cause behind it, or a block by a rule no root cause is blamed
    /// on, is a report that contradicts itself.
    #[test]
    fn verdicts_must_agree_with_the_root_causes() {
        let mut doc = to_value(&sample_report());
        doc["root_causes"] = json!([]);
        let errors = validate(&doc).unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.ends_with("no root cause is blamed on GRP-ADD-IDEMPOTENT")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains(".blocked_by: no root cause")),
            "{errors:?}"
        );
        let mut doc = to_value(&sample_report());
        for r in doc["rules"].as_array_mut().unwrap() {
            if r["verdict"] == "blocked" {
                r.as_object_mut().unwrap().remove("blocked_by");
            }
        }
        assert!(validate(&doc).is_err());
    }
}
