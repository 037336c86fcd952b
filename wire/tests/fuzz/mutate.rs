//! The mutator of the stable-Rust fuzz runs: seeded edits of corpus inputs (bit flips, random
//! bytes, deletions, repeated slices, splices, truncations and the tokens parsers branch on).
//! Shared by path with refhub's HTTP and WebSocket fuzz test (`refhub/tests/refhub/fuzz.rs`).

/// The longest input the mutator makes.
pub const MAX_LEN: usize = 16 * 1024;

/// A number from the environment (`HUBSPEC_FUZZ_SEED`, `HUBSPEC_FUZZ_RUNS`), or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} is a number")))
        .unwrap_or(default)
}

/// xorshift64*: seeded, so a failing mutation is repeated by its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes and words that parsers branch on: separators, JSON and MessagePack markers, numbers
/// at the edges of their types, escapes, the protocols' own keys.
#[rustfmt::skip]
const TOKENS: &[&[u8]] = &[
    b"\x1e", b"{", b"}", b"[", b"]", b"\"", b",", b":", b"\\", b"\\u", b"\\ud800", b"null",
    b"true", b"-", b"0", b"-1", b"1e999", b"2147483648", b"9223372036854775808", b"-0.0",
    b"\"type\":", b"\"invocationId\":", b"\"target\":", b"\"arguments\":", b"\"protocol\":",
    b"\"version\":", b"\"error\":", b"\"sequenceId\":", b"\"result\":", b"\"headers\":",
    b"\"streamIds\":", b"\"allowReconnect\":", b"%", b"%ZZ", b"%C3%28", b"&", b"=", b"+", b"\xc0",
    b"\xc1", b"\xd9\xff", b"\xda\xff\xff", b"\xdb\xff\xff\xff\xff", b"\xdc\xff\xff",
    b"\xdd\xff\xff\xff\xff", b"\xde\xff\xff", b"\xdf\xff\xff\xff\xff", b"\xc4\xff",
    b"\xc6\xff\xff\xff\xff", b"\xd7\xff", b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff", b"\x80",
    b"\xff\xff\xff\xff\x07", b"\xff\xff\xff\xff\x0f", b"\"C\":", b"\"M\":", b"\"G\":", b"\"H\":",
    b"\"I\":", b"\"R\":", b"\"E\":", b"\"S\":", b"\"A\":", b"connectionData=", b"messageId=",
    b"groupsToken=", b"connectionToken=", b"transport=webSockets", b"clientProtocol=",
];

/// One to four random edits of a corpus input, or a splice of two.
pub fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
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
