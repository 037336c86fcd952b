//! Crash durability: `hubspec serve --rooms-db FILE` killed with SIGKILL at seeded random
//! moments while its users JoinRoom and LeaveRoom ([`hubspec_conformance::crash`]). CI runs 10
//! kills; `hubspec bench crash` runs more. The seed is printed; `HUBSPEC_CRASH_SEED` repeats
//! a run.

use hubspec_conformance::crash::{clock_seed, crash_cycles, CrashOptions};
use std::path::PathBuf;

fn seed() -> u64 {
    match std::env::var("HUBSPEC_CRASH_SEED") {
        Ok(s) => s.parse().expect("HUBSPEC_CRASH_SEED is a u64"),
        Err(_) => clock_seed(),
    }
}

/// A fresh directory of this test's own, removed when it passes.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hubspec-crash-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn room_records_whose_join_completed_survive_kill_9_and_are_restored() {
    let dir = fresh_dir("clean");
    let seed = seed();
    println!("HUBSPEC_CRASH_SEED={seed}");
    let opts = CrashOptions::new(env!("CARGO_BIN_EXE_hubspec").into(), dir.clone(), 10, seed);
    let report = crash_cycles(&opts).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    println!("{report}");
    assert_eq!(report.kills, 10);
    // The loop did what it claims: each kill landed on churn, and the check had records to
    // find (a run that joined nothing would pass vacuously).
    assert!(
        report.joins_completed > 0 && report.leaves_completed > 0,
        "{report}"
    );
    assert!(report.records_checked > 0, "{report}");
    assert!(report.is_clean(), "HUBSPEC_CRASH_SEED={seed}\n{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The loop catches what it is for: a hub that keeps a record LeaveRoom deleted, and one that
/// does not restore a new connection to its rooms (refhub's faults of ROOM-LEAVE-DELETES and
/// ROOM-RESTORE-ON-CONNECT), each within two kills of at least 100 ms of churn.
#[test]
fn the_loop_catches_a_kept_record_and_an_unrestored_connection() {
    for (fault, caught) in [
        (
            "leave-room-keeps-record",
            (|r| !r.resurrected.is_empty()) as fn(&hubspec_conformance::crash::CrashReport) -> bool,
        ),
        ("rooms-not-restored", |r| !r.not_restored.is_empty()),
    ] {
        let dir = fresh_dir(fault);
        let seed = seed();
        let mut opts =
            CrashOptions::new(env!("CARGO_BIN_EXE_hubspec").into(), dir.clone(), 2, seed);
        opts.hub_args = vec!["--fault".into(), fault.into()];
        // Enough churn before each kill that a room is joined and left.
        opts.min_kill_after = std::time::Duration::from_millis(100);
        let report = crash_cycles(&opts).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert!(
            caught(&report),
            "{fault} not caught, HUBSPEC_CRASH_SEED={seed}\n{report}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
