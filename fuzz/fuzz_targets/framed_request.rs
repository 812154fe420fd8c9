//! cargo-fuzz target `framed_request`: the body is `wirebench::fuzzing::framed_request` (replayed on stable
//! by `tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirebench::fuzzing::framed_request(data);
});
