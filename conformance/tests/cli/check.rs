//! `hubspec check`: the state counts and each property verdict.

use crate::support::*;
use std::time::Duration;

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
