//! The `hubspec` binary, run as a user runs it: exit codes, the three report files, the
//! documented `report.json` schema, one JUnit test case per rule, a failing run's finding with
//! its raw frames, the replay recipe it prints, `check`'s figures, and `report.html` rendered
//! by headless Chromium (with a screenshot).
//!
//! Every child process has a deadline and is killed when it passes it; every hub listens on
//! 127.0.0.1 with an OS-chosen port.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hubspec");

/// What a finished child printed and how it exited.
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?} after {:.1} s\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.elapsed.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

/// Runs `program args`, killing it after `limit`.
fn run_program(program: &str, args: &[&str], limit: Duration) -> Output {
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .env_remove("HUBSPEC_URL")
        .env_remove("HUBSPEC_URLS")
        .env_remove("HUBSPEC_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let out = drain(child.stdout.take().expect("piped"));
    let err = drain(child.stderr.take().expect("piped"));
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{program} {args:?} did not finish within {limit:?}; stderr so far:\n{}",
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        code,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

fn hubspec(args: &[&str], limit: Duration) -> Output {
    run_program(BIN, args, limit)
}

/// A fresh directory under the test's target tmp dir.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a tmp dir");
    dir
}

/// `hubspec serve` as a child on 127.0.0.1:0; killed when dropped.
struct Served {
    child: Child,
    url: String,
}

impl Served {
    fn start(extra: &[&str]) -> Served {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = Command::new(BIN)
            .args(&args)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start hubspec serve");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let url = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.starts_with("http://127.0.0.1:") => line.trim().to_string(),
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("hubspec serve did not print its URL: {other:?}");
            }
        };
        Served { child, url }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The documented schema, checked by the library's validator and, independently, by hand
/// for the keys a CI script reads first.
fn assert_schema(doc: &Value) {
    if let Err(errors) = hubspec_conformance::report_json::validate(doc) {
        panic!(
            "report.json does not match the schema:\n{}",
            errors.join("\n")
        );
    }
    assert!(doc["schema_version"].is_u64());
    assert!(doc["target"].is_string());
    assert!(doc["duration_ms"].is_u64());
    assert!(doc["summary"]["passed"].is_boolean());
    for rule in doc["rules"].as_array().expect("rules is an array") {
        assert!(
            rule["id"].is_string() && rule["verdict"].is_string(),
            "{rule}"
        );
        assert!(
            rule["duration_ms"].is_u64() && rule["findings"].is_array(),
            "{rule}"
        );
    }
}

/// The rule IDs of the `hubspec.rules` suite of a junit.xml, in order.
fn junit_rule_cases(xml: &str) -> Vec<String> {
    let suite = xml
        .split("<testsuite name=\"hubspec.rules\"")
        .nth(1)
        .expect("a hubspec.rules suite")
        .split("</testsuite>")
        .next()
        .expect("the suite ends");
    suite
        .split("<testcase ")
        .skip(1)
        .map(|case| {
            let name = case.split(" name=\"").nth(1).expect("a name");
            name[..name.find('"').expect("quoted")].to_string()
        })
        .collect()
}

const FAULT_RULE: &str = "GRP-ADD-IDEMPOTENT";

/// One run against `hubspec serve --fault double-add-delivers-twice`, shared by the tests
/// that read its reports (it costs a hub and a run). The served hub stays up for the replay.
fn faulty_run() -> &'static (Output, PathBuf, String) {
    static RUN: OnceLock<(Output, PathBuf, String)> = OnceLock::new();
    RUN.get_or_init(|| {
        let served = Box::leak(Box::new(Served::start(&[
            "--profile",
            "core",
            "--fault",
            "double-add-delivers-twice",
        ])));
        let dir = fresh_dir("faulty");
        let out = hubspec(
            &[
                "run",
                "--url",
                &served.url,
                "--only",
                FAULT_RULE,
                "--part",
                "scenarios",
                "--report-dir",
                dir.to_str().expect("utf-8 path"),
            ],
            Duration::from_secs(120),
        );
        (out, dir, served.url.clone())
    })
}

#[test]
fn a_filter_that_matches_no_rule_exits_2_and_says_so() {
    let out = hubspec(&["run", "--only", "NOPE"], Duration::from_secs(30));
    assert_eq!(out.code, Some(2), "{out}");
    assert!(
        out.stderr.contains("--only NOPE matches no rule"),
        "the message names the filter: {out}"
    );
    assert!(!out.stderr.contains("target:"), "no hub is started: {out}");
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
    assert!(out.stderr.contains("cannot be reached"), "{out}");
    assert!(!out.stderr.contains("to run"), "no part started: {out}");
}

/// Against someone's server a failing property run shrinks, prints one progress line for the
/// part's first failure (not one per shrinking step), and leaves hubspec's own regressions
/// file alone: that file keeps the seeds found on the embedded hub only.
#[test]
fn a_failing_property_run_against_a_server_prints_one_fail_line_and_writes_no_seed() {
    let regressions = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("proptest-regressions/properties.txt");
    let before = std::fs::read(&regressions).expect("the committed regressions file");
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
        std::fs::read(&regressions).expect("the regressions file"),
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
    let (out, dir, _) = faulty_run();
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

/// Splits the replay command (`cargo run … -- replay ARGS`) into its arguments after
/// `replay`, undoing the single-quote shell quoting `replay_command` applies.
fn replay_args(command: &str) -> Vec<String> {
    let tail = command
        .split_once(" -- replay ")
        .map(|(_, tail)| tail)
        .unwrap_or_else(|| panic!("not a replay command: {command}"));
    let (mut args, mut word, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    let mut chars = tail.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            '\\' if !quoted => word.extend(chars.next()),
            ' ' if !quoted => {
                if any || !word.is_empty() {
                    args.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => word.push(c),
        }
    }
    if any || !word.is_empty() {
        args.push(word);
    }
    args
}

#[test]
fn the_replay_command_of_a_failure_reproduces_it() {
    let (out, dir, url) = faulty_run();
    assert_eq!(out.code, Some(1), "{out}");
    let doc = read_json(&dir.join("report.json"));
    let replay = doc["rules"][0]["findings"][0]["replay"]
        .as_str()
        .expect("a replay command")
        .to_string();
    assert!(
        replay.contains(&format!("--url '{url}'")),
        "a configured target's replay names its URL: {replay}"
    );
    assert_replays_the_same_divergence(&doc["rules"][0]["findings"][0]);
}

/// Runs a finding's replay command as printed (nothing added) and checks that it shows the
/// same divergence: the same rules, step and kind.
fn assert_replays_the_same_divergence(finding: &Value) {
    let replay = finding["replay"].as_str().expect("a replay command");
    let mut args = vec!["replay".to_string()];
    args.extend(replay_args(replay));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let again = hubspec(&args, Duration::from_secs(60));
    assert_eq!(again.code, Some(1), "the divergence again: {again}");
    assert!(again.stdout.contains("expected (the model)"), "{again}");
    let rules: Vec<&str> = finding["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r.as_str().expect("a rule ID"))
        .collect();
    let head = format!("[{}] step {}", rules.join(", "), finding["step"]);
    let kind = format!(": {}\n", finding["kind"].as_str().expect("a kind"));
    assert!(
        again
            .stdout
            .lines()
            .any(|l| l.starts_with(&head) && (l.to_string() + "\n").ends_with(&kind)),
        "the same divergence ({head} …{kind}): {again}"
    );
}

/// On the embedded hub the run's hub is gone when the run ends: the printed replay command
/// must start a fresh one with the same faults (and profile), and show the same divergence.
#[test]
fn an_embedded_failure_replays_on_a_fresh_embedded_hub_with_its_faults() {
    let dir = fresh_dir("embedded-fault");
    let out = hubspec(
        &[
            "run",
            "--fault",
            "double-add-delivers-twice",
            "--only",
            FAULT_RULE,
            "--part",
            "scenarios",
            "--profile",
            "core-stateful",
            "--report-dir",
            dir.to_str().expect("utf-8 path"),
        ],
        Duration::from_secs(120),
    );
    assert_eq!(out.code, Some(1), "{out}");
    let doc = read_json(&dir.join("report.json"));
    let finding = &doc["rules"][0]["findings"][0];
    let replay = finding["replay"].as_str().expect("a replay command");
    assert!(
        out.stdout.contains(replay),
        "the console prints the same replay command: {out}"
    );
    assert!(!replay.contains("--url"), "{replay}");
    assert!(
        replay.contains("--fault double-add-delivers-twice")
            && replay.contains("--profile core-stateful"),
        "{replay}"
    );
    assert_replays_the_same_divergence(finding);
}

#[test]
fn check_prints_the_state_counts_and_each_property_verdict() {
    let out = hubspec(
        &[
            "check",
            "--connections",
            "2",
            "--users",
            "2",
            "--groups",
            "2",
        ],
        Duration::from_secs(120),
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("states:"), "{out}");
    assert!(
        out.stdout.contains("unique") && out.stdout.contains("states/s"),
        "{out}"
    );
    assert!(out.stdout.contains("holds  always"), "{out}");
    assert!(out.stdout.contains("holds  sometimes"), "{out}");
    assert!(out.stdout.contains("PASSED"), "{out}");
}

#[test]
fn check_fails_when_the_bounds_are_too_small_to_reach_a_witness() {
    // With one group no connection can be in two groups: the reachability property is not
    // reached, and a check that proves its invariants only vacuously is not a pass.
    let out = hubspec(
        &[
            "check",
            "--connections",
            "2",
            "--users",
            "1",
            "--groups",
            "1",
        ],
        Duration::from_secs(120),
    );
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stdout.contains("states:") && out.stdout.contains("unique"),
        "{out}"
    );
    assert!(out.stdout.contains("holds  always"), "{out}");
    assert!(
        out.stdout
            .contains("FAILS  sometimes a connection is in two groups"),
        "{out}"
    );
    assert!(out.stdout.contains("bounds are too small"), "{out}");
}

#[test]
fn serve_lists_its_faults() {
    let out = hubspec(&["serve", "--list-faults"], Duration::from_secs(30));
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("double-add-delivers-twice"), "{out}");
}

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(args: &[&str], profile: &Path) -> Output {
    let profile_arg = format!("--user-data-dir={}", profile.display());
    let mut all = vec![
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        profile_arg.as_str(),
    ];
    all.extend_from_slice(args);
    run_program(CHROMIUM, &all, Duration::from_secs(90))
}

#[test]
fn the_html_report_renders_in_headless_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is not installed: this test needs Debian's chromium, which .ci/run installs \
         (apt-get install -y chromium). It does not pass without it."
    );
    let (out, dir, _) = faulty_run();
    assert_eq!(out.code, Some(1), "{out}");
    let page = dir.join("report.html");
    let url = format!(
        "file://{}",
        page.canonicalize().expect("report.html").display()
    );

    let dom = chromium(&["--dump-dom", &url], &fresh_dir("chromium-dom"));
    assert_eq!(dom.code, Some(0), "{dom}");
    assert!(dom.stdout.contains("<table id=\"rules\">"), "{dom}");
    let rows: Vec<&str> = dom.stdout.split("<tr class=\"verdict-").skip(1).collect();
    assert!(
        rows.iter()
            .any(|r| r.starts_with(&format!("fail\" data-rule=\"{FAULT_RULE}\""))),
        "the failing rule's row is in the rendered DOM: {dom}"
    );
    assert!(
        dom.stdout.contains("id=\"failures\""),
        "the failing transcript is shown"
    );
    assert!(dom.stdout.contains("FAILED"));

    let shot = dir.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let screenshot = format!("--screenshot={}", shot.display());
    let out = chromium(
        &[
            &screenshot,
            "--window-size=1280,2000",
            "--hide-scrollbars",
            &url,
        ],
        &fresh_dir("chromium-shot"),
    );
    assert_eq!(out.code, Some(0), "{out}");
    let png =
        std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", shot.display()));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    // A blank 1280×2000 page compresses to a few kilobytes; a rendered table does not.
    assert!(
        png.len() > 20_000,
        "the screenshot looks blank ({} bytes)",
        png.len()
    );
    eprintln!("screenshot: {}", shot.display());
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

/// A hub serving `groups_fanout = once` while declared `per-group` (and the reverse) is an
/// allowed variant, not a failure, and the verdict says which variant it showed.
#[test]
fn a_hub_showing_the_other_fanout_gets_the_allowed_variant_verdict() {
    for (served, declared) in [("once", "per-group"), ("per-group", "once")] {
        let dir = fresh_dir(&format!("variant-{served}"));
        let out = hubspec(
            &[
                "run",
                "--hub-groups-fanout",
                served,
                "--groups-fanout",
                declared,
                "--only",
                "SND-GROUPS-FANOUT",
                "--part",
                "scenarios",
                "--report-dir",
                dir.to_str().expect("utf-8 path"),
            ],
            Duration::from_secs(120),
        );
        assert_eq!(out.code, Some(0), "{out}");
        let doc = read_json(&dir.join("report.json"));
        assert_schema(&doc);
        let rule = &doc["rules"][0];
        assert_eq!(rule["verdict"], "allowed-variant", "{doc}");
        assert_eq!(
            rule["variant"],
            format!("groups_fanout = {served}"),
            "{doc}"
        );
        assert!(
            out.stdout.contains(&format!("groups_fanout = {served}")),
            "the console names the variant: {out}"
        );
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
