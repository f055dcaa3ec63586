//! What the reference models add to [`GenerativeModel`] so that `vis demo` can train, save and
//! load them.

use std::path::Path;

use vis_candle::{Batch, GenerativeModel, Result, SeededRng};

/// Named losses of one training step, for the progress bar and the scalar log.
pub type Losses = Vec<(&'static str, f32)>;

/// A model `vis demo` can train, save and load.
pub trait TrainableModel: GenerativeModel {
    /// One optimisation step on `batch`, drawing any noise from `rng`.
    fn train_step(&mut self, batch: &Batch, rng: &mut SeededRng) -> Result<Losses>;

    /// Saves every weight (and batch-norm statistics) as safetensors at `path`, atomically.
    fn save(&self, path: &Path) -> Result<()>;

    /// Loads weights saved by [`TrainableModel::save`], for sampling: the file holds no optimizer
    /// state nor step count, so training on after a load starts Adam's moments (and the warm-up
    /// of a moving average of the weights) afresh.
    fn load(&mut self, path: &Path) -> Result<()>;
}
