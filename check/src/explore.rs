//! A parallel breadth-first explorer for any stateright `Model`.
//!
//! Measured here (check/examples/check.rs, core-stateful, 3 × 2 × 2): stateright 0.31's BFS
//! with 2 threads ran *slower* than with 1 (26.4 s vs 24.0 s), as checking-notes.md warned for
//! compact states. This explorer keeps stateright's model, properties and semantics (BFS,
//! fingerprints, `within_boundary`, `always` / `sometimes`) and changes only the scheduling:
//! level-synchronous BFS, each thread expanding its own slice of the frontier with no shared
//! queue, and a visited set split into shards with one lock each, so two threads rarely touch
//! the same lock. The stateright checker stays the reference: a test asserts both count the
//! same unique states.

use rustc_hash::{FxHashMap, FxHasher};
use stateright::{Expectation, Model};
use std::collections::hash_map::Entry;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

const SHARDS: usize = 256;

/// What an exploration found.
#[derive(Debug)]
pub struct Exploration<A> {
    /// States generated, repeats included (every successor of every expanded state).
    pub generated: u64,
    /// Distinct states (by fingerprint).
    pub unique: u64,
    /// The deepest level expanded.
    pub depth: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// For each property with a discovery (a counterexample of an `always`, a witness of a
    /// `sometimes`), the actions of the shortest path to it.
    pub discoveries: BTreeMap<&'static str, Vec<A>>,
    /// Whether the exploration stopped at `max_states` before the graph was exhausted.
    pub truncated: bool,
}

fn fingerprint<T: Hash>(t: &T) -> u64 {
    let mut h = FxHasher::default();
    t.hash(&mut h);
    // Zero marks "no parent" in the visited map.
    h.finish() | 1
}

/// Where a state was first reached from: its parent's fingerprint and the index of the action.
type Visited = FxHashMap<u64, (u64, u32)>;

/// States of one BFS level with their fingerprints, one slot per thread.
type Slots<S> = Vec<Mutex<Vec<(S, u64)>>>;

/// Explore `model` breadth-first with `threads` threads, to `max_depth` levels if given, and
/// stop once more than `max_states` distinct states are known.
pub fn explore<M>(
    model: &M,
    threads: usize,
    max_depth: Option<usize>,
    max_states: u64,
) -> Exploration<M::Action>
where
    M: Model + Sync,
    M::State: Hash + Clone + Send + Sync,
    M::Action: Clone + Send,
{
    let start = Instant::now();
    let threads = threads.max(1);
    let props = model.properties();
    let shards: Vec<Mutex<Visited>> = (0..SHARDS)
        .map(|_| Mutex::new(Visited::default()))
        .collect();
    // Per property: the fingerprint of the first state that settled it, shortest first.
    let found: Vec<Mutex<Option<(usize, u64)>>> = props.iter().map(|_| Mutex::new(None)).collect();
    // Per property: the depth of its shallowest discovery so far, read without a lock so that
    // deeper states, which cannot win, skip evaluating it (step witnesses are not cheap).
    let settled: Vec<AtomicUsize> = props.iter().map(|_| AtomicUsize::new(usize::MAX)).collect();
    let generated = AtomicU64::new(0);
    let unique = AtomicU64::new(0);
    let truncated = AtomicBool::new(false);

    let mut init: Vec<(M::State, u64)> = Vec::new();
    for s in model
        .init_states()
        .into_iter()
        .filter(|s| model.within_boundary(s))
    {
        let fp = fingerprint(&s);
        if let Entry::Vacant(v) = shards[(fp as usize) % SHARDS].lock().unwrap().entry(fp) {
            v.insert((0, 0));
            unique.fetch_add(1, Ordering::Relaxed);
            settle(model, &props, &found, &settled, &s, fp, 0);
            init.push((s, fp));
        }
    }
    let init_count = init.len() as u64;
    // Each level: the work of every thread, and what every thread found for the next level.
    let work: Slots<M::State> = (0..threads).map(|_| Mutex::new(vec![])).collect();
    let found_next: Slots<M::State> = (0..threads)
        .map(|i| {
            Mutex::new(if i == 0 {
                std::mem::take(&mut init)
            } else {
                vec![]
            })
        })
        .collect();
    let barrier = Barrier::new(threads);
    let done = AtomicBool::new(false);
    let depth_reached = AtomicU64::new(0);

    std::thread::scope(|scope| {
        for me in 0..threads {
            let (shards, found, work, found_next, barrier) =
                (&shards, &found, &work, &found_next, &barrier);
            let (generated, unique, truncated, props, done, settled) =
                (&generated, &unique, &truncated, &props, &done, &settled);
            let depth_reached = &depth_reached;
            scope.spawn(move || {
                let mut actions = Vec::new();
                let mut depth = 0usize;
                loop {
                    barrier.wait();
                    if me == 0 {
                        // Deal the next level out in equal slices, in a deterministic order.
                        let mut level = Vec::new();
                        for f in found_next {
                            level.append(&mut f.lock().unwrap());
                        }
                        let stop = level.is_empty()
                            || max_depth.is_some_and(|d| depth >= d)
                            || truncated.load(Ordering::Relaxed);
                        done.store(stop, Ordering::Relaxed);
                        if !stop {
                            depth_reached.store(depth as u64, Ordering::Relaxed);
                            let per = level.len().div_ceil(threads);
                            for w in work.iter().rev() {
                                let cut = level.len().saturating_sub(per);
                                *w.lock().unwrap() = level.split_off(cut);
                            }
                        }
                    }
                    barrier.wait();
                    if done.load(Ordering::Relaxed) {
                        break;
                    }
                    let mine = std::mem::take(&mut *work[me].lock().unwrap());
                    let mut next: Vec<(M::State, u64)> = Vec::new();
                    let mut local_generated = 0u64;
                    for (state, fp) in &mine {
                        actions.clear();
                        model.actions(state, &mut actions);
                        for (i, action) in actions.drain(..).enumerate() {
                            let Some(succ) = model.next_state(state, action) else {
                                continue;
                            };
                            if !model.within_boundary(&succ) {
                                continue;
                            }
                            local_generated += 1;
                            let sfp = fingerprint(&succ);
                            let new =
                                match shards[(sfp as usize) % SHARDS].lock().unwrap().entry(sfp) {
                                    Entry::Occupied(_) => false,
                                    Entry::Vacant(v) => {
                                        v.insert((*fp, i as u32));
                                        true
                                    }
                                };
                            if new {
                                let n = unique.fetch_add(1, Ordering::Relaxed) + 1;
                                if n > max_states {
                                    truncated.store(true, Ordering::Relaxed);
                                }
                                settle(model, props, found, settled, &succ, sfp, depth + 1);
                                next.push((succ, sfp));
                            }
                        }
                    }
                    generated.fetch_add(local_generated, Ordering::Relaxed);
                    *found_next[me].lock().unwrap() = next;
                    depth += 1;
                }
            });
        }
    });

    let visited: Visited = shards
        .into_iter()
        .flat_map(|s| s.into_inner().unwrap())
        .collect();
    let mut discoveries = BTreeMap::new();
    for (p, f) in props.iter().zip(found) {
        if let Some((_, fp)) = f.into_inner().unwrap() {
            discoveries.insert(p.name, path_to(model, &visited, fp));
        }
    }
    Exploration {
        generated: generated.into_inner() + init_count,
        unique: unique.into_inner(),
        depth: depth_reached.into_inner() as usize,
        elapsed: start.elapsed(),
        discoveries,
        truncated: truncated.into_inner(),
    }
}

/// Evaluate every property on a new state and remember it if it settles one: the shallowest
/// state wins, then the smallest fingerprint, so the result does not depend on thread timing.
/// A property already settled at a shallower depth is not evaluated: this state cannot win.
fn settle<M: Model>(
    model: &M,
    props: &[stateright::Property<M>],
    found: &[Mutex<Option<(usize, u64)>>],
    settled: &[AtomicUsize],
    state: &M::State,
    fp: u64,
    depth: usize,
) {
    for ((p, slot), at) in props.iter().zip(found).zip(settled) {
        if at.load(Ordering::Relaxed) < depth {
            continue;
        }
        let holds = (p.condition)(model, state);
        let settles = match p.expectation {
            Expectation::Always => !holds,
            Expectation::Sometimes => holds,
            Expectation::Eventually => false,
        };
        if settles {
            let mut slot = slot.lock().unwrap();
            if slot.is_none_or(|old| (depth, fp) < old) {
                *slot = Some((depth, fp));
            }
            at.fetch_min(depth, Ordering::Relaxed);
        }
    }
}

/// The actions from an initial state to the state with fingerprint `fp`.
fn path_to<M>(model: &M, visited: &Visited, fp: u64) -> Vec<M::Action>
where
    M: Model,
    M::State: Hash + Clone,
    M::Action: Clone,
{
    let mut indices = Vec::new();
    let mut at = fp;
    let root = loop {
        let (parent, index) = visited[&at];
        if parent == 0 {
            break at;
        }
        indices.push(index as usize);
        at = parent;
    };
    let mut state = model
        .init_states()
        .into_iter()
        .find(|s| fingerprint(s) == root)
        .expect("the path starts at an initial state");
    let mut path = Vec::with_capacity(indices.len());
    let mut actions = Vec::new();
    for index in indices.into_iter().rev() {
        actions.clear();
        model.actions(&state, &mut actions);
        let action = actions.swap_remove(index);
        path.push(action.clone());
        state = model
            .next_state(&state, action)
            .expect("a recorded step replays");
    }
    path
}
