//! vis-candle: vis for [Candle](https://github.com/huggingface/candle) models, the one crate a
//! Candle user depends on.
//!
//! ```
//! use candle_core::{Device, Module, Tensor};
//! use vis_candle::prelude::*;
//!
//! /// A generator of your own: noise `[N, 8]` to images `[N, 3, 4, 4]` in [-1, 1].
//! struct MyGan {
//!     generator: candle_nn::Linear,
//!     device: Device,
//! }
//!
//! impl GenerativeModel for MyGan {
//!     fn device(&self) -> &Device {
//!         &self.device
//!     }
//!     fn noise(&self, n: usize, rng: &mut SeededRng) -> vis_candle::Result<Tensor> {
//!         rng.normal(&[n, 8], &self.device)
//!     }
//!     fn set_train(&mut self, _train: bool) {}
//!     fn val_step(&mut self, inputs: &Inputs) -> vis_candle::Result<Vec<DataSample>> {
//!         let InputBatch::Noise(z) = inputs.batch() else {
//!             return Err(vis_candle::Error::Model("a GAN samples noise".into()));
//!         };
//!         let images = self.generator.forward(z)?.tanh()?.reshape(((), 3, 4, 4))?;
//!         samples_from_batch(&[("fake_img", &images)])
//!     }
//! }
//!
//! let device = Device::Cpu;
//! let vars = candle_nn::VarMap::new();
//! let vb = candle_nn::VarBuilder::from_varmap(&vars, candle_core::DType::F32, &device);
//! let model = MyGan { generator: candle_nn::linear(8, 48, vb)?, device };
//!
//! let dir = tempfile::tempdir()?;
//! let mut engine = CandleEngine::new(model, 16, 0).with_fixed_inputs_in(dir.path());
//! let config = HookConfig::from_toml(
//!     "interval = 100\nvis_kwargs_list = { type = \"GAN\", name = \"fake_img\" }",
//! )?;
//! let mut hook = VisualizationHook::new(config, Visualizer::local(dir.path())?)?;
//! for iter in 0..200 {
//!     // ... a training step on engine.model_mut() ...
//!     hook.after_train_iter(&mut engine, iter)?;
//! }
//! hook.close()?;
//! // 64 samples, 8 per row, at iterations 100 and 200 (RGB in [-1, 1], drawn true to colour).
//! assert!(dir.path().join("vis_data/vis_image/fake_img_200.png").is_file());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`bridge`]: Candle tensors become vis-core tensors, read in place where they can be.
//! - [`CandleEngine`]: vis-core's engine seam over a [`GenerativeModel`], with MMagic's samplers
//!   (`Noise`, `Data`, `ValData`, `TestData`, `Arguments`) and fixed inputs kept on disk so a
//!   resumed run draws the same inputs.
//! - [`prelude`]: the hook, its configs, the visualizer and its backends, the engine and the
//!   model trait; [`core`] and [`ops`] are the whole of vis-core and vis-ops.
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
    pub use crate::bridge::{samples_from_batch, to_vis};
    pub use crate::{
        Batch, CandleEngine, Dataset, Example, GenerativeModel, InputBatch, Inputs, Kwargs, Loader,
        SeededRng,
    };
    pub use vis_core::{
        BasicHookConfig, BasicVisualizationHook, ConcatConfig, ConcatImageVisualizer, DataSample,
        GalleryVisBackend, HookConfig, LocalVisBackend, Mode, TensorboardVisBackend,
        VisualizationHook, Visualizer, VisualizerConfig,
    };
}

pub use data::{Batch, Dataset, Example, Loader};
pub use engine::CandleEngine;

pub use error::{Error, Result};
pub use model::{GenerativeModel, InputBatch, Inputs, Kwargs};
pub use rng::SeededRng;
