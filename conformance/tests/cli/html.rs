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
