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
