//! Running a check and collecting its figures.

use crate::bounds::Bounds;
use crate::model::HubModel;
use hubspec_model::Spec;
use stateright::{Checker, Expectation, Model};
use std::time::{Duration, Instant};

/// One property's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropertyVerdict {
    /// The property's name.
    pub name: &'static str,
    /// `always` or `sometimes`.
    pub always: bool,
    /// Whether it holds: an `always` with no counterexample, a `sometimes` with a witness.
    pub holds: bool,
    /// The counterexample (for a failed `always`) or witness (for a `sometimes`), one
    /// operation per line in transcript form.
    pub path: Option<Vec<String>>,
}

/// The figures of one check.
#[derive(Clone, Debug)]
pub struct CheckReport {
    /// What was checked.
    pub spec: Spec,
    /// The universe.
    pub bounds: Bounds,
    /// States generated (with repeats).
    pub generated: usize,
    /// Distinct states (symmetry classes when symmetry is on).
    pub unique: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Whether the check stopped at its state limit before exhausting the graph: then no
    /// `always` verdict is a proof.
    pub truncated: bool,
    /// Per property, in declaration order.
    pub properties: Vec<PropertyVerdict>,
}

impl CheckReport {
    /// Generated states per second.
    pub fn states_per_sec(&self) -> f64 {
        self.generated as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Whether every property holds.
    pub fn all_hold(&self) -> bool {
        !self.truncated && self.properties.iter().all(|p| p.holds)
    }
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "spec:   {}", self.spec)?;
        writeln!(f, "bounds: {}", self.bounds)?;
        writeln!(
            f,
            "states: {} generated, {} unique, {:.2} s, {:.0} generated states/s",
            self.generated,
            self.unique,
            self.elapsed.as_secs_f64(),
            self.states_per_sec()
        )?;
        if self.truncated {
            writeln!(
                f,
                "TRUNCATED at the state limit: the invariants are not proven"
            )?;
        }
        for p in &self.properties {
            let kind = if p.always { "always   " } else { "sometimes" };
            let verdict = if p.holds { "holds" } else { "FAILS" };
            writeln!(f, "  {verdict}  {kind} {}", p.name)?;
            if let (false, Some(path)) = (p.holds, &p.path) {
                writeln!(f, "         counterexample:")?;
                for (i, step) in path.iter().enumerate() {
                    writeln!(f, "         {:>2}. {step}", i + 1)?;
                }
            }
        }
        Ok(())
    }
}

/// Which checker explores the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// [`crate::explore`]: level-synchronous BFS that gains from a second thread.
    Parallel,
    /// stateright's own BFS checker: the reference the parallel engine is tested against.
    Stateright,
}

/// What to check and how.
#[derive(Clone, Copy, Debug)]
pub struct CheckOptions {
    /// Replace every state by the representative of its symmetry class.
    pub symmetry: bool,
    /// Worker threads.
    pub threads: usize,
    /// The explorer.
    pub engine: Engine,
    /// Stop (and say so) beyond this many distinct states.
    pub max_states: u64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            symmetry: true,
            threads: 1,
            engine: Engine::Parallel,
            max_states: 50_000_000,
        }
    }
}

/// Check `spec` over `bounds`.
pub fn check(spec: Spec, bounds: Bounds, options: CheckOptions) -> CheckReport {
    check_model(
        HubModel {
            symmetry: options.symmetry,
            ..HubModel::new(spec, bounds)
        },
        options,
    )
}

/// Check a prepared model (e.g. one carrying a test mutation).
pub fn check_model(model: HubModel, options: CheckOptions) -> CheckReport {
    let (spec, bounds) = (model.spec, model.bounds);
    let props = model.properties();
    let start = Instant::now();
    let (generated, unique, truncated, mut discoveries) = match options.engine {
        Engine::Parallel => {
            let e =
                crate::explore::explore(&model, options.threads, bounds.depth, options.max_states);
            (
                e.generated as usize,
                e.unique as usize,
                e.truncated,
                e.discoveries,
            )
        }
        Engine::Stateright => {
            let mut builder = model.clone().checker().threads(options.threads.max(1));
            if let Some(depth) = bounds.depth {
                builder = builder.target_max_depth(depth);
            }
            let c = builder
                .target_state_count(options.max_states as usize)
                .spawn_bfs()
                .join();
            let found = props
                .iter()
                .filter_map(|p| {
                    c.discovery(p.name)
                        .map(|path| (p.name, path.into_actions()))
                })
                .collect();
            (
                c.state_count(),
                c.unique_state_count(),
                c.unique_state_count() as u64 >= options.max_states,
                found,
            )
        }
    };
    let elapsed = start.elapsed();
    let properties = props
        .iter()
        .map(|p| {
            let always = matches!(p.expectation, Expectation::Always);
            let path = discoveries.remove(p.name).map(|actions| {
                // A mutated model's paths are not histories of the spec: show them as found.
                let concrete = if model.symmetry && model.mutation.is_none() {
                    crate::concretize(&spec, &actions)
                } else {
                    actions
                };
                concrete
                    .iter()
                    .map(|a| model.format_action(a))
                    .collect::<Vec<_>>()
            });
            PropertyVerdict {
                name: p.name,
                always,
                holds: always == path.is_none(),
                path,
            }
        })
        .collect();
    CheckReport {
        spec,
        bounds,
        generated,
        unique,
        elapsed,
        truncated,
        properties,
    }
}
