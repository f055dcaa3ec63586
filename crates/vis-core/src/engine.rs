//! The seam through which the hook reaches a model: batch size, train/eval, samplers, forward
//! passes, and where fixed inputs are kept across runs. Tests use a fake; vis-candle implements
//! it for Candle models.

use crate::error::EngineError;
use crate::kwargs::{SamplerKind, SamplerSpec};
use crate::sample::DataSample;

/// The inputs a sampler yields, one batch at a time.
pub type Sampler<I> = Box<dyn Iterator<Item = Result<I, EngineError>>>;

/// A trainable generative model as the hook sees it.
pub trait Engine {
    /// One batch of inputs for a forward pass (noise, a data batch, forward arguments).
    type Inputs: Clone;

    /// The training batch size (the `num_batches` of MMagic's samplers).
    fn batch_size(&self) -> usize;

    /// The batch size sampler `kind` reads with: for `ValData` and `TestData` the validation
    /// or test data's own when the engine has one (MMagic takes
    /// `runner.val_loop.dataloader.batch_size`), else the training batch size.
    fn sampler_batch_size(&self, kind: SamplerKind) -> usize {
        let _ = kind;
        self.batch_size()
    }

    /// How many examples `inputs` hold: the batch size, or fewer for the short last batch of a
    /// dataset. The model's outputs count as one sample each when there are this many.
    fn inputs_len(&self, inputs: &Self::Inputs) -> usize {
        let _ = inputs;
        self.batch_size()
    }

    /// Switches the model to training (`true`) or evaluation (`false`) mode.
    fn set_train(&mut self, train: bool);

    /// A sampler of `spec.kind` yielding `spec.max_times` batches of `spec.num_batches`; data
    /// samplers iterate on their own, apart from the training loader, from the first example,
    /// and stop at the end of the data (the last batch may be short), as a DataLoader does.
    fn make_sampler(&mut self, spec: &SamplerSpec) -> Result<Sampler<Self::Inputs>, EngineError>;

    /// A forward pass in evaluation mode (MMagic's `val_step`): one data sample per output.
    fn val_step(&mut self, inputs: &Self::Inputs) -> Result<Vec<DataSample>, EngineError>;

    /// Fixed inputs saved by an earlier run under `buffer_key`, so a resumed run's grids stay
    /// comparable; `None` when there are none. They come back in batches of
    /// `spec.num_batches` (a batch size that changed since is taken into account), as many as
    /// were saved: the hook takes the first `spec.max_times` and draws fresh ones for what is
    /// missing. Saved inputs that no longer fit the model or the data (another noise or image
    /// shape) are an error that names the file.
    fn load_fixed_inputs(
        &mut self,
        buffer_key: &str,
        spec: &SamplerSpec,
    ) -> Result<Option<Vec<Self::Inputs>>, EngineError> {
        let _ = (buffer_key, spec);
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
