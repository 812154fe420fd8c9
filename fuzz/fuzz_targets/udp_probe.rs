//! cargo-fuzz target `udp_probe`: the body is `wirebench::fuzzing::udp_probe` (replayed on stable
//! by `tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirebench::fuzzing::udp_probe(data);
});
