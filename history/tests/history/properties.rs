//! Properties over histories made by running the model (`gen`).

use crate::hand::BUDGET;
use hubspec_history::generate::{run, Step};
use hubspec_history::jsonl::{from_jsonl, to_jsonl};
use hubspec_history::Anomaly;
use hubspec_history::{check, max_copies_of, shrink, End, History, StreamEvent, Verdict};
use proptest::prelude::*;

/// A plan: the profile (stateful or not) and its steps.
fn plan(max: usize) -> impl Strategy<Value = (bool, Vec<Step>)> {
    (
        any::<bool>(),
        proptest::collection::vec(any::<Step>(), 1..max),
    )
}

fn cfg() -> ProptestConfig {
    ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The deliveries of `h` as (connection, index in its stream, payload).
fn deliveries(h: &History) -> Vec<(hubspec_model::ConnId, usize, String)> {
    h.streams
        .iter()
        .flat_map(|(c, s)| {
            s.iter().enumerate().filter_map(move |(i, e)| match e {
                StreamEvent::Deliver { payload, .. } => Some((*c, i, payload.clone())),
                StreamEvent::Close { .. } => None,
            })
        })
        .collect()
}

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn histories_the_model_produced_are_linearizable((stateful, steps) in plan(40), widen in any::<bool>()) {
        let h = run(stateful, &steps, widen);
        let report = check(&h, BUDGET).unwrap();
        prop_assert_eq!(&report.verdict, &Verdict::Linearizable, "{}", hubspec_history::render(&h, &[]));
        prop_assert_eq!(from_jsonl(to_jsonl(&h).as_bytes()).unwrap(), h);
    }

    #[test]
    fn a_phantom_delivery_is_caught((stateful, steps) in plan(30), at in 0u32..4) {
        let mut h = run(stateful, &steps, true);
        let c = hubspec_model::ConnId(at + 1);
        h.streams.entry(c).or_default().insert(0, StreamEvent::Deliver { ts: 0, payload: "ghost".into() });
        prop_assert!(check(&h, BUDGET).unwrap().verdict.anomalies().contains(&Anomaly::Phantom));
    }

    #[test]
    fn a_duplicate_delivery_is_caught((stateful, steps) in plan(30), pick in any::<prop::sample::Index>()) {
        let mut h = run(stateful, &steps, true);
        let single: Vec<_> = deliveries(&h)
            .into_iter()
            .filter(|(_, _, p)| max_copies_of(&h, p) == 1)
            .collect();
        prop_assume!(!single.is_empty());
        let (c, i, _) = single[pick.index(single.len())].clone();
        let s = h.streams.get_mut(&c).unwrap();
        let copy = s[i].clone();
        s.insert(i + 1, copy);
        prop_assert!(check(&h, BUDGET).unwrap().verdict.anomalies().contains(&Anomaly::Duplicate));
    }

    #[test]
    fn a_reordered_pair_is_caught((stateful, steps) in plan(40), widen in any::<bool>()) {
        let mut h = run(stateful, &steps, widen);
        // The first pair on one connection whose sends are ordered in real time.
        let pair = deliveries(&h).into_iter().find_map(|(c, i, p)| {
            let first = h.send_of(&p)?.ret();
            deliveries(&h).into_iter().find(|(c2, j, q)| {
                *c2 == c && *j > i && h.send_of(q).is_some_and(|s| first < s.inv)
            }).map(|(_, j, _)| (c, i, j))
        });
        prop_assume!(pair.is_some());
        let (c, i, j) = pair.unwrap();
        let s = h.streams.get_mut(&c).unwrap();
        let (StreamEvent::Deliver { payload: a, .. }, StreamEvent::Deliver { payload: b, .. }) = (s[i].clone(), s[j].clone()) else { unreachable!() };
        if let StreamEvent::Deliver { payload, .. } = &mut s[i] { *payload = b; }
        if let StreamEvent::Deliver { payload, .. } = &mut s[j] { *payload = a; }
        prop_assert!(check(&h, BUDGET).unwrap().verdict.anomalies().contains(&Anomaly::Reordered));
    }

    #[test]
    fn a_delivery_after_the_end_of_a_stream_is_caught(steps in proptest::collection::vec(any::<Step>(), 1..30), k in 0u8..4) {
        // Every connection ends with a disconnect, then one more send to all.
        let mut steps = steps;
        for c in 0..4u8 {
            steps.push((15, c + 4 * 4 * 15, 0, 0));
        }
        let mut h = run(false, &steps, true);
        let c = hubspec_model::ConnId(u32::from(k) + 1);
        prop_assume!(matches!(h.streams.get(&c).and_then(|s| s.last()), Some(StreamEvent::Close { .. })));
        let payload = h.ops.iter().find_map(|o| o.payload().map(str::to_string));
        prop_assume!(payload.is_some());
        h.deliver(c, u64::MAX / 2, &payload.unwrap());
        prop_assert!(check(&h, BUDGET).unwrap().verdict.anomalies().contains(&Anomaly::AfterClose));
    }

    #[test]
    fn a_lost_delivery_fails_the_search_and_shrinks((stateful, steps) in plan(30), pick in any::<prop::sample::Index>()) {
        // Point intervals: the model's order is the only one, so a lost copy is never
        // explainable.
        let mut h = run(stateful, &steps, false);
        let all = deliveries(&h);
        prop_assume!(!all.is_empty());
        let (c, i, _) = all[pick.index(all.len())].clone();
        h.streams.get_mut(&c).unwrap().remove(i);
        let verdict = check(&h, BUDGET).unwrap().verdict;
        let found = verdict.anomalies();
        prop_assert!(!found.is_empty());
        prop_assert!(found.iter().all(|a| [Anomaly::NoPoint, Anomaly::LateChange, Anomaly::LateEnd, Anomaly::ResumeGap].contains(a)), "{:?}", found);
        let (small, v) = shrink(&h, BUDGET).unwrap().unwrap();
        prop_assert_eq!(v.anomaly, found[0]);
        prop_assert!(small.ops.len() <= h.ops.len());
        prop_assert!(!check(&small, BUDGET).unwrap().verdict.passed());
    }

    #[test]
    fn a_hung_invocation_is_caught((stateful, steps) in plan(30), pick in any::<prop::sample::Index>()) {
        let mut h = run(stateful, &steps, true);
        prop_assume!(!h.ops.is_empty());
        // The last operation of some lane.
        let o = &h.ops[pick.index(h.ops.len())];
        let lane = o.lane();
        let last = h.ops.iter().filter(|x| x.lane() == lane).max_by_key(|x| x.inv).unwrap().id;
        h.ops.iter_mut().find(|x| x.id == last).unwrap().end = End::Pending;
        prop_assert!(check(&h, BUDGET).unwrap().verdict.anomalies().contains(&Anomaly::Hung));
    }
}
