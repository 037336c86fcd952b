//! cargo-fuzz target `json_records`: [`targets::json_records`] under libFuzzer.
#![no_main]

#[allow(dead_code)]
#[path = "../../wire/tests/fuzz/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::json_records(data));
