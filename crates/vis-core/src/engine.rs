//! The seam through which the hook reaches a model: batch size, train/eval, samplers, forward
//! passes, and where fixed inputs are kept across runs. Tests use a fake; vis-candle implements
//! it for Candle models.

use crate::error::EngineError;
use crate::kwargs::SamplerSpec;
use crate::sample::DataSample;

/// The inputs a sampler yields, one batch at a time.
pub type Sampler<I> = Box<dyn Iterator<Item = Result<I, EngineError>>>;

/// A trainable generative model as the hook sees it.
pub trait Engine {
    /// One batch of inputs for a forward pass (noise, a data batch, forward arguments).
    type Inputs: Clone;

    /// The training batch size (the `num_batches` of MMagic's samplers).
    fn batch_size(&self) -> usize;

    /// Switches the model to training (`true`) or evaluation (`false`) mode.
    fn set_train(&mut self, train: bool);

    /// A sampler of `spec.kind` yielding `spec.max_times` batches; data samplers iterate on
    /// their own, apart from the training loader, and start over when they run out.
    fn make_sampler(&mut self, spec: &SamplerSpec) -> Result<Sampler<Self::Inputs>, EngineError>;

    /// A forward pass in evaluation mode (MMagic's `val_step`): one data sample per output.
    fn val_step(&mut self, inputs: &Self::Inputs) -> Result<Vec<DataSample>, EngineError>;

    /// Fixed inputs saved by an earlier run under `buffer_key`, so a resumed run's grids stay
    /// comparable; `None` when there are none.
    fn load_fixed_inputs(
        &mut self,
        buffer_key: &str,
    ) -> Result<Option<Vec<Self::Inputs>>, EngineError> {
        let _ = buffer_key;
        Ok(None)
    }

    /// Keeps the fixed inputs of `buffer_key` for later runs.
    fn save_fixed_inputs(
        &mut self,
        buffer_key: &str,
        inputs: &[Self::Inputs],
    ) -> Result<(), EngineError> {
        let _ = (buffer_key, inputs);
        Ok(())
    }
}
