//! The `hubspec-refhub` binary: prints its URL, serves, and exits cleanly on SIGTERM/SIGINT.

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
    assert_eq!(text.lines().count(), hubspec_refhub::Fault::ALL.len());
    assert!(text.contains("late-membership"), "{text}");
    assert!(text.contains("GRP-EFFECT-BEFORE-COMPLETION"), "{text}");
    let bad = Command::new(env!("CARGO_BIN_EXE_hubspec-refhub"))
        .args(["--fault", "nope"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown fault 'nope'"));
}
