//! Fuzz target `header`: see `vis_fuzz::header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vis_fuzz::header(data));
