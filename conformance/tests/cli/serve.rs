//! `hubspec serve`.

use crate::support::*;
use std::time::Duration;

#[test]
fn serve_lists_its_faults() {
    let out = hubspec(&["serve", "--list-faults"], Duration::from_secs(30));
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("double-add-delivers-twice"), "{out}");
}

/// A hub started with `--exit-on-stdin-eof` stops, with exit 0, when its stdin closes: how a
/// test's hub ends with the test, however the test ends.
#[test]
fn serve_exits_when_its_stdin_closes() {
    let served = Served::start(&[]);
    let status = served.close_stdin(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "hubspec serve exits 0 on its stdin's end: {status:?}"
    );
}
