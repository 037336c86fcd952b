//! The scale-out actor model: every scenario under every behaviour, with state counts and
//! times; `--write-docs` regenerates `docs/src/scaleout-model.md`; `--path BEHAVIOUR SCENARIO
//! PROPERTY` prints a counterexample (BEHAVIOUR: refhub, aspnet or unordered).
//!
//! `cargo run --release -p hubspec-check --example scaleout [-- --write-docs]`

use hubspec_check::scaleout::properties::PROPERTIES;
use hubspec_check::scaleout::{counterexample, scenarios, Behaviour, Cluster, Table};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, behaviour, scenario, property] = &args[..] {
        if flag == "--path" {
            return path(behaviour, scenario, property);
        }
    }
    let table = Table::check();
    let mut total = 0;
    for r in &table.runs {
        total += r.states;
        println!(
            "{:<20} {:<50} {:>7} states {:>9.2?}  counterexamples: {}",
            r.behaviour.name(),
            r.scenario,
            r.states,
            r.elapsed,
            r.failed.join(", ")
        );
    }
    let elapsed: std::time::Duration = table.runs.iter().map(|r| r.elapsed).sum();
    println!("total {total} states in {elapsed:.2?}");
    if args.iter().any(|a| a == "--write-docs") {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/src/scaleout-model.md");
        std::fs::write(path, table.page()).expect("write the page");
        println!("wrote {path}");
    }
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
