//! Fuzzing on stable Rust, in `cargo test`: each target of `targets.rs` runs its committed
//! corpus (`wire/fuzz-corpus/<target>/`, seeded from real messages) and then a fixed budget of
//! seeded mutations of it. An input fails the run when its target panics, takes longer than
//! [`SLOW`], or allocates more than [`alloc_bound`] at once (a thread-local peak, measured by
//! this binary's global allocator).
//!
//! `HUBSPEC_FUZZ_RUNS=N` (mutations per target, default [`RUNS`]) and `HUBSPEC_FUZZ_SEED=N`
//! (default fixed, so CI is repeatable) run longer or elsewhere; a failure prints both and
//! the input. Coverage-guided fuzzing of the same targets: `fuzz/` (see CONTRIBUTING.md).

mod mutate;
mod targets;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mutate::{env_u64, mutate, Rng};

/// Mutations per target in a default run.
const RUNS: u64 = 5000;
/// The longest any one input may take (a debug build; a hang is far beyond it).
const SLOW: Duration = Duration::from_secs(2);
/// The longest a whole target's run may take before the run is declared hung.
const TARGET_BOUND: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Allocation: a thread-local count of live bytes and its peak.
// ---------------------------------------------------------------------------------------------

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

struct Counting;

fn count(delta: isize) {
    // `try_with`: the allocator also runs while thread-locals are being torn down.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is passed through to `System` unchanged; only the counts are ours.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        System.dealloc(ptr, layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most an input of `len` bytes may have allocated at once: a fixed megabyte for the
/// parsers' own state plus 64 bytes per input byte (a JSON value tree costs a few dozen bytes
/// per input byte). A length field believed without bound costs gigabytes.
fn alloc_bound(len: usize) -> isize {
    (1 << 20) + 64 * len as isize
}

/// Runs `target` on `input`, returning its peak allocation above what was live before.
fn measured(target: fn(&[u8]), input: &[u8]) -> isize {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    target(input);
    PEAK.with(Cell::get) - base
}

// ---------------------------------------------------------------------------------------------
// Inputs: the corpus (the mutator is `mutate.rs`).
// ---------------------------------------------------------------------------------------------

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz-corpus")
        .join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read(f).expect("a corpus file"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The run.
// ---------------------------------------------------------------------------------------------

/// What one target's run did.
struct Figures {
    executions: u64,
    slowest: Duration,
    slowest_input: Vec<u8>,
    peak: isize,
}

impl Figures {
    /// The slowest input timed again, best of three: a slow input stays slow, a preempted
    /// one (the machine is shared) does not.
    fn slowest_again(&self, target: fn(&[u8])) -> Duration {
        (0..3)
            .map(|_| {
                let at = Instant::now();
                target(&self.slowest_input);
                at.elapsed()
            })
            .min()
            .unwrap_or_default()
    }
}

/// Runs `name`'s corpus then its mutations on a thread of its own, so that a hang is reported
/// (with the input) after [`TARGET_BOUND`] instead of stopping the test binary.
fn fuzz(name: &'static str) {
    let target = targets::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .expect("a target");
    let runs = env_u64("HUBSPEC_FUZZ_RUNS", RUNS);
    let seed = env_u64("HUBSPEC_FUZZ_SEED", 0x5eed_f00d);
    let corpus = corpus(name);
    assert!(!corpus.is_empty(), "{name}: an empty corpus");
    let current = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (done, finished) = mpsc::channel();
    let running = current.clone();
    let started = Instant::now();
    std::thread::spawn(move || {
        // Each target its own stream from the one seed.
        let mut rng = Rng((seed
            ^ name
                .bytes()
                .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))))
            | 1);
        let mut figures = Figures {
            executions: 0,
            slowest: Duration::ZERO,
            slowest_input: Vec::new(),
            peak: 0,
        };
        let inputs = corpus.len() as u64 + runs;
        for i in 0..inputs {
            let input = match corpus.get(i as usize) {
                Some(seed_input) => seed_input.clone(),
                None => mutate(&mut rng, &corpus),
            };
            *running.lock().unwrap() = input.clone();
            let at = Instant::now();
            let peak = measured(target, &input);
            let took = at.elapsed();
            let shown = String::from_utf8_lossy(&input);
            assert!(
                took < SLOW,
                "{name}: input {i} took {took:?}: {input:?} ({shown:?})"
            );
            assert!(
                peak <= alloc_bound(input.len()),
                "{name}: input {i} allocated {peak} bytes at once: {input:?} ({shown:?})"
            );
            figures.executions += 1;
            if took > figures.slowest {
                figures.slowest = took;
                figures.slowest_input = input;
            }
            figures.peak = figures.peak.max(peak);
        }
        let _ = done.send(figures);
    });
    match finished.recv_timeout(TARGET_BOUND) {
        Ok(f) => println!(
            "{name}: {} executions in {:.2} s, slowest input {:?} ({} bytes, {:?} timed again), \
             peak allocation {} KiB (HUBSPEC_FUZZ_SEED={seed}, HUBSPEC_FUZZ_RUNS={runs})",
            f.executions,
            started.elapsed().as_secs_f64(),
            f.slowest,
            f.slowest_input.len(),
            f.slowest_again(target),
            f.peak / 1024
        ),
        // The thread panicked (its message is above) or hangs.
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!(
            "{name} failed on {:?} (HUBSPEC_FUZZ_SEED={seed})",
            String::from_utf8_lossy(&current.lock().unwrap_or_else(|e| e.into_inner()))
        ),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!(
            "{name} hung for {TARGET_BOUND:?} on {:?} (HUBSPEC_FUZZ_SEED={seed})",
            current.lock().unwrap_or_else(|e| e.into_inner())
        ),
    }
}

#[test]
fn json_records_never_panic_hang_or_allocate_without_bound() {
    fuzz("json_records");
}

#[test]
fn msgpack_never_panics_hangs_or_allocates_without_bound() {
    fuzz("msgpack");
}

#[test]
fn handshake_never_panics_hangs_or_allocates_without_bound() {
    fuzz("handshake");
}

#[test]
fn negotiate_never_panics_hangs_or_allocates_without_bound() {
    fuzz("negotiate");
}

#[test]
fn classic_envelope_never_panics_hangs_or_allocates_without_bound() {
    fuzz("classic_envelope");
}

#[test]
fn classic_query_never_panics_hangs_or_allocates_without_bound() {
    fuzz("classic_query");
}

#[test]
fn the_allocation_bound_catches_a_length_believed_without_bound() {
    let believed = |data: &[u8]| {
        let claimed = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        std::hint::black_box(Vec::<u8>::with_capacity(claimed));
    };
    assert!(measured(believed, &[0, 0, 1, 0]) <= alloc_bound(4));
    assert!(measured(believed, &[0, 0x40, 0, 0]) > alloc_bound(4));
}

#[test]
fn every_target_has_a_test_and_a_corpus() {
    let source = include_str!("main.rs");
    for (name, _) in targets::TARGETS {
        assert!(source.contains(&format!("fuzz(\"{name}\")")), "{name}");
        assert!(!corpus(name).is_empty(), "{name}");
    }
}
