//! `hubspec`: the conformance suite, the model checker, the reference hub and the benchmarks
//! behind one command. See `hubspec --help` and docs/src/testing-your-server.md.
//!
//! Exit codes (every subcommand): 0 success; 1 a failure was found (a rule failed, a mutant
//! was missed, a property has a counterexample, a replay diverged); 2 the run could not be
//! made (bad usage or configuration, `--only` matched nothing, no rule was checked);
//! 3 the target cannot be reached.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
