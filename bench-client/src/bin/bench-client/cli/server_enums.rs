//! The bench-server enums the flags name ([`Model`], [`WriteMode`], [`Strategy`]), mirrored
//! for clap with a conversion each. Temporary: bench-server is getting a `cli` feature
//! that derives `ValueEnum` on these itself; then this file goes and the flags take the
//! server's types directly, as they already do the bench-client ones.

use bench_server::proxy::Strategy;
use bench_server::{Model, WriteMode};
use clap::ValueEnum;

/// [`Model`] on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModelArg {
    Async,
    Threads,
    Iterative,
}

impl From<ModelArg> for Model {
    fn from(arg: ModelArg) -> Model {
        match arg {
            ModelArg::Async => Model::Async,
            ModelArg::Threads => Model::Threads,
            ModelArg::Iterative => Model::Iterative,
        }
    }
}

/// [`WriteMode`] on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum WriteModeArg {
    Coalesced,
    Split,
}

impl From<WriteModeArg> for WriteMode {
    fn from(arg: WriteModeArg) -> WriteMode {
        match arg {
            WriteModeArg::Coalesced => WriteMode::Coalesced,
            WriteModeArg::Split => WriteMode::Split,
        }
    }
}

/// [`Strategy`] on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StrategyArg {
    Copy,
    Splice,
}

impl From<StrategyArg> for Strategy {
    fn from(arg: StrategyArg) -> Strategy {
        match arg {
            StrategyArg::Copy => Strategy::Copy,
            StrategyArg::Splice => Strategy::Splice,
        }
    }
}
