//! The concurrent part catches each of refhub's race faults and blames it on a rule the fault
//! declares (`Fault::breaks`). The one-at-a-time parts cannot see these faults (no window is
//! open when their next operation arrives), which is why they are apart from `Fault::ALL`;
//! that the correct hub passes is `part::concurrent` in the suite, and the ≥ 1,000-history
//! false-failure figure is `hubspec bench concurrency`'s.

use hubspec_conformance::concurrent::{hunt, Size};
use hubspec_refhub::Fault;

/// Histories a race fault may take before the test says the part missed it.
const MAX: u32 = 60;

#[test]
fn the_concurrent_part_catches_every_race_fault_and_blames_its_rule() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut missed = Vec::new();
    for fault in Fault::RACE {
        let h = rt
            .block_on(hunt(fault, MAX, &Size::default(), 1))
            .expect("the embedded hub starts");
        eprintln!(
            "{}: {} histories, {:.2} s, {:?}",
            fault.name(),
            h.histories,
            h.elapsed.as_secs_f64(),
            h.caught.as_ref().map(|v| v.to_string())
        );
        match &h.caught {
            Some(v) if fault.breaks().contains(&v.rule) => {}
            Some(v) => missed.push(format!(
                "{} blamed on {}, which it does not declare ({v})",
                fault.name(),
                v.rule
            )),
            None => missed.push(format!("{} not caught in {MAX} histories", fault.name())),
        }
    }
    assert!(missed.is_empty(), "{missed:#?}");
}
