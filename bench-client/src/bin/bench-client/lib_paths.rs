//! Every bench-client module the binary reaches into beyond the crate root's re-exports
//! (`Run`, `RunConfig`, `Report`, ...), named once here: the library is being sorted into
//! wings, and when a module moves, this is the file that changes.

pub use bench_client::{
    compare, hlog, input, nagle, output, overhead, recorder, render, report, suite,
};
