//! The process toolkit of the CLI tests: running `hubspec` (and Chromium) as a child with a
//! deadline, `hubspec serve` as a child that cannot outlive the tests, fresh directories, and
//! readers for the reports.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_hubspec");

/// What a finished child printed and how it exited.
pub(crate) struct Output {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) elapsed: Duration,
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

pub(crate) fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

/// Runs `program args`, killing it after `limit`.
pub(crate) fn run_program(program: &str, args: &[&str], limit: Duration) -> Output {
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

pub(crate) fn hubspec(args: &[&str], limit: Duration) -> Output {
    run_program(BIN, args, limit)
}

/// A fresh directory under the test's target tmp dir.
pub(crate) fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a tmp dir");
    dir
}

/// `hubspec serve --exit-on-stdin-eof` as a child on 127.0.0.1:0. Killed when dropped; and
/// since it holds the write end of the child's stdin, which the OS closes when the test
/// process ends in any way, a hub kept for the whole process (in a static, never dropped)
/// stops with it too.
pub(crate) struct Served {
    child: Child,
    pub(crate) url: String,
}

impl Served {
    pub(crate) fn start(extra: &[&str]) -> Served {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--exit-on-stdin-eof"];
        args.extend_from_slice(extra);
        let mut child = Command::new(BIN)
            .args(&args)
            .env("RUST_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start hubspec serve");
        assert!(child.stdin.is_some(), "the stdin pipe is kept");
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

    /// Closes the child's stdin and waits up to `limit` for it to exit; its exit status, or
    /// `None` (and the child killed) when it is still running then.
    pub(crate) fn close_stdin(mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        drop(self.child.stdin.take());
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The documented schema, checked by the library's validator and, independently, by hand
/// for the keys a CI script reads first.
pub(crate) fn assert_schema(doc: &Value) {
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
pub(crate) fn junit_rule_cases(xml: &str) -> Vec<String> {
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

pub(crate) const FAULT_RULE: &str = "GRP-ADD-IDEMPOTENT";

/// A run against `hubspec serve --fault double-add-delivers-twice`, shared by the tests
/// that read its reports (it costs a hub and a run). The served hub stays up for the replay,
/// for as long as the test process runs ([`Served`] stops with it).
pub(crate) struct FaultyRun {
    pub(crate) served: Served,
    pub(crate) out: Output,
    pub(crate) dir: PathBuf,
}

pub(crate) fn faulty_run() -> &'static FaultyRun {
    static RUN: OnceLock<FaultyRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let served = Served::start(&["--profile", "core", "--fault", "double-add-delivers-twice"]);
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
        FaultyRun { served, out, dir }
    })
}

pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";

pub(crate) fn chromium(args: &[&str], profile: &Path) -> Output {
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
