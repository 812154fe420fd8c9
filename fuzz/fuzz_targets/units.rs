//! cargo-fuzz target `units`: the body is `wirebench::fuzzing::units` (replayed on stable
//! by `tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirebench::fuzzing::units(data);
});
