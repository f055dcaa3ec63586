//! vis-candle: vis for [Candle](https://github.com/huggingface/candle) models.
//!
//! - [`bridge`]: Candle tensors become vis-core tensors, read in place where they can be.
//! - [`CandleEngine`]: vis-core's engine seam over a [`GenerativeModel`], with MMagic's samplers
//!   (`Noise`, `Data`, `ValData`, `TestData`, `Arguments`) and fixed inputs kept on disk so a
//!   resumed run draws the same inputs.
//!
//! The reference models, the procedural datasets and the demo's training loop live in the
//! `vis-demo` crate; this one is what a Candle user depends on.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod bridge;
pub mod data;

mod engine;
mod error;
mod fixed_inputs;
pub mod model;
mod rng;
mod sampler;

/// vis-core: the hook, its configs, the visualizer and its backends.
pub use vis_core as core;
/// vis-ops: the pixel path (grids, PNG and GIF), for drawing tensors yourself.
pub use vis_ops as ops;

/// Everything a Candle user needs in one `use vis_candle::prelude::*;`: the hook and its
/// configs, the visualizer and its backends, the engine and the model trait.
pub mod prelude {
    pub use crate::bridge::samples_from_batch;
    pub use crate::{
        Batch, CandleEngine, Dataset, Example, GenerativeModel, InputBatch, Inputs, Kwargs, Loader,
        SeededRng,
    };
    pub use vis_core::{
        BasicHookConfig, BasicVisualizationHook, ConcatConfig, ConcatImageVisualizer, DataSample,
        HookConfig, LocalVisBackend, Mode, TensorboardVisBackend, VisualizationHook, Visualizer,
        VisualizerConfig,
    };
}

pub use data::{Batch, Dataset, Example, Loader};
pub use engine::CandleEngine;

pub use error::{Error, Result};
pub use model::{GenerativeModel, InputBatch, Inputs, Kwargs};
pub use rng::SeededRng;
