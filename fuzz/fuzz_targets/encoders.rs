//! Fuzz target `encoders`: see `vis_fuzz::encoders`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vis_fuzz::encoders(data));
