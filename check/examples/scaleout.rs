//! The scale-out actor model: every scenario under every behaviour, with state counts and
//! times; `--write-docs` regenerates `docs/src/scaleout-model.md`; `--path BEHAVIOUR SCENARIO
//! PROPERTY` prints a counterexample (BEHAVIOUR: refhub, aspnet or unordered); `--large`
//! checks the larger clusters of `large_scenarios` instead (three nodes, gaps and crashes).
//!
//! `cargo run --release -p hubspec-check --example scaleout [-- --write-docs]`

use hubspec_check::scaleout::properties::PROPERTIES;
use hubspec_check::scaleout::{
    check_up_to, counterexample, large_scenarios, scenarios, Behaviour, Cluster, Run, Table,
};

/// The most states a `--large` run explores (generated, repeats included; under 3 GB).
const LARGE_CAP: usize = 1_000_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, behaviour, scenario, property] = &args[..] {
        if flag == "--path" {
            return path(behaviour, scenario, property);
        }
    }
    if args.iter().any(|a| a == "--large") {
        // One run at a time, printed as it ends: these are the big ones.
        for scenario in large_scenarios() {
            for behaviour in Behaviour::ALL {
                print_run(&check_up_to(
                    Cluster::new(behaviour, scenario.clone()),
                    Some(LARGE_CAP),
                ));
            }
        }
        return;
    }
    let table = Table::check();
    let mut total = 0;
    for r in &table.runs {
        total += r.states;
        print_run(r);
    }
    let elapsed: std::time::Duration = table.runs.iter().map(|r| r.elapsed).sum();
    println!("total {total} states in {elapsed:.2?}");
    if args.iter().any(|a| a == "--write-docs") {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/src/scaleout-model.md");
        std::fs::write(path, table.page()).expect("write the page");
        println!("wrote {path}");
    }
}

fn print_run(r: &Run) {
    println!(
        "{:<20} {:<32} {:>8} states{} {:>9.2?}  counterexamples: {}",
        r.behaviour.name(),
        r.scenario,
        r.states,
        if r.complete { "" } else { " (capped)" },
        r.elapsed,
        r.failed.join(", ")
    );
}

fn path(behaviour: &str, scenario: &str, property: &str) {
    let behaviour = match behaviour {
        "refhub" => Behaviour::Refhub,
        "aspnet" => Behaviour::AspNet,
        "unordered" => Behaviour::Unordered,
        other => panic!("unknown behaviour {other}: refhub, aspnet or unordered"),
    };
    let scenario = scenarios()
        .into_iter()
        .chain(large_scenarios())
        .find(|s| s.name == scenario)
        .unwrap_or_else(|| panic!("unknown scenario {scenario}"));
    let (property, _) = PROPERTIES
        .iter()
        .find(|(name, _)| *name == property)
        .unwrap_or_else(|| panic!("unknown property {property}"));
    match counterexample(Cluster::new(behaviour, scenario), property) {
        Some(path) => print!("{path}"),
        None => println!("no counterexample: the property holds"),
    }
}
