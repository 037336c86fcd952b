//! cargo-fuzz target `classic_query`: [`targets::classic_query`] under libFuzzer.
#![no_main]

#[allow(dead_code)]
#[path = "../../wire/tests/fuzz/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::classic_query(data));
