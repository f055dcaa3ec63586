//! What a user's model implements so the hook can sample it ([`GenerativeModel`]), and what
//! the reference models add so `vis demo` can train them ([`TrainableModel`]).

use std::path::Path;

use candle_core::{Device, Tensor};
use vis_core::DataSample;

use crate::data::Batch;
use crate::error::Result;
use crate::rng::SeededRng;

/// One batch of sampler inputs, as MMagic's samplers yield them.
#[derive(Clone, Debug)]
pub enum Inputs {
    /// Noise from [`GenerativeModel::noise`], `[num_batches, ...]` (the `Noise` sampler).
    Noise(Tensor),
    /// A batch of a dataset (the `Data`, `ValData` and `TestData` samplers).
    Data(Batch),
    /// The `forward_kwargs`, with `num_batches` set (the `Arguments` sampler).
    Arguments(serde_json::Map<String, serde_json::Value>),
}

/// A generative model as the visualization hook samples it.
pub trait GenerativeModel {
    /// The device the model runs on.
    fn device(&self) -> &Device;

    /// Noise for `num_batches` samples (MMagic's `noise_fn`), drawn from `rng`.
    fn noise(&self, num_batches: usize, rng: &mut SeededRng) -> Result<Tensor>;

    /// Switches training (`true`) or evaluation (`false`) behaviour (batch norm, dropout).
    fn set_train(&mut self, train: bool);

    /// A forward pass without gradients on sampler inputs: one data sample per output, with
    /// images `[C, H, W]` (or sequences `[T, C, H, W]`) under MMagic's keys (`fake_img`,
    /// `fake_{domain}`, `img_{domain}`, ...). Tensors may stay on the model's device.
    fn val_step(&mut self, inputs: &Inputs) -> Result<Vec<DataSample>>;
}

/// Named losses of one training step, for the progress bar and the scalar log.
pub type Losses = Vec<(&'static str, f32)>;

/// A model `vis demo` can train, save and load.
pub trait TrainableModel: GenerativeModel {
    /// One optimisation step on `batch`, drawing any noise from `rng`.
    fn train_step(&mut self, batch: &Batch, rng: &mut SeededRng) -> Result<Losses>;

    /// Saves every weight (and batch-norm statistics) as safetensors at `path`, atomically.
    fn save(&self, path: &Path) -> Result<()>;

    /// Loads weights saved by [`TrainableModel::save`].
    fn load(&mut self, path: &Path) -> Result<()>;
}
