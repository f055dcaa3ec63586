//! vis-core: MMagic's visualization hook semantics in Rust, without any deep-learning
//! framework.
//!
//! ```
//! use vis_core::{
//!     DataSample, Engine, EngineError, HookConfig, Sampler, SamplerSpec, Tensor,
//!     VisualizationHook, Visualizer,
//! };
//!
//! /// A "model" whose samples are grey images of the noise value it is given.
//! struct Grey;
//!
//! impl Engine for Grey {
//!     type Inputs = f32;
//!     fn batch_size(&self) -> usize {
//!         4
//!     }
//!     fn set_train(&mut self, _: bool) {}
//!     fn make_sampler(&mut self, spec: &SamplerSpec) -> Result<Sampler<f32>, EngineError> {
//!         Ok(Box::new((0..spec.max_times).map(|i| Ok(i as f32 / 10.0))))
//!     }
//!     fn val_step(&mut self, v: &f32) -> Result<Vec<DataSample>, EngineError> {
//!         (0..4)
//!             .map(|_| Ok(DataSample::new().with("fake_img", Tensor::from_vec(vec![*v; 48], &[3, 4, 4])?)))
//!             .collect()
//!     }
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let config = HookConfig::from_toml(
//!     "interval = 10\nn_samples = 8\nvis_kwargs_list = { type = \"GAN\", name = \"fake_img\" }",
//! )?;
//! let mut hook = VisualizationHook::new(config, Visualizer::local(dir.path())?)?;
//! let mut engine = Grey;
//! for iter in 0..20 {
//!     hook.after_train_iter(&mut engine, iter)?; // draws at iterations 10 and 20
//! }
//! hook.close()?;
//! assert!(dir.path().join("vis_data/vis_image/fake_img_20.png").is_file());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The training loop calls [`VisualizationHook::after_train_iter`]; every `interval` iterations
//! the hook samples the model through the [`Engine`] seam with fixed inputs, draws the outputs
//! with vis-ops on the caller's thread and hands the picture to a bounded background writer,
//! where backends such as [`LocalVisBackend`] (and [`GalleryVisBackend`], its page of every
//! step) encode and write it. Configuration follows MMagic's field names and defaults
//! ([`HookConfig`]).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod backend;
mod basic;
mod concat;
pub mod config;
mod engine;
mod error;
mod hook;
pub mod kwargs;
mod message_hub;
mod rank;
mod sample;
mod tensor;
mod visualizer;
mod writer;

pub use backend::{
    GALLERY_DATA, GALLERY_PAGE, GalleryVisBackend, LOCK_FILE, LocalVisBackend, Picture,
    TensorboardVisBackend, VisBackend,
};
pub use basic::{BasicVisualizationHook, Mode};
pub use concat::{ConcatImageVisualizer, basename_stem};
pub use config::{
    BasicHookConfig, ColorOrder, ConcatConfig, Extra, HookConfig, HubKey, HubKwargs, MaxSave,
    ModeInterval, OneOrMany, PixelOptions, QuantizeMode, VisKwargs, VisMode,
};
pub use engine::{Engine, Sampler};
pub use error::{EngineError, Error, Result, WriteFailure};
pub use hook::{VisualizationHook, every_n_inner_iters};
pub use kwargs::{SamplerKind, SamplerSpec, VisPlan};
pub use message_hub::{HubValue, MessageHub};
pub use rank::is_main_process;
pub use sample::{DataSample, Value};
pub use tensor::{Lent, LentTensor, OwnedStorage, Tensor, TensorStorage};
pub use vis_ops;
pub use visualizer::{
    DEFAULT_FPS, DrawRequest, PixelSpec, Visualizer, VisualizerConfig, vis_data_dir,
};
