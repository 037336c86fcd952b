//! Replay commands: the one a failure prints reproduces it, as printed.

use crate::support::*;
use serde_json::Value;
use std::time::Duration;

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
    let FaultyRun { out, dir, served } = faulty_run();
    let url = &served.url;
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
    let printed = assert_replays_the_same_divergence(&doc["rules"][0]["findings"][0]);
    assert!(
        printed.contains(&format!("--url '{url}'")),
        "hubspec replay's own line names the configured target too: {printed}"
    );
}

/// Runs a replay command (`cargo run … -- replay ARGS`) as printed, nothing added.
fn run_as_printed(replay: &str) -> Output {
    let mut args = vec!["replay".to_string()];
    args.extend(replay_args(replay));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    hubspec(&args, Duration::from_secs(60))
}

/// A divergence as its finding's header names it: rules, step, kind.
struct Divergence {
    rules: Vec<String>,
    step: u64,
    kind: String,
}

impl Divergence {
    fn of(finding: &Value) -> Divergence {
        Divergence {
            rules: finding["rules"]
                .as_array()
                .expect("rules")
                .iter()
                .map(|r| r.as_str().expect("a rule ID").to_string())
                .collect(),
            step: finding["step"].as_u64().expect("a step"),
            kind: finding["kind"].as_str().expect("a kind").to_string(),
        }
    }

    /// The replay line `hubspec replay` printed with this divergence, if it printed it: the
    /// `replay:` line of the finding whose header is `[rules] step N (op): kind`.
    fn replay_line_in<'a>(&self, out: &'a Output) -> Option<&'a str> {
        let head = format!("[{}] step {}", self.rules.join(", "), self.step);
        let tail = format!(": {}", self.kind);
        let mut lines = out.stdout.lines();
        lines.find(|l| l.starts_with(&head) && l.ends_with(&tail))?;
        lines
            .take_while(|l| l.starts_with("  "))
            .find_map(|l| l.strip_prefix("  replay: "))
    }
}

/// Runs a finding's replay command as printed and checks that it shows the same divergence
/// (the same rules, step and kind), printed with a replay line of its own; returns that line.
fn assert_replays_the_same_divergence(finding: &Value) -> String {
    let replay = finding["replay"].as_str().expect("a replay command");
    let again = run_as_printed(replay);
    assert_eq!(again.code, Some(1), "the divergence again: {again}");
    assert!(again.stdout.contains("expected (the model)"), "{again}");
    let d = Divergence::of(finding);
    match d.replay_line_in(&again) {
        Some(line) => line.to_string(),
        None => panic!(
            "the same divergence ([{}] step {} …: {}) with its replay line: {again}",
            d.rules.join(", "),
            d.step,
            d.kind
        ),
    }
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

/// The replay line that `hubspec replay` itself prints for a divergence on the embedded hub
/// (which it has shut down by then) starts a fresh hub with the same faults, and run exactly
/// as printed shows the same divergence: shuttle's replay round trip, one hop further.
#[test]
fn the_replay_line_hubspec_replay_prints_works_as_printed() {
    let dir = fresh_dir("replay-round-trip");
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
            "core",
            "--report-dir",
            dir.to_str().expect("utf-8 path"),
        ],
        Duration::from_secs(120),
    );
    assert_eq!(out.code, Some(1), "{out}");
    let doc = read_json(&dir.join("report.json"));
    let finding = &doc["rules"][0]["findings"][0];
    let printed = assert_replays_the_same_divergence(finding);
    assert!(
        printed.contains("--fault double-add-delivers-twice")
            && printed.contains("--profile core")
            && !printed.contains("--url"),
        "a fresh embedded hub with the fault, not the URL of the one just shut down: {printed}"
    );
    let third = run_as_printed(&printed);
    assert_eq!(third.code, Some(1), "the divergence a third time: {third}");
    let d = Divergence::of(finding);
    assert_eq!(
        d.replay_line_in(&third),
        Some(printed.as_str()),
        "the same divergence and the same replay line: {third}"
    );
}
