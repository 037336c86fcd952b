//! How fast the checker is on histories the model made: histories and operations checked per
//! second, the worst check, and how many answered Unknown (research §6.3's recommended size:
//! 5 lanes, 60 operations per lane). Figures belong here, not in timed tests.
//!
//! `cargo run --release -p hubspec-history --example throughput -- [histories] [lanes] [ops per lane]`

use hubspec_history::generate::{run_with, Step};
use hubspec_history::{check, Verdict};
use std::time::{Duration, Instant};

/// xorshift64*: a seeded generator, so a figure can be reproduced.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let histories = args.first().copied().unwrap_or(200);
    let lanes = args.get(1).copied().unwrap_or(5);
    let per_lane = args.get(2).copied().unwrap_or(60);
    let users: Vec<Option<String>> = (0..lanes)
        .map(|i| (i % 3 != 2).then(|| format!("u{}", i % 2)))
        .collect();
    let users: Vec<Option<&str>> = users.iter().map(|u| u.as_deref()).collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut ops, mut worst, mut unknown, mut failed, mut states) = (0, Duration::ZERO, 0, 0, 0);
    let start = Instant::now();
    for n in 0..histories {
        let steps: Vec<Step> = (0..lanes * per_lane)
            .map(|_| {
                let r = rng.next().to_le_bytes();
                (r[0], r[1], r[2], r[3])
            })
            .collect();
        let h = run_with(&users, n % 2 == 1, &steps, true);
        ops += h.ops.len();
        let report = check(&h, Duration::from_secs(10)).expect("generated histories are valid");
        worst = worst.max(report.elapsed);
        states += report.states;
        match report.verdict {
            Verdict::Linearizable => {}
            Verdict::Unknown { .. } => unknown += 1,
            Verdict::Violations(_) => failed += 1,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{histories} histories, {lanes} lanes x {per_lane} ops: {:.1} histories/s, {:.0} ops/s, \
         worst {:.1} ms, {states} states, unknown {unknown}, false failures {failed}",
        histories as f64 / secs,
        ops as f64 / secs,
        worst.as_secs_f64() * 1e3,
    );
}
