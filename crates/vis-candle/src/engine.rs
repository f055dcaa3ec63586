//! [`CandleEngine`]: vis-core's engine seam over a Candle [`GenerativeModel`], with its
//! datasets, its seeded noise and its fixed inputs on disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use vis_core::{DataSample, Engine, EngineError, Sampler, SamplerKind, SamplerSpec};

use crate::data::Dataset;
use crate::fixed_inputs;
use crate::model::{GenerativeModel, Inputs};
use crate::rng::SeededRng;
use crate::sampler;

/// A Candle model, its batch size and data, as the visualization hook reaches them.
pub struct CandleEngine<M> {
    model: M,
    batch_size: usize,
    rng: SeededRng,
    train_data: Option<Arc<dyn Dataset>>,
    val_data: Option<Arc<dyn Dataset>>,
    test_data: Option<Arc<dyn Dataset>>,
    inputs_dir: Option<PathBuf>,
}

impl<M> std::fmt::Debug for CandleEngine<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandleEngine")
            .field("batch_size", &self.batch_size)
            .field("inputs_dir", &self.inputs_dir)
            .finish_non_exhaustive()
    }
}

impl<M: GenerativeModel> CandleEngine<M> {
    /// An engine over `model` trained with batches of `batch_size`, drawing noise from a
    /// generator seeded with `seed`.
    pub fn new(model: M, batch_size: usize, seed: u64) -> Self {
        Self {
            model,
            batch_size,
            rng: SeededRng::new(seed),
            train_data: None,
            val_data: None,
            test_data: None,
            inputs_dir: None,
        }
    }

    /// The training data, read by the `Data` sampler (the `Translation` alias).
    pub fn with_train_data(mut self, dataset: Arc<dyn Dataset>) -> Self {
        self.train_data = Some(dataset);
        self
    }

    /// The validation data, read by the `ValData` sampler (`TranslationVal`).
    pub fn with_val_data(mut self, dataset: Arc<dyn Dataset>) -> Self {
        self.val_data = Some(dataset);
        self
    }

    /// The test data, read by the `TestData` sampler (`TranslationTest`).
    pub fn with_test_data(mut self, dataset: Arc<dyn Dataset>) -> Self {
        self.test_data = Some(dataset);
        self
    }

    /// Keeps fixed inputs in `{save_dir}/vis_inputs/{sampler_type}.safetensors`, and reuses
    /// the ones found there, so a resumed run draws its grids from the same inputs.
    pub fn with_fixed_inputs_in(mut self, save_dir: impl AsRef<Path>) -> Self {
        self.inputs_dir = Some(save_dir.as_ref().join("vis_inputs"));
        self
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model, to train it.
    pub fn model_mut(&mut self) -> &mut M {
        &mut self.model
    }

    /// The model, taken back.
    pub fn into_model(self) -> M {
        self.model
    }
}

impl<M: GenerativeModel> Engine for CandleEngine<M> {
    type Inputs = Inputs;

    fn batch_size(&self) -> usize {
        self.batch_size
    }

    fn set_train(&mut self, train: bool) {
        self.model.set_train(train);
    }

    fn make_sampler(&mut self, spec: &SamplerSpec) -> Result<Sampler<Inputs>, EngineError> {
        let sampler = match spec.kind {
            SamplerKind::Noise => sampler::noise(&self.model, spec, &mut self.rng),
            SamplerKind::Arguments => sampler::arguments(spec),
            SamplerKind::Data => sampler::data(spec.kind, self.train_data.as_ref(), spec),
            SamplerKind::ValData => sampler::data(spec.kind, self.val_data.as_ref(), spec),
            SamplerKind::TestData => sampler::data(spec.kind, self.test_data.as_ref(), spec),
        };
        Ok(sampler?)
    }

    fn val_step(&mut self, inputs: &Inputs) -> Result<Vec<DataSample>, EngineError> {
        Ok(self.model.val_step(inputs)?)
    }

    fn load_fixed_inputs(&mut self, buffer_key: &str) -> Result<Option<Vec<Inputs>>, EngineError> {
        match &self.inputs_dir {
            Some(dir) => Ok(fixed_inputs::load(
                &fixed_inputs::path_of(dir, buffer_key),
                self.model.device(),
            )?),
            None => Ok(None),
        }
    }

    fn save_fixed_inputs(
        &mut self,
        buffer_key: &str,
        inputs: &[Inputs],
    ) -> Result<(), EngineError> {
        if let Some(dir) = &self.inputs_dir {
            fixed_inputs::save(&fixed_inputs::path_of(dir, buffer_key), inputs)?;
        }
        Ok(())
    }
}
