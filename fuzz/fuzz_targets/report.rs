//! cargo-fuzz target `report`: the body is `wirebench::fuzzing::report` (replayed on stable
//! by `tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirebench::fuzzing::report(data);
});
