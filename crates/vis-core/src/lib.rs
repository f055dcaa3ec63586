//! vis-core: MMagic's visualization hook semantics in Rust, without any deep-learning
//! framework.
//!
//! The training loop calls [`VisualizationHook::after_train_iter`]; every `interval` iterations
//! the hook samples the model through the [`Engine`] seam with fixed inputs, draws the outputs
//! with vis-ops on the caller's thread and hands the picture to a bounded background writer,
//! where backends such as [`LocalVisBackend`] encode and write it. Configuration follows
//! MMagic's field names and defaults ([`HookConfig`]).
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

pub use backend::{LOCK_FILE, LocalVisBackend, Picture, TensorboardVisBackend, VisBackend};
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
pub use visualizer::{DrawRequest, PixelSpec, Visualizer, VisualizerConfig, vis_data_dir};
