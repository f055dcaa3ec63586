//! Fuzz target `render`: see `vis_fuzz::render`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vis_fuzz::render(data));
