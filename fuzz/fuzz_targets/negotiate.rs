//! cargo-fuzz target `negotiate`: [`targets::negotiate`] under libFuzzer.
#![no_main]

#[allow(dead_code)]
#[path = "../../wire/tests/fuzz/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::negotiate(data));
