//! cargo-fuzz target `custom_reply`: the body is `wirebench::fuzzing::custom_reply` (replayed on stable
//! by `tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirebench::fuzzing::custom_reply(data);
});
