//! Fuzz target `config`: see `vis_fuzz::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vis_fuzz::config(data));
