//! Prints every scenario's transcript under its default spec (what the docs show).
//!
//! `cargo run -p hubspec-model --example scenarios [RULE-ID]`
use hubspec_model::{scenarios, Transcript};

fn main() {
    let only = std::env::args().nth(1);
    for s in scenarios() {
        if only.as_deref().is_some_and(|o| o != s.rule) {
            continue;
        }
        let t = Transcript::run(s.default_spec(), &s.ops).expect("scenarios are valid");
        println!("## {}\n{t}", s.key());
    }
}
