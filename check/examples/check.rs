//! Model-check the spec and print the figures.
//!
//! `cargo run --release -p hubspec-check --example check -- [PROFILE] [CONNS USERS GROUPS] [THREADS]`
//!
//! Environment: `HUBSPEC_BUFFER` (default 2), `HUBSPEC_NO_ROOMS`, `HUBSPEC_VERIFY_REJOIN`
//! (classic with rejoin verification).
use hubspec_check::{check, Bounds, CheckOptions, Engine};
use hubspec_model::{Profile, Spec};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let profile: Profile = args
        .first()
        .map_or(Ok(Profile::CoreStateful), |p| p.parse())
        .unwrap();
    let n = |i: usize, d: u8| args.get(i).map_or(d, |v| v.parse().expect("a number"));
    let buffer = std::env::var("HUBSPEC_BUFFER").map_or(2, |v| v.parse().expect("a number"));
    let rooms = std::env::var_os("HUBSPEC_NO_ROOMS").is_none();
    let bounds = Bounds {
        connections: n(1, 3),
        users: n(2, 2),
        groups: n(3, 2),
        buffer,
        rooms,
        ..Bounds::default()
    };
    let threads = args.get(4).map_or(1, |v| v.parse().expect("a number"));
    let engine = match args.get(5).map(String::as_str) {
        Some("stateright") => Engine::Stateright,
        _ => Engine::Parallel,
    };
    let options = CheckOptions {
        threads,
        engine,
        ..CheckOptions::default()
    };
    let spec =
        Spec::new(profile).with_verify_rejoin(std::env::var_os("HUBSPEC_VERIFY_REJOIN").is_some());
    let report = check(spec, bounds, options);
    print!("{report}");
}
