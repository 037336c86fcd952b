//! `hubspec run`: exit codes, the three reports and what a failing run prints.

use crate::support::*;
use std::time::Duration;

#[test]
fn a_filter_that_matches_no_rule_exits_2_and_says_so() {
    let out = hubspec(&["run", "--only", "NOPE"], Duration::from_secs(30));
    assert_eq!(out.code, Some(2), "{out}");
    // Stopped at the filter, before any target: the error is all it prints.
    let error = hubspec_conformance::SuiteError::NothingMatched("NOPE".into());
    assert_eq!(
        out.stderr.lines().collect::<Vec<_>>(),
        [format!("hubspec: error: {error}")],
        "only the error, naming the filter: {out}"
    );
    assert_eq!(out.stdout, "", "{out}");
    // Also when one filter of several is a typo.
    let out = hubspec(
        &["run", "--only", "GRP-", "--only", "SND-NOPE"], // tidy: unknown rule on purpose
        Duration::from_secs(30),
    );
    assert_eq!(out.code, Some(2), "{out}");
}

#[test]
fn an_unreachable_target_exits_3_before_any_part_runs() {
    // `hubspec` is killed (and the test fails) if it is still running after 30 s.
    let out = hubspec(
        &["run", "--url", "http://127.0.0.1:1/hub"],
        Duration::from_secs(30),
    );
    assert_eq!(out.code, Some(3), "{out}");
    // Stopped at the target, before any part: the error is all it prints.
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(
        lines.len() == 1
            && lines[0].starts_with(
                "hubspec: error: the target cannot be reached: http://127.0.0.1:1/hub"
            ),
        "only the error, naming the target: {out}"
    );
    assert_eq!(out.stdout, "", "{out}");
}

/// Against someone's server a failing property run shrinks, prints one progress line for the
/// part's first failure (not one per shrinking step), and leaves hubspec's own regressions
/// file alone: that file keeps the seeds found on the embedded hub only.
#[test]
fn a_failing_property_run_against_a_server_prints_one_fail_line_and_writes_no_seed() {
    let regressions = hubspec_conformance::properties::REGRESSIONS_FILE;
    let before = std::fs::read(regressions).expect("the committed regressions file");
    let served = Served::start(&[
        "--profile",
        "core",
        "--fault",
        "others-in-group-includes-caller",
    ]);
    let dir = fresh_dir("property-seeds");
    let out = hubspec(
        &[
            "run",
            "--url",
            &served.url,
            "--only",
            "SND-OTHERS-IN-GROUP",
            "--part",
            "properties",
            "--report-dir",
            dir.to_str().expect("utf-8 path"),
        ],
        Duration::from_secs(120),
    );
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stdout.contains("COUNTEREXAMPLE (shrunk)"), "{out}");
    assert_eq!(
        out.stderr.matches("FAIL  property case").count(),
        1,
        "one line for the part's first failure: {out}"
    );
    assert!(
        !out.stderr.contains("Saving this and future failures"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(regressions).expect("the regressions file"),
        before,
        "a run against a configured server wrote into hubspec's regressions file"
    );
}

#[test]
fn bad_usage_and_bad_configuration_exit_2() {
    for args in [
        &["run", "--no-such-flag"][..],
        &["run", "--url", "ftp://127.0.0.1/hub"],
        &[
            "run",
            "--url",
            "http://127.0.0.1:1/hub",
            "--fault",
            "sticky-groups",
        ],
        &["run", "--config", "/nonexistent/hubspec.toml"],
        &["replay", "--ops", "not json"],
    ] {
        let out = hubspec(args, Duration::from_secs(30));
        assert_eq!(out.code, Some(2), "{args:?}: {out}");
    }
}

#[test]
fn a_passing_run_on_the_embedded_hub_exits_0_and_writes_the_three_reports() {
    let dir = fresh_dir("pass");
    let out = hubspec(
        &[
            "run",
            "--only",
            FAULT_RULE,
            "--part",
            "scenarios",
            "--report-dir",
            dir.to_str().expect("utf-8 path"),
        ],
        Duration::from_secs(120),
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout.contains(FAULT_RULE) && out.stdout.contains("PASSED"),
        "{out}"
    );
    let doc = read_json(&dir.join("report.json"));
    assert_schema(&doc);
    let rules = doc["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 1, "only the selected rule: {doc}");
    assert_eq!(rules[0]["id"], FAULT_RULE);
    assert_eq!(rules[0]["verdict"], "pass");
    assert!(rules[0]["cases"].as_u64().unwrap_or(0) >= 1);
    assert_eq!(doc["summary"]["passed"], true);
    let xml = std::fs::read_to_string(dir.join("junit.xml")).expect("junit.xml");
    assert_eq!(junit_rule_cases(&xml), vec![FAULT_RULE.to_string()]);
    assert!(xml.contains("classname=\"hubspec.GRP\""));
    assert!(!xml.contains("<failure"));
    let html = std::fs::read_to_string(dir.join("report.html")).expect("report.html");
    assert!(html.contains(&format!("data-rule=\"{FAULT_RULE}\"")));
}

#[test]
fn a_junit_file_has_one_testcase_per_selected_rule() {
    let dir = fresh_dir("area");
    let out = hubspec(
        &[
            "run",
            "--only",
            "GRP-",
            "--part",
            "scenarios",
            "--profile",
            "core",
            "--report-dir",
            dir.to_str().expect("utf-8 path"),
        ],
        Duration::from_secs(180),
    );
    assert_eq!(out.code, Some(0), "{out}");
    let doc = read_json(&dir.join("report.json"));
    assert_schema(&doc);
    let ids: Vec<String> = doc["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect();
    let catalog: Vec<String> = hubspec_model::RULES
        .iter()
        .filter(|r| r.id.starts_with("GRP-"))
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(ids, catalog, "every GRP- rule, in catalog order");
    let xml = std::fs::read_to_string(dir.join("junit.xml")).expect("junit.xml");
    assert_eq!(junit_rule_cases(&xml), catalog);
}

#[test]
fn a_faulty_hub_fails_with_the_finding_and_its_raw_frames() {
    let FaultyRun { out, dir, .. } = faulty_run();
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stdout.contains(&format!("FAIL  {FAULT_RULE}")), "{out}");
    assert!(
        out.stdout.contains("replay"),
        "the console shows the replay: {out}"
    );
    let doc = read_json(&dir.join("report.json"));
    assert_schema(&doc);
    assert_eq!(doc["summary"]["passed"], false);
    let rule = &doc["rules"][0];
    assert_eq!(rule["id"], FAULT_RULE);
    assert_eq!(rule["verdict"], "fail");
    let finding = &rule["findings"][0];
    assert!(
        finding["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .any(|r| r == FAULT_RULE),
        "{finding}"
    );
    let frames = finding["frames"].as_array().expect("frames");
    assert!(
        !frames.is_empty(),
        "the raw frames of the failing case: {finding}"
    );
    assert!(
        frames
            .iter()
            .any(|f| f.as_str().unwrap_or("").contains("Receive")),
        "{finding}"
    );
    assert!(finding["replay"]
        .as_str()
        .unwrap_or("")
        .contains(" replay "));
    let xml = std::fs::read_to_string(dir.join("junit.xml")).expect("junit.xml");
    assert_eq!(junit_rule_cases(&xml), vec![FAULT_RULE.to_string()]);
    assert!(xml.contains("<failure message=\""), "{xml}");
}

/// `--only` matching only rules the target cannot be checked for (the classic profile's, on a
/// core hub) checks nothing: exit 2 with the reason, never a pass.
#[test]
fn a_run_that_checks_no_rule_exits_2() {
    let dir = fresh_dir("nothing-checked");
    let out = hubspec(
        &[
            "run",
            "--only",
            "REC-CLASSIC-",
            "--report-dir",
            dir.to_str().expect("utf-8 path"),
        ],
        Duration::from_secs(120),
    );
    assert_eq!(out.code, Some(2), "{out}");
    assert!(out.stderr.contains("no rule was checked"), "{out}");
    assert!(!out.stdout.contains("PASSED"), "{out}");
}

/// A hub serving `groups_fanout = once` that states no variant is an allowed variant, not a
/// failure, and the verdict says which variant it showed; stating `per-group` and serving
/// `once` is one failure of SND-GROUPS-FANOUT that names the variant served.
#[test]
fn a_hub_showing_the_other_fanout_gets_the_allowed_variant_verdict() {
    for stated in [None, Some("per-group")] {
        let dir = fresh_dir(&format!("variant-{}", stated.unwrap_or("unstated")));
        let mut args = vec!["run", "--hub-groups-fanout", "once"];
        if let Some(v) = stated {
            args.extend(["--groups-fanout", v]);
        }
        let report_dir = dir.to_str().expect("utf-8 path");
        args.extend([
            "--only",
            "SND-GROUPS-FANOUT",
            "--part",
            "scenarios",
            "--report-dir",
            report_dir,
        ]);
        let out = hubspec(&args, Duration::from_secs(120));
        let doc = read_json(&dir.join("report.json"));
        assert_schema(&doc);
        let rule = &doc["rules"][0];
        if stated.is_none() {
            assert_eq!(out.code, Some(0), "{out}");
            assert_eq!(rule["verdict"], "allowed-variant", "{doc}");
            assert_eq!(rule["variant"], "groups_fanout = once", "{doc}");
            assert!(
                out.stdout.contains("groups_fanout = once"),
                "the console names the variant: {out}"
            );
        } else {
            assert_eq!(out.code, Some(1), "{out}");
            assert_eq!(rule["verdict"], "fail", "{doc}");
            assert_eq!(
                doc["root_causes"].as_array().map(Vec::len),
                Some(1),
                "{doc}"
            );
            assert!(
                out.stdout.contains("serves groups_fanout = once"),
                "the finding names the variant served: {out}"
            );
        }
    }
}

/// A divergence the exhaustive part finds is not dropped because it names a rule outside
/// `--only`: the run fails and report.json keeps it.
#[test]
fn a_divergence_outside_the_selected_rules_fails_the_run() {
    let dir = fresh_dir("unselected");
    let out = hubspec(
        &[
            "run",
            "--fault",
            "double-add-delivers-twice",
            "--only",
            "CON-IDS-UNIQUE",
            "--part",
            "scenarios",
            "--part",
            "exhaustive",
            "--profile",
            "core",
            "--report-dir",
            dir.to_str().expect("utf-8 path"),
        ],
        Duration::from_secs(300),
    );
    assert_eq!(out.code, Some(1), "{out}");
    let doc = read_json(&dir.join("report.json"));
    assert_schema(&doc);
    assert_eq!(doc["rules"][0]["verdict"], "pass", "{doc}");
    let found = doc["unselected_findings"].as_array().expect("kept");
    assert!(
        found.iter().any(|f| f["rules"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r == "GRP-ADD-IDEMPOTENT"))),
        "{doc}"
    );
    assert!(out.stdout.contains("OUTSIDE THE SELECTED RULES"), "{out}");
}
