//! [`CandleEngine`]: vis-core's engine seam over a Candle [`GenerativeModel`], with its
//! datasets, its seeded noise and its fixed inputs on disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::Tensor;
use vis_core::{DataSample, Engine, EngineError, Sampler, SamplerKind, SamplerSpec};

use crate::data::Dataset;
use crate::fixed_inputs;
use crate::model::{GenerativeModel, InputBatch, Inputs};
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
    val_batch_size: Option<usize>,
    test_batch_size: Option<usize>,
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
            val_batch_size: None,
            test_batch_size: None,
            inputs_dir: None,
        }
    }

    /// The validation data's own batch size, read by the `ValData` sampler (MMagic takes
    /// `runner.val_loop.dataloader.batch_size`); without it, the training batch size.
    pub fn with_val_batch_size(mut self, batch_size: usize) -> Self {
        self.val_batch_size = Some(batch_size);
        self
    }

    /// The test data's own batch size, read by the `TestData` sampler; without it, the
    /// training batch size.
    pub fn with_test_batch_size(mut self, batch_size: usize) -> Self {
        self.test_batch_size = Some(batch_size);
        self
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

    /// Keeps fixed inputs in `{save_dir}/vis_inputs/{sampler}.safetensors` (`Noise`, `Data`,
    /// ...), and reuses the ones found there, so a resumed run draws its grids from the same
    /// inputs: re-batched when the batch size changed, topped up with fresh ones when more
    /// samples are asked for, an error naming the file when they no longer fit the model or
    /// the data.
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

impl<M: GenerativeModel> CandleEngine<M> {
    /// Saved fixed inputs (read from `path`) fitted to `spec`: in batches of `num_batches`
    /// (a short last batch completed with fresh noise, or with the data that follows), with the
    /// entry's current kwargs; arguments made anew from the spec. Noise or data of another
    /// shape than the model or the dataset gives now is an error naming the file.
    fn fit(
        &mut self,
        path: &Path,
        saved: Vec<Inputs>,
        spec: &SamplerSpec,
    ) -> crate::Result<Vec<Inputs>> {
        let kwargs = spec.model_kwargs();
        let refuse = |message: String| crate::Error::File {
            path: path.to_owned(),
            message: format!(
                "{message}; the saved fixed inputs no longer fit this run: remove the file to draw new ones"
            ),
        };
        let batch = spec.num_batches.max(1);
        match spec.kind {
            SamplerKind::Arguments => {
                // Arguments hold no randomness: made from the config as it is now.
                let made: Vec<Inputs> = sampler::arguments(spec)?
                    .collect::<Result<_, EngineError>>()
                    .map_err(|e| crate::Error::Sampler {
                        kind: "Arguments".into(),
                        message: e.to_string(),
                    })?;
                Ok(made)
            }
            SamplerKind::Noise => {
                let noises: Vec<Tensor> = saved
                    .iter()
                    .filter_map(|i| match i.batch() {
                        InputBatch::Noise(z) => Some(z.clone()),
                        _ => None,
                    })
                    .collect();
                if noises.len() != saved.len() || noises.is_empty() {
                    return Err(refuse("it holds no noise for the Noise sampler".into()));
                }
                let all = Tensor::cat(&noises, 0)?;
                let probe = self.model.noise(1, &mut SeededRng::new(0))?;
                if all.dims().get(1..) != probe.dims().get(1..) {
                    return Err(refuse(format!(
                        "it holds noise of shape {:?}, but the model draws noise of shape {:?}",
                        all.dims(),
                        probe.dims()
                    )));
                }
                let count = all.dims().first().copied().unwrap_or(0);
                let mut batches = Vec::new();
                let mut start = 0;
                while start < count {
                    let len = batch.min(count - start);
                    let mut z = all.narrow(0, start, len)?;
                    if len < batch {
                        let more = self.model.noise(batch - len, &mut self.rng)?;
                        z = Tensor::cat(&[z, more], 0)?;
                    }
                    batches.push(Inputs::noise(z).with_kwargs(kwargs.clone()));
                    start += len;
                }
                Ok(batches)
            }
            SamplerKind::Data | SamplerKind::ValData | SamplerKind::TestData => {
                let dataset = sampler::dataset_of(
                    spec.kind,
                    match spec.kind {
                        SamplerKind::Data => self.train_data.as_ref(),
                        SamplerKind::ValData => self.val_data.as_ref(),
                        _ => self.test_data.as_ref(),
                    },
                )?;
                let mut keys: Vec<(String, Vec<Tensor>)> = Vec::new();
                for input in &saved {
                    let InputBatch::Data(data) = input.batch() else {
                        return Err(refuse(format!(
                            "it holds no data for the {} sampler",
                            spec.kind.name()
                        )));
                    };
                    for (key, t) in data {
                        match keys.iter_mut().find(|(k, _)| k == key) {
                            Some((_, ts)) => ts.push(t.clone()),
                            None => keys.push((key.clone(), vec![t.clone()])),
                        }
                    }
                }
                let example = dataset.get(0)?;
                let mut stacked = crate::data::Batch::new();
                for (key, ts) in keys {
                    let all = Tensor::cat(&ts, 0)?;
                    let want = example.get(&key).map(|t| t.dims().to_vec());
                    if want.as_deref() != all.dims().get(1..) {
                        return Err(refuse(format!(
                            "its key '{key}' holds examples of shape {:?}, but the dataset's are {}",
                            all.dims().get(1..).unwrap_or_default(),
                            want.map_or("missing".to_owned(), |w| format!("{w:?}"))
                        )));
                    }
                    stacked.insert(key, all);
                }
                let count = stacked
                    .values()
                    .next()
                    .and_then(|t| t.dims().first().copied())
                    .unwrap_or(0);
                let mut batches = Vec::new();
                let mut start = 0;
                while start < count {
                    let len = batch.min(count - start);
                    let mut part = crate::data::Batch::new();
                    for (key, t) in &stacked {
                        part.insert(key.clone(), t.narrow(0, start, len)?);
                    }
                    batches.push(Inputs::data(part).with_kwargs(kwargs.clone()));
                    start += len;
                }
                // A short last batch is completed with the examples that follow, where there are.
                if let Some(last) = batches.pop() {
                    let held = last.len();
                    if held < batch && count < dataset.len() {
                        let more = sampler::data_batches(
                            Arc::clone(&dataset),
                            count,
                            batch - held,
                            1,
                            kwargs.clone(),
                        )?
                        .next()
                        .transpose()
                        .map_err(|e| crate::Error::Dataset(e.to_string()))?;
                        match (last.batch(), more.as_ref().map(Inputs::batch)) {
                            (InputBatch::Data(a), Some(InputBatch::Data(b))) => {
                                let mut joined = crate::data::Batch::new();
                                for (key, t) in a {
                                    let tail = b.get(key).ok_or_else(|| {
                                        refuse(format!("the dataset has no key '{key}' any more"))
                                    })?;
                                    joined.insert(key.clone(), Tensor::cat(&[t, tail], 0)?);
                                }
                                batches.push(Inputs::data(joined).with_kwargs(kwargs.clone()));
                            }
                            _ => batches.push(last),
                        }
                    } else {
                        batches.push(last);
                    }
                }
                Ok(batches)
            }
        }
    }
}

impl<M: GenerativeModel> Engine for CandleEngine<M> {
    type Inputs = Inputs;

    fn batch_size(&self) -> usize {
        self.batch_size
    }

    fn sampler_batch_size(&self, kind: SamplerKind) -> usize {
        match kind {
            SamplerKind::ValData => self.val_batch_size.unwrap_or(self.batch_size),
            SamplerKind::TestData => self.test_batch_size.unwrap_or(self.batch_size),
            _ => self.batch_size,
        }
    }

    fn inputs_len(&self, inputs: &Inputs) -> usize {
        inputs.len()
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

    fn load_fixed_inputs(
        &mut self,
        buffer_key: &str,
        spec: &SamplerSpec,
    ) -> Result<Option<Vec<Inputs>>, EngineError> {
        let Some(dir) = &self.inputs_dir else {
            return Ok(None);
        };
        let path = fixed_inputs::path_of(dir, buffer_key);
        let Some(saved) = fixed_inputs::load(&path, self.model.device())? else {
            return Ok(None);
        };
        Ok(Some(self.fit(&path, saved, spec)?))
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
