//! Bounded-exhaustive comparison: every reachable (state, operation) transition of the
//! model's graph within bounds, run against the target.
//!
//! The graph is the model checker's (symmetry-reduced, so each case once); a set of walks
//! from the initial state covers every transition at least once, each walk taking the
//! uncovered transitions of its current state first (most are self-loops: sends to connected
//! connections change nothing) and otherwise heading to the nearest state that still has
//! some. Each walk is mapped back to a concrete history and run as one case.
//!
//! A target that deviates would otherwise hide most of the graph: a walk is judged only up to
//! its first divergence, so everything after it is unseen. So the part runs in rounds
//! ([`ROUNDS`]): a transition a walk ran before its first divergence is covered; the one that
//! diverged is excluded (named by the rule its root cause blames); the next round plans new
//! walks to the transitions still uncovered, never through an excluded one. Coverage is then
//! reported against what was coverable: the transitions neither excluded nor reachable only
//! through excluded ones.

use crate::case::{run_case, CaseOutcome};
use crate::target::Target;
use futures_util::stream::{self, StreamExt};
use hubspec_check::{concretize, Bounds, CheckState, HubModel};
use hubspec_model::is_exclusive;
use hubspec_model::{transcript::small_to_text, Op, Small, Spec};
use stateright::Model;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// The model's graph within bounds.
pub struct Graph {
    /// Canonical states, the initial one first.
    pub states: Vec<CheckState>,
    /// Per state, its transitions: (operation, target state index). Only states above the
    /// depth bound have transitions.
    pub edges: Vec<Vec<(Op<Small>, usize)>>,
}

impl Graph {
    /// Every transition within the bounds.
    pub fn transitions(&self) -> usize {
        self.edges.iter().map(Vec::len).sum()
    }
}

/// The bounds the suite explores: 3 connections, 2 users, 2 groups, every history of up to 5
/// operations; the suite adds `Expire` through [`EXPIRE`], which the bounds do not carry.
/// Measured against the embedded refhub (debug build, both profiles, 2 busy cores): depth 4 is 8,609 transitions in 1,327 walks (12,393
/// ops, 14 s); depth 5 29,846 in 4,222 walks (46,120 ops, 48 s), 29,945 with `Expire` (4,302
/// walks, 46,490 ops, 66 s); depth 6 79,675 in 10,591 walks (131,258 ops, 181 s without
/// `Expire`), too slow for a suite that should take about two minutes. The null-id actions
/// (GRP-NULL-CONNECTION-ID) then took depth 5 with `Expire` to 31,889 transitions (13,645 core,
/// 18,244 core-stateful); the whole suite ran in 107 s. `Restart` and rooms are
/// left to the scenarios and the property runs (a restart ends every session sharing the hub,
/// so those walks could not run in parallel).
pub fn default_bounds() -> Bounds {
    Bounds {
        connections: 3,
        users: 2,
        groups: 2,
        payloads: 1,
        buffer: 1,
        depth: Some(5),
        rooms: false,
        restart: false,
    }
}

/// Whether the suite's graph has `Expire` transitions. Each waits the target's disconnect
/// timeout (the embedded hub's is short, [`crate::target::EMBEDDED_DISCONNECT_TIMEOUT`]); the
/// walks run in parallel, so the waits overlap.
pub const EXPIRE: bool = true;

/// The suite's bounds in words, for the report.
pub fn describe_default() -> String {
    format!(
        "{}, expire {EXPIRE}, walks of at most {WALK_MAX} operations",
        default_bounds()
    )
}

/// The longest walk: each is one session, and a long one holds its connections open.
pub const WALK_MAX: usize = 48;

/// Build the graph of `spec` within `bounds` (depth is required), with `Expire` transitions
/// when `expire` (each waits the target's disconnect timeout when run).
pub fn graph_with(spec: Spec, bounds: Bounds, expire: bool) -> Graph {
    let model = HubModel::new(spec, bounds);
    let depth = bounds
        .depth
        .expect("the exhaustive graph needs a depth bound");
    let mut index: HashMap<CheckState, usize> = HashMap::new();
    let init = model.init_states().remove(0);
    index.insert(init.clone(), 0);
    let mut states = vec![init];
    let mut edges: Vec<Vec<(Op<Small>, usize)>> = vec![vec![]];
    let mut queue = VecDeque::from([(0usize, 0usize)]);
    let mut actions = Vec::new();
    while let Some((at, d)) = queue.pop_front() {
        if d >= depth {
            continue;
        }
        actions.clear();
        model.actions(&states[at], &mut actions);
        for op in actions
            .drain(..)
            .filter(|op| expire || !matches!(op, Op::Expire { .. }))
        {
            let Some(next) = model.next_state(&states[at], op.clone()) else {
                continue;
            };
            if !model.within_boundary(&next) {
                continue;
            }
            let to = match index.get(&next) {
                Some(i) => *i,
                None => {
                    let i = states.len();
                    index.insert(next.clone(), i);
                    states.push(next);
                    edges.push(vec![]);
                    queue.push_back((i, d + 1));
                    i
                }
            };
            edges[at].push((op, to));
        }
    }
    Graph { states, edges }
}

/// Per state, one flag per transition.
type EdgeSet = Vec<Vec<bool>>;

fn edge_set(graph: &Graph, value: bool) -> EdgeSet {
    graph.edges.iter().map(|e| vec![value; e.len()]).collect()
}

/// Walks from the initial state that together take every transition, each at most
/// `max_len` operations long.
pub fn walks(graph: &Graph, max_len: usize) -> Vec<Vec<Op<Small>>> {
    walks_avoiding(
        graph,
        max_len,
        edge_set(graph, true),
        &edge_set(graph, false),
    )
}

/// Walks from the initial state that take every transition of `todo` they can reach without
/// taking a `blocked` one, each at most `max_len` operations long.
fn walks_avoiding(
    graph: &Graph,
    max_len: usize,
    todo: EdgeSet,
    blocked: &EdgeSet,
) -> Vec<Vec<Op<Small>>> {
    let mut uncovered = todo;
    for (u, b) in uncovered.iter_mut().zip(blocked) {
        for (u, b) in u.iter_mut().zip(b) {
            *u &= !*b;
        }
    }
    let mut left: usize = uncovered.iter().flatten().filter(|u| **u).count();
    let mut out = Vec::new();
    while left > 0 {
        let mut at = 0usize;
        let mut walk: Vec<Op<Small>> = Vec::new();
        while walk.len() < max_len {
            if let Some(i) = uncovered[at].iter().position(|u| *u) {
                // Self-loops first, so the walk stays where it has work.
                let i = (0..graph.edges[at].len())
                    .find(|j| uncovered[at][*j] && graph.edges[at][*j].1 == at)
                    .unwrap_or(i);
                uncovered[at][i] = false;
                left -= 1;
                let (op, to) = &graph.edges[at][i];
                walk.push(op.clone());
                at = *to;
                continue;
            }
            // Head for the nearest state with uncovered transitions.
            let Some(path) = path_to_work(graph, &uncovered, blocked, at) else {
                break;
            };
            if walk.len() + path.len() > max_len {
                break;
            }
            for (from, i) in path {
                if uncovered[from][i] {
                    uncovered[from][i] = false;
                    left -= 1;
                }
                walk.push(graph.edges[from][i].0.clone());
                at = graph.edges[from][i].1;
            }
        }
        if walk.is_empty() {
            break;
        }
        out.push(walk);
    }
    out
}

fn path_to_work(
    graph: &Graph,
    uncovered: &[Vec<bool>],
    blocked: &[Vec<bool>],
    from: usize,
) -> Option<Vec<(usize, usize)>> {
    let mut prev: HashMap<usize, (usize, usize)> = HashMap::new();
    let mut queue = VecDeque::from([from]);
    while let Some(s) = queue.pop_front() {
        if s != from && uncovered[s].iter().any(|u| *u) {
            let mut path = Vec::new();
            let mut at = s;
            while at != from {
                let (p, i) = prev[&at];
                path.push((p, i));
                at = p;
            }
            path.reverse();
            return Some(path);
        }
        for (i, (_, to)) in graph.edges[s].iter().enumerate() {
            if *to != from && !blocked[s][i] && !prev.contains_key(to) {
                prev.insert(*to, (s, i));
                queue.push_back(*to);
            }
        }
    }
    None
}

/// Failing walks shrunk at most, each to a minimal history: a walk is up to 48 operations,
/// most of them unrelated to its divergence.
pub const SHRUNK_MAX: usize = 3;

/// Shrink the first failing walk of each distinct first-named rule (at most [`SHRUNK_MAX`])
/// with [`crate::shrink`], keeping a removal while the history still diverges naming that
/// rule, and replace it with the minimal case's outcome (its findings carry the minimal
/// transcript and the replay command of the minimal history).
async fn shrink_failures(target: &Target, spec: Spec, failures: &mut [CaseOutcome]) {
    let mut seen: Vec<&'static str> = Vec::new();
    for o in failures.iter_mut() {
        if seen.len() >= SHRUNK_MAX {
            break;
        }
        let Some(rule) = o.findings.first().and_then(|f| f.rules.first()).copied() else {
            continue;
        };
        if seen.contains(&rule) {
            continue;
        }
        seen.push(rule);
        let minimal = crate::shrink::shrink(spec, o.expected.ops(), |h| async move {
            run_case(target, spec, "shrinking", &h).await.violates(rule)
        })
        .await;
        let name = format!("{}, shrunk to {} ops", o.name, minimal.len());
        let shrunk = run_case(target, spec, &name, &minimal).await;
        if shrunk.violates(rule) {
            *o = shrunk;
        }
    }
}

/// Rounds of walks at most: the first covers the graph; each later one plans walks to what is
/// still uncovered around the transitions that diverged. A correct target needs one.
pub const ROUNDS: usize = 4;

/// What the exhaustive part found.
pub struct ExhaustiveRun {
    /// Transitions within the bounds.
    pub transitions: usize,
    /// Transitions a walk ran before its first divergence (if any).
    pub covered: usize,
    /// Transitions that could be covered: neither excluded nor reachable only through an
    /// excluded one.
    pub coverable: usize,
    /// Transitions excluded because a walk diverged on them, per rule the divergence blamed.
    pub excluded: BTreeMap<&'static str, usize>,
    /// Walks run, over every round.
    pub walks: usize,
    /// Operations sent.
    pub ops: usize,
    /// The failing walks, shortest first, except that the first of each distinct rule (up to
    /// [`SHRUNK_MAX`]) is replaced in place by its shrunk, minimal history.
    pub failures: Vec<CaseOutcome>,
}

/// Run every transition of `spec` within `bounds` against `target`.
pub async fn run(target: &Target, spec: Spec, bounds: Bounds, parallel: usize) -> ExhaustiveRun {
    run_with_progress(target, spec, bounds, false, parallel, &crate::Quiet).await
}

/// [`run`], with `Expire` transitions when `expire`, reporting the part (its walks, per
/// round) and each walk to `progress`.
pub async fn run_with_progress(
    target: &Target,
    spec: Spec,
    bounds: Bounds,
    expire: bool,
    parallel: usize,
    progress: &dyn crate::Progress,
) -> ExhaustiveRun {
    let g = graph_with(spec, bounds, expire);
    let transitions = g.transitions();
    let mut covered = edge_set(&g, false);
    let mut blocked = edge_set(&g, false);
    let mut excluded: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let (mut walks_run, mut ops) = (0, 0);
    for round in 1..=ROUNDS {
        let todo: EdgeSet = covered
            .iter()
            .map(|c| c.iter().map(|x| !x).collect())
            .collect();
        let walks = walks_avoiding(&g, WALK_MAX, todo, &blocked);
        if walks.is_empty() {
            break;
        }
        let round_name = if round == 1 {
            String::new()
        } else {
            format!(", round {round}")
        };
        progress.part(
            &format!(
                "exhaustive ({}, {transitions} transitions{round_name})",
                spec.profile
            ),
            walks.len() as u64,
        );
        let histories: Vec<Vec<Op>> = walks
            .iter()
            .map(|w| concretize(&spec, w).iter().map(small_to_text).collect())
            .collect();
        walks_run += walks.len();
        ops += histories.iter().map(Vec::len).sum::<usize>();
        let mut progressed = false;
        for (i, o) in run_walks(target, spec, &histories, parallel, progress).await {
            let first = (!o.passed())
                .then(|| crate::root_causes::first_divergence(&o.findings))
                .flatten();
            // Ops before the first divergence ran as the model says; the one at it diverged.
            let reached = first.map_or(walks[i].len(), |f| f.step.saturating_sub(1));
            let rule = first.filter(|f| f.step > 0).and_then(|f| f.rules.first());
            let mut at = 0usize;
            for (k, op) in walks[i].iter().enumerate().take(reached + 1) {
                let e = g.edges[at]
                    .iter()
                    .position(|(o, _)| o == op)
                    .expect("walks follow edges");
                if k < reached {
                    progressed |= !std::mem::replace(&mut covered[at][e], true);
                } else if let Some(rule) = rule.filter(|_| !covered[at][e] && !blocked[at][e]) {
                    blocked[at][e] = true;
                    *excluded.entry(*rule).or_default() += 1;
                    progressed = true;
                }
                at = g.edges[at][e].1;
            }
            if !o.passed() {
                failures.push(o);
            }
        }
        if !progressed {
            break;
        }
    }
    failures.sort_by_key(|o| o.ops);
    shrink_failures(target, spec, &mut failures).await;
    ExhaustiveRun {
        transitions,
        covered: covered.iter().flatten().filter(|c| **c).count(),
        coverable: coverable(&g, &blocked),
        excluded,
        walks: walks_run,
        ops,
        failures,
    }
}

/// Transitions out of states reachable from the initial one without a `blocked` transition,
/// `blocked` ones aside.
fn coverable(graph: &Graph, blocked: &EdgeSet) -> usize {
    let mut seen = vec![false; graph.states.len()];
    let mut queue = VecDeque::from([0usize]);
    seen[0] = true;
    let mut count = 0;
    while let Some(s) = queue.pop_front() {
        for (i, (_, to)) in graph.edges[s].iter().enumerate() {
            if blocked[s][i] {
                continue;
            }
            count += 1;
            if !seen[*to] {
                seen[*to] = true;
                queue.push_back(*to);
            }
        }
    }
    count
}

/// Runs `histories` as walks (`parallel` at once on the one hub, each session with its own
/// prefix), except those that need the hub to themselves (broadcasts, the empty group name):
/// those run alone afterwards, as the scenarios' exclusive cases do.
async fn run_walks(
    target: &Target,
    spec: Spec,
    histories: &[Vec<Op>],
    parallel: usize,
    progress: &dyn crate::Progress,
) -> Vec<(usize, CaseOutcome)> {
    let (exclusive, shared): (Vec<_>, Vec<_>) = histories
        .iter()
        .enumerate()
        .partition(|(_, h)| is_exclusive(h));
    async fn one(
        target: &Target,
        spec: Spec,
        i: usize,
        h: &[Op],
        progress: &dyn crate::Progress,
    ) -> (usize, CaseOutcome) {
        let name = format!("exhaustive walk {} ({})", i + 1, spec.profile);
        let o = run_case(target, spec, &name, h).await;
        progress.advance(&name, o.passed());
        (i, o)
    }
    let mut outcomes: Vec<(usize, CaseOutcome)> = stream::iter(shared)
        .map(|(i, h)| one(target, spec, i, h, progress))
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    for (i, h) in exclusive {
        outcomes.push(one(target, spec, i, h, progress).await);
    }
    outcomes
}
