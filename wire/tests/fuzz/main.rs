//! Fuzzing on stable Rust, in `cargo test`: each target of `targets.rs` runs its committed
//! corpus (`wire/fuzz-corpus/<target>/`, seeded from real messages) and then a fixed budget of
//! seeded mutations of it. An input fails the run when its target panics, takes longer than
//! [`SLOW`], or allocates more than [`alloc_bound`] at once (a thread-local peak, measured by
//! this binary's global allocator).
//!
//! `HUBSPEC_FUZZ_RUNS=N` (mutations per target, default [`RUNS`]) and `HUBSPEC_FUZZ_SEED=N`
//! (default fixed, so CI is repeatable) run longer or elsewhere; a failure prints both and
//! the input. Coverage-guided fuzzing of the same targets: `fuzz/` (see CONTRIBUTING.md).

mod targets;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Mutations per target in a default run.
const RUNS: u64 = 5000;
/// The longest any one input may take (a debug build; a hang is far beyond it).
const SLOW: Duration = Duration::from_secs(2);
/// The longest a whole target's run may take before the run is declared hung.
const TARGET_BOUND: Duration = Duration::from_secs(60);
/// The longest input the mutator makes.
const MAX_LEN: usize = 16 * 1024;

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
// Inputs: the corpus and the mutator.
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

/// xorshift64*: seeded, so a failing mutation is repeated by its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes and words that parsers branch on: separators, JSON and MessagePack markers, numbers
/// at the edges of their types, escapes, the protocols' own keys.
const TOKENS: &[&[u8]] = &[
    b"\x1e",
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b",",
    b":",
    b"\\",
    b"\\u",
    b"\\ud800",
    b"null",
    b"true",
    b"-",
    b"0",
    b"-1",
    b"1e999",
    b"2147483648",
    b"9223372036854775808",
    b"-0.0",
    b"\"type\":",
    b"\"invocationId\":",
    b"\"target\":",
    b"\"arguments\":",
    b"\"protocol\":",
    b"\"version\":",
    b"\"error\":",
    b"\"sequenceId\":",
    b"\"result\":",
    b"\"headers\":",
    b"\"streamIds\":",
    b"\"allowReconnect\":",
    b"%",
    b"%ZZ",
    b"%C3%28",
    b"&",
    b"=",
    b"+",
    b"\xc0",
    b"\xc1",
    b"\xd9\xff",
    b"\xda\xff\xff",
    b"\xdb\xff\xff\xff\xff",
    b"\xdc\xff\xff",
    b"\xdd\xff\xff\xff\xff",
    b"\xde\xff\xff",
    b"\xdf\xff\xff\xff\xff",
    b"\xc4\xff",
    b"\xc6\xff\xff\xff\xff",
    b"\xd7\xff",
    b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff",
    b"\x80",
    b"\xff\xff\xff\xff\x07",
    b"\xff\xff\xff\xff\x0f",
    b"\"C\":",
    b"\"M\":",
    b"\"G\":",
    b"\"H\":",
    b"\"I\":",
    b"\"R\":",
    b"\"E\":",
    b"\"S\":",
    b"\"A\":",
    b"connectionData=",
    b"messageId=",
    b"groupsToken=",
    b"connectionToken=",
    b"transport=webSockets",
    b"clientProtocol=",
];

/// One to four random edits of a corpus input, or a splice of two.
fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut data = corpus[rng.below(corpus.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(8) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
            2 => {
                let end = (at + 1 + rng.below(16)).min(data.len());
                data.drain(at.min(end)..end);
            }
            3 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                data.splice(at..at, token.iter().copied());
            }
            4 if !data.is_empty() => {
                // Repeat a slice: long strings, deep nesting, many records.
                let start = rng.below(data.len());
                let end = (start + 1 + rng.below(32)).min(data.len());
                let piece = data[start..end].to_vec();
                for _ in 0..1 + rng.below(64) {
                    data.splice(at..at, piece.iter().copied());
                }
            }
            5 => {
                let other = &corpus[rng.below(corpus.len())];
                let from = rng.below(other.len() + 1);
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
            6 => data.truncate(at),
            _ => {
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                data.splice(at..at, bytes);
            }
        }
    }
    data.truncate(MAX_LEN);
    data
}

// ---------------------------------------------------------------------------------------------
// The run.
// ---------------------------------------------------------------------------------------------

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} is a number")))
        .unwrap_or(default)
}

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
