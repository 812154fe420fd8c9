//! cargo-fuzz target `tcp_echo_reply`: the body is `wirebench::fuzzing::tcp_echo_reply` (replayed on stable
//! by `tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirebench::fuzzing::tcp_echo_reply(data);
});
