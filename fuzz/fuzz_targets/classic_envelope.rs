//! cargo-fuzz target `classic_envelope`: [`targets::classic_envelope`] under libFuzzer.
#![no_main]

#[allow(dead_code)]
#[path = "../../wire/tests/fuzz/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::classic_envelope(data));
