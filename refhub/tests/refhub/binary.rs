//! The `hubspec-refhub` binary: prints its URL, serves, logs with tracing, exits cleanly on
//! SIGTERM/SIGINT, and keeps rooms across a process restart on the same port and database.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::http;

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("the binary did not exit after the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(unix)]
#[test]
fn the_binary_prints_its_url_serves_and_stops_on_sigterm_and_sigint() {
    for signal in ["-TERM", "-INT"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hubspec-refhub"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--path",
                "/chat",
                "--fault",
                "late-membership",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run hubspec-refhub");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().to_owned();
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with("/chat"),
            "{url}"
        );
        let rt = tokio::runtime::Runtime::new().unwrap();
        let path = format!(
            "{}/negotiate?negotiateVersion=1",
            &url[url.find("/chat").unwrap()..]
        );
        let (status, body) = rt.block_on(http(&url, "POST", &path));
        assert_eq!(status, 200, "{body}");
        let kill = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(kill.success());
        assert!(wait_exit(&mut child).success(), "{signal}: clean exit");
    }
}

#[test]
fn the_binary_lists_its_faults_with_the_rules_they_break() {
    let out = Command::new(env!("CARGO_BIN_EXE_hubspec-refhub"))
        .arg("--list-faults")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), hubspec_refhub::Fault::every().count());
    assert!(text.contains("late-membership"), "{text}");
    assert!(text.contains("GRP-EFFECT-BEFORE-COMPLETION"), "{text}");
    let bad = Command::new(env!("CARGO_BIN_EXE_hubspec-refhub"))
        .args(["--fault", "nope"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown fault 'nope'"));
}

/// A running `hubspec-refhub` whose stderr (its `tracing` log) is collected by a thread.
struct Process {
    child: std::process::Child,
    url: String,
    log: std::thread::JoinHandle<String>,
}

/// Starts the binary with `args`; `None` if it exits before printing its URL (e.g. the port is
/// still taken).
fn spawn(args: &[&str]) -> Option<Process> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hubspec-refhub"))
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hubspec-refhub");
    let stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
        text
    });
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    if line.trim().is_empty() {
        let _ = wait_exit(&mut child);
        return None;
    }
    Some(Process {
        child,
        url: line.trim().to_owned(),
        log,
    })
}

/// SIGTERM, a clean exit, and everything it logged.
fn stop(mut p: Process) -> String {
    let kill = Command::new("kill")
        .arg("-TERM")
        .arg(p.child.id().to_string())
        .status()
        .unwrap();
    assert!(kill.success());
    assert!(wait_exit(&mut p.child).success(), "clean exit on SIGTERM");
    p.log.join().unwrap()
}

/// The rooms requirement across a real process restart: same port, same `--rooms-db`.
#[cfg(unix)]
#[test]
fn rooms_survive_a_process_restart_on_the_same_port_and_database() {
    use crate::client::{Client, Url};
    use serde_json::json;
    let dir = std::env::temp_dir().join(format!("refhub-binary-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("rooms.db");
    let _ = std::fs::remove_file(&db);
    let db_arg = db.to_str().unwrap().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();

    let first = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--rooms-db",
        &db_arg,
        "--profile",
        "core",
        "--max-invocations-per-sec",
        "1000",
    ])
    .expect("the binary starts");
    let url = first.url.clone();
    let port = url
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    rt.block_on(async {
        let hub = Url(url.clone());
        let mut a = Client::connect(&hub, Some("u"), false).await;
        a.ok("JoinRoom", json!(["r"])).await;
        // Profile core: stateful reconnect is never offered.
        assert!(
            !crate::client::negotiate(&hub, None, true)
                .await
                .use_stateful_reconnect
        );
    });
    let log = stop(first);
    assert!(log.contains("refhub listening"), "tracing log: {log}");
    assert!(log.contains("connected"), "tracing log: {log}");
    assert!(log.contains("shutting down"), "tracing log: {log}");

    let listen = format!("127.0.0.1:{port}");
    let mut again = None;
    for _ in 0..50 {
        again = spawn(&[
            "--listen",
            &listen,
            "--rooms-db",
            &db_arg,
            "--profile",
            "core",
        ]);
        if again.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let second = again.expect("the binary starts again on the same port");
    assert_eq!(second.url, url, "same port, same URL");
    rt.block_on(async {
        let hub = Url(url.clone());
        let mut a = Client::connect(&hub, Some("u"), false).await;
        let mut other = Client::connect(&hub, None, false).await;
        // No invocation from the new connection: the send must already reach it.
        other.ok("SendToGroup", json!(["r", "back"])).await;
        assert_eq!(a.sync().await, vec!["back"], "back in its room");
        assert_eq!(other.sync().await, Vec::<String>::new());
    });
    stop(second);
    let _ = std::fs::remove_dir_all(&dir);
}
