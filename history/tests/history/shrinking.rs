//! Shrinking and the timeline.

use crate::hand::*;
use hubspec_history::Anomaly;
use hubspec_history::{check, render, shrink, End};

#[test]
fn a_failing_history_shrinks_to_a_witness_that_fails_the_same_way() {
    let mut h = three();
    // Noise: sends everyone receives, before and after the fault.
    for i in 0..6u64 {
        let at = 100 * i;
        broadcast(
            &mut h,
            C3,
            &format!("n{i}"),
            (at + 1, at + 5),
            at + 3,
            &[C1, C2, C3],
        );
    }
    // The fault: c2 joined before the send, yet missed it.
    h.op(join(C2, "g"), 210, ok(220));
    h.op(to_group(C1, "g", "m"), 230, ok(240));
    let before = check(&h, BUDGET).unwrap().verdict;
    assert_eq!(before.anomalies(), [Anomaly::LateChange]);
    let (small, v) = shrink(&h, BUDGET).unwrap().unwrap();
    assert_eq!((v.anomaly, v.conn), (Anomaly::LateChange, Some(C2)));
    assert!(!check(&small, BUDGET).unwrap().verdict.passed());
    // The noise is gone; the join stays completed (made indeterminate, it would explain the
    // miss).
    assert_eq!(
        small.ops.len(),
        2,
        "{}",
        render(&small, std::slice::from_ref(&v))
    );
    assert!(small.ops.iter().all(|o| o.id >= 7));
    let join = small.ops.iter().find(|o| o.payload().is_none()).unwrap();
    assert!(matches!(join.end, End::Completed { .. }));
    // A passing history does not shrink.
    let mut ok_h = three();
    ok_h.op(join_op(), 1, ok(2));
    assert!(shrink(&ok_h, BUDGET).unwrap().is_none());
}

fn join_op() -> hubspec_model::Op {
    join(C1, "g")
}

#[test]
fn the_timeline_shows_each_connection_its_operations_and_what_it_received() {
    let mut h = three();
    h.op(join(C2, "g"), 10, ok(20));
    h.op(to_group(C1, "g", "m"), 15, End::Info { ts: 16 });
    h.deliver(C2, 17, "m");
    h.close(C2, 30);
    let text = render(&h, &[]);
    let expected = "\
c1
  [      15 ..      ?16] #2 c1: SendToGroup(\"g\", \"m\") -> indeterminate
c2
  [      10 ..       20] #1 c2: AddToGroup(\"g\") -> ok
  @      17  received \"m\" (#2)
  @      30  stream ended
c3
";
    assert_eq!(text, expected);
}
