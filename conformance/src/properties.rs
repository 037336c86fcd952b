//! Property-based comparison: random histories generated from the model, run against the
//! target, shrunk to a minimal failing history.
//!
//! The model is proptest-state-machine's reference state machine: it generates each operation
//! from the current state (so every history is valid: invocations only from connected
//! connections, resumes only of suspended ones) and its preconditions keep shrunk histories
//! valid. The system under test is the target, reached through a harness session that runs
//! the whole history and compares every step.

use crate::case::{run_case, CaseOutcome};
use crate::target::Target;
use hubspec_model::{
    Capability, ConnId, Hub, Op, Profile, Selector, Spec, Status, Target as Id, Text,
};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner,
};
use proptest_state_machine::ReferenceStateMachine;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The universe random histories are drawn from (CONTRACT.md's capabilities decide the rest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Universe {
    /// The spec the target is checked under.
    pub spec: Spec,
    /// Live connections at most.
    pub connections: usize,
    /// `JoinRoom` / `LeaveRoom` (capability `rooms`).
    pub rooms: bool,
    /// `Restart` (capability `restart`).
    pub restart: bool,
    /// Drops and resumes (always: under `core` a drop ends the connection and a resume is
    /// refused, which is worth checking too).
    pub drops: bool,
    /// `Expire` (each one waits the target's disconnect timeout).
    pub expire: bool,
}

impl Universe {
    /// Up to 4 connections, 2 users, 3 groups, every selector, with what the target declares.
    pub fn for_target(target: &Target) -> Universe {
        let c = &target.config;
        Universe {
            spec: c.spec(),
            connections: 4,
            rooms: c.has(Capability::Rooms),
            restart: c.has(Capability::Restart),
            drops: true,
            expire: c.profile == Profile::CoreStateful,
        }
    }
}

/// The generator's configuration: `init_state` takes no argument, so it is read from here.
/// Set and cleared only by [`UniverseGuard`].
static UNIVERSE: Mutex<Option<Universe>> = Mutex::new(None);

/// Held by [`UniverseGuard`], so two runs never share [`UNIVERSE`].
static RUNNING: Mutex<()> = Mutex::new(());

/// One run's hold on [`UNIVERSE`]: it takes [`RUNNING`] and sets the universe; dropping it
/// clears the universe, then lets the next run in. A guard rather than a call at the end of
/// [`run`], because a failing run may leave by unwinding (shuttle's `ExecutionGuard`), and a
/// stale universe must not outlive it.
struct UniverseGuard {
    _running: MutexGuard<'static, ()>,
}

impl UniverseGuard {
    fn set(universe: Universe) -> UniverseGuard {
        // A run that panicked poisons the locks; the guard has already cleared what it set.
        let running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        *UNIVERSE.lock().unwrap_or_else(PoisonError::into_inner) = Some(universe);
        UniverseGuard { _running: running }
    }
}

impl Drop for UniverseGuard {
    fn drop(&mut self) {
        *UNIVERSE.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// The reference state: the model's hub under the universe's spec.
#[derive(Clone, Debug)]
pub struct RefState {
    universe: Universe,
    hub: Hub<Text>,
}

/// The model as proptest-state-machine's reference.
pub struct HubMachine;

const GROUPS: [&str; 3] = ["g0", "g1", "G0"];
const USERS: [&str; 2] = ["u0", "u1"];

fn group() -> impl Strategy<Value = Option<String>> {
    prop_oneof![20 => select(&GROUPS[..]).prop_map(|g| Some(g.to_string())), 1 => Just(None)]
}

impl ReferenceStateMachine for HubMachine {
    type State = RefState;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<RefState> {
        let universe = UNIVERSE
            .lock()
            .unwrap()
            .clone()
            .expect("properties::run sets the universe");
        Just(RefState {
            universe,
            hub: Hub::new(),
        })
        .boxed()
    }

    fn transitions(state: &RefState) -> BoxedStrategy<Op> {
        let u = &state.universe;
        let hub = &state.hub;
        let connected: Vec<ConnId> = hub
            .conns
            .iter()
            .filter(|c| c.status == Status::Connected)
            .map(|c| c.id)
            .collect();
        let suspended: Vec<ConnId> = hub
            .conns
            .iter()
            .filter(|c| c.status == Status::Suspended)
            .map(|c| c.id)
            .collect();
        let mut targets: Vec<Id> = hub.conns.iter().map(|c| Id::Id(c.id)).collect();
        if let Some(closed) = hub.closed_id() {
            targets.push(Id::Id(closed));
        }
        targets.push(Id::Unknown);
        let mut options: Vec<(u32, BoxedStrategy<Op>)> = Vec::new();
        if hub.conns.len() < u.connections {
            let user = prop_oneof![
                Just(None),
                select(&USERS[..]).prop_map(|u| Some(u.to_string()))
            ];
            options.push((6, user.prop_map(|user| Op::Connect { user }).boxed()));
        }
        if u.restart {
            options.push((1, Just(Op::Restart).boxed()));
        }
        if !suspended.is_empty() {
            let s = select(suspended);
            options.push((
                3,
                s.clone()
                    .prop_map(|conn| Op::Resume {
                        conn,
                        altered_token: false,
                    })
                    .boxed(),
            ));
            if u.expire {
                options.push((1, s.prop_map(|conn| Op::Expire { conn }).boxed()));
            }
        }
        if !connected.is_empty() {
            let caller = select(connected);
            let target = select(targets.clone());
            let user = select(&USERS[..]).prop_map(str::to_string);
            options.push((
                6,
                (caller.clone(), group())
                    .prop_map(|(caller, group)| Op::AddToGroup { caller, group })
                    .boxed(),
            ));
            options.push((
                3,
                (caller.clone(), group())
                    .prop_map(|(caller, group)| Op::RemoveFromGroup { caller, group })
                    .boxed(),
            ));
            options.push((
                3,
                (caller.clone(), target.clone(), group())
                    .prop_map(|(caller, target, group)| Op::AddConnectionToGroup {
                        caller,
                        target,
                        group,
                    })
                    .boxed(),
            ));
            options.push((
                2,
                (caller.clone(), target.clone(), group())
                    .prop_map(|(caller, target, group)| Op::RemoveConnectionFromGroup {
                        caller,
                        target,
                        group,
                    })
                    .boxed(),
            ));
            options.push((
                1,
                caller
                    .clone()
                    .prop_map(|conn| Op::Disconnect { conn })
                    .boxed(),
            ));
            if u.drops {
                options.push((1, caller.clone().prop_map(|conn| Op::Drop { conn }).boxed()));
            }
            if u.rooms {
                options.push((
                    2,
                    (caller.clone(), group())
                        .prop_map(|(caller, room)| Op::JoinRoom { caller, room })
                        .boxed(),
                ));
                options.push((
                    1,
                    (caller.clone(), group())
                        .prop_map(|(caller, room)| Op::LeaveRoom { caller, room })
                        .boxed(),
                ));
            }
            let selector = (
                0..12u8,
                target.clone(),
                target,
                group(),
                group(),
                user.clone(),
                user,
            )
                .prop_map(|(k, t1, t2, g1, g2, u1, u2)| match k {
                    0 => Selector::All,
                    1 => Selector::AllExcept(vec![t1, t2]),
                    2 => Selector::Others,
                    3 => Selector::Caller,
                    4 => Selector::Connection(t1),
                    5 => Selector::Connections(vec![t1, t2]),
                    6 => Selector::Group(g1),
                    7 => Selector::Groups(vec![g1, g2]),
                    8 => Selector::GroupExcept(g1, vec![t1]),
                    9 => Selector::OthersInGroup(g1),
                    10 => Selector::User(u1),
                    _ => Selector::Users(vec![u1, u2]),
                });
            options.push((
                12,
                (caller, selector)
                    .prop_map(|(caller, selector)| Op::Send {
                        caller,
                        selector,
                        payload: "m".into(),
                    })
                    .boxed(),
            ));
        }
        if options.is_empty() {
            return Just(Op::Connect { user: None }).boxed();
        }
        Union::new_weighted(options).boxed()
    }

    fn preconditions(state: &RefState, op: &Op) -> bool {
        let count_ok =
            !matches!(op, Op::Connect { .. }) || state.hub.conns.len() < state.universe.connections;
        count_ok && state.hub.precondition(op).is_ok()
    }

    fn apply(mut state: RefState, op: &Op) -> RefState {
        let spec = state.universe.spec;
        state.hub.apply(&spec, op).expect("preconditions hold");
        state
    }
}

/// What a property run found.
#[derive(Debug)]
pub struct PropertyRun {
    /// Cases run (shrinking steps included).
    pub cases: u32,
    /// Operations sent in all.
    pub ops: usize,
    /// The minimal failing case, if any.
    pub failure: Option<CaseOutcome>,
    /// When the first failing case was seen, before any shrinking: the time since the run
    /// started and the operations sent until then (that case's included).
    pub first_failure: Option<(std::time::Duration, usize)>,
}

/// Where failing seeds are kept, so they run first next time.
pub const REGRESSIONS_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/proptest-regressions/properties.txt"
);

/// Run `cases` random histories of up to `max_len` operations against `target`, shrinking
/// the first failure.
///
/// Blocks the calling thread, and runs each case with `handle.block_on`, so the calling thread
/// must be allowed to block: on a multi-threaded runtime wrap the call in
/// [`tokio::task::block_in_place`] (what the suite and the mutants do), or call it from
/// [`tokio::task::spawn_blocking`]. Not from a current-thread runtime's task: `block_in_place`
/// panics there, and so does `block_on` inside a runtime.
pub fn run(
    target: &Target,
    universe: Universe,
    cases: u32,
    max_len: usize,
    handle: &tokio::runtime::Handle,
    progress: &dyn crate::Progress,
) -> PropertyRun {
    let universe_guard = UniverseGuard::set(universe.clone());
    // Failing seeds are kept in the crate's regressions file only when they were found on the
    // embedded hub (with or without faults): they are our regression cases. A run against
    // someone's server must not write into hubspec's source tree (nor expect it to exist).
    let failure_persistence: Box<dyn proptest::test_runner::FailurePersistence> =
        if target.is_embedded() {
            Box::new(FileFailurePersistence::Direct(REGRESSIONS_FILE))
        } else {
            Box::new(FileFailurePersistence::Off)
        };
    let config = Config {
        cases,
        max_shrink_iters: 256,
        failure_persistence: Some(failure_persistence),
        ..Config::default()
    };
    // Deterministic: the same suite finds the same counterexample on every run.
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let strategy = HubMachine::sequential_strategy(1..max_len);
    let ops = Arc::new(Mutex::new(0usize));
    let runs = Arc::new(Mutex::new(0u32));
    let last_failure: Arc<Mutex<Option<CaseOutcome>>> = Arc::new(Mutex::new(None));
    let first_failure: Arc<Mutex<Option<(std::time::Duration, usize)>>> =
        Arc::new(Mutex::new(None));
    let started = std::time::Instant::now();
    let spec = universe.spec;
    let result = runner.run(&strategy, |(_, transitions, seen)| {
        *runs.lock().unwrap() += 1;
        *ops.lock().unwrap() += transitions.len();
        let name = format!(
            "property case ({} ops, {})",
            transitions.len(),
            spec.profile
        );
        let outcome = handle.block_on(run_case(target, spec, &name, &transitions));
        progress.advance(&name, outcome.passed());
        // Tell the shrinker how many transitions the system went through: all of them, or up
        // to the first diverging step (the later ones can go first when shrinking).
        if let Some(seen) = seen {
            let upto = outcome
                .findings
                .iter()
                .map(|f| f.step)
                .filter(|s| *s > 0)
                .min();
            seen.fetch_add(
                upto.unwrap_or(transitions.len()),
                std::sync::atomic::Ordering::SeqCst,
            );
        }
        if outcome.passed() {
            Ok(())
        } else {
            first_failure
                .lock()
                .unwrap()
                .get_or_insert((started.elapsed(), *ops.lock().unwrap()));
            let msg = outcome.findings[0].rules.join(", ");
            *last_failure.lock().unwrap() = Some(outcome);
            Err(TestCaseError::fail(msg))
        }
    });
    drop(universe_guard);
    let failure = match result {
        Ok(()) => None,
        Err(TestError::Fail(_, (_, minimal, _))) => {
            // Run the minimal history once more to report exactly its divergence.
            let name = format!(
                "property counterexample ({} ops, {})",
                minimal.len(),
                spec.profile
            );
            let first = handle.block_on(run_case(target, spec, &name, &minimal));
            let rules: Vec<&'static str> = first
                .findings
                .iter()
                .flat_map(|f| f.rules.clone())
                .collect();
            let minimal = handle.block_on(crate::shrink::shrink(spec, minimal, |h| {
                let rules = &rules;
                async move {
                    let o = run_case(target, spec, "shrinking", &h).await;
                    o.findings
                        .iter()
                        .any(|f| f.rules.iter().any(|r| rules.contains(r)))
                }
            }));
            let name = format!(
                "property counterexample ({} ops, {})",
                minimal.len(),
                spec.profile
            );
            Some(handle.block_on(run_case(target, spec, &name, &minimal)))
        }
        Err(TestError::Abort(reason)) => last_failure
            .lock()
            .unwrap()
            .take()
            .or_else(|| panic!("property run aborted: {reason}")),
    };
    let cases = *runs.lock().unwrap();
    let ops = *ops.lock().unwrap();
    let first_failure = *first_failure.lock().unwrap();
    PropertyRun {
        cases,
        ops,
        failure,
        first_failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run that panics leaves no universe behind: the guard clears it while unwinding, and
    /// the next run gets in although the panic poisoned the lock.
    #[test]
    fn a_panicking_run_clears_the_universe() {
        let universe = Universe {
            spec: Spec::default(),
            connections: 1,
            rooms: false,
            restart: false,
            drops: false,
            expire: false,
        };
        let unwound = std::panic::catch_unwind(|| {
            let _guard = UniverseGuard::set(universe.clone());
            assert!(UNIVERSE
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_some());
            panic!("a failing run");
        });
        assert!(unwound.is_err());
        // Held while looking, so no other run sets the universe meanwhile.
        let _running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(
            *UNIVERSE.lock().unwrap_or_else(PoisonError::into_inner),
            None
        );
    }
}
