//! vis-candle: vis for [Candle](https://github.com/huggingface/candle) models.
//!
//! - [`bridge`]: Candle tensors become vis-core tensors, read in place where they can be.
//! - [`CandleEngine`]: vis-core's engine seam over a [`GenerativeModel`], with MMagic's samplers
//!   (`Noise`, `Data`, `ValData`, `TestData`, `Arguments`) and fixed inputs kept on disk so a
//!   resumed run draws the same inputs.
//! - [`models`] and [`datasets`]: reference DCGAN, pix2pix and DDPM models in candle-nn, and
//!   procedural data to train them on, for `vis demo`.
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
pub mod datasets;
pub mod demo;

mod engine;
mod error;
mod fixed_inputs;
pub mod model;
pub mod models;
mod rng;
mod sampler;

pub use data::{Batch, Dataset, Example, Loader};
pub use engine::CandleEngine;

pub use error::{Error, Result};
pub use model::{GenerativeModel, InputBatch, Inputs, Kwargs, Losses, TrainableModel};
pub use rng::SeededRng;
