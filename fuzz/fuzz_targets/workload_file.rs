//! cargo-fuzz target `workload_file`: the body is `wirebench::fuzzing::workload_file` (replayed on stable
//! by `tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirebench::fuzzing::workload_file(data);
});
