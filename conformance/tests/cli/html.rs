//! `report.html`, rendered by headless Chromium (with a screenshot).

use crate::support::*;
use std::path::Path;

#[test]
fn the_html_report_renders_in_headless_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is not installed: this test needs Debian's chromium, which .ci/run installs \
         (apt-get install -y chromium). It does not pass without it."
    );
    let FaultyRun { out, dir, .. } = faulty_run();
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

/// A failing concurrent history (refhub with a race fault) is drawn in report.html as a
/// timeline per connection, and Chromium renders it.
#[test]
fn a_concurrent_failure_renders_as_a_timeline_in_headless_chromium() {
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is not installed");
    let dir = fresh_dir("concurrent-html");
    let out = hubspec(
        &[
            "run",
            "--profile",
            "core",
            "--fault",
            "racy-add-duplicates",
            "--part",
            "concurrent",
            "--histories",
            "4",
            "--report-dir",
            dir.to_str().expect("utf-8 path"),
        ],
        std::time::Duration::from_secs(120),
    );
    assert_eq!(out.code, Some(1), "{out}");
    let kept = std::fs::read_dir(dir.join("concurrent"))
        .expect("the histories are kept")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".witness.jsonl"))
        .count();
    assert!(kept >= 1, "a failing history keeps its witness");
    let url = format!(
        "file://{}",
        dir.join("report.html").canonicalize().unwrap().display()
    );
    let dom = chromium(&["--dump-dom", &url], &fresh_dir("chromium-cc-dom"));
    assert_eq!(dom.code, Some(0), "{dom}");
    assert!(dom.stdout.contains("id=\"concurrent-failure\""), "{dom}");
    assert!(dom.stdout.contains("<svg class=\"timeline\""), "{dom}");
    assert_eq!(
        dom.stdout.matches("<g class=\"conn\"").count(),
        5,
        "one lane per connection: {dom}"
    );
    assert!(dom.stdout.contains("class=\"dlv marked\""), "{dom}");
}
