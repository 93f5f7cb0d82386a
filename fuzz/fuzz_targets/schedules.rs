#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| clawless_fuzz::schedules(data));
