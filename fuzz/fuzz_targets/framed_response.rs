//! cargo-fuzz target `framed_response`: the body is `wirebench::fuzzing::framed_response` (replayed on stable
//! by `tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirebench::fuzzing::framed_response(data);
});
