//! What a user's model implements so the hook can sample it ([`GenerativeModel`]), and the
//! inputs its samplers hand it ([`Inputs`]).

use candle_core::{Device, Tensor};
use vis_core::DataSample;

use crate::data::Batch;
use crate::error::Result;
use crate::rng::SeededRng;

/// The extra vis-kwargs of an entry, passed to the model with every batch of its sampler
/// (`sample_model = "ema/orig"`, say).
pub type Kwargs = serde_json::Map<String, serde_json::Value>;

/// What a sampler drew for one batch.
#[derive(Clone, Debug)]
pub enum InputBatch {
    /// Noise from [`GenerativeModel::noise`], `[num_batches, ...]` (the `Noise` sampler).
    Noise(Tensor),
    /// A batch of a dataset (the `Data`, `ValData` and `TestData` samplers).
    Data(Batch),
    /// The `forward_kwargs`, with `num_batches` set (the `Arguments` sampler).
    Arguments(serde_json::Map<String, serde_json::Value>),
}

/// One batch of sampler inputs, as MMagic's samplers yield them: what the sampler drew, and the
/// vis-kwargs entry's extra kwargs (MMagic's `NoiseSampler` puts them beside the noise; vis
/// passes them with every sampler's inputs).
#[derive(Clone, Debug)]
pub struct Inputs {
    batch: InputBatch,
    kwargs: Kwargs,
}

impl Inputs {
    /// Noise `[num_batches, ...]`, without kwargs.
    pub fn noise(noise: Tensor) -> Self {
        InputBatch::Noise(noise).into()
    }

    /// A batch of a dataset, without kwargs.
    pub fn data(batch: Batch) -> Self {
        InputBatch::Data(batch).into()
    }

    /// Forward arguments, without kwargs.
    pub fn arguments(arguments: serde_json::Map<String, serde_json::Value>) -> Self {
        InputBatch::Arguments(arguments).into()
    }

    /// The same inputs with `kwargs`.
    pub fn with_kwargs(mut self, kwargs: Kwargs) -> Self {
        self.kwargs = kwargs;
        self
    }

    /// What the sampler drew.
    pub fn batch(&self) -> &InputBatch {
        &self.batch
    }

    /// The entry's extra vis-kwargs (those the hook itself uses left out).
    pub fn kwargs(&self) -> &Kwargs {
        &self.kwargs
    }

    /// A kwarg as text (`inputs.kwarg_str("sample_model")`).
    pub fn kwarg_str(&self, key: &str) -> Option<&str> {
        self.kwargs.get(key).and_then(serde_json::Value::as_str)
    }

    /// How many examples the batch holds: the noise's or the data's first dimension, the
    /// arguments' `num_batches`.
    pub fn len(&self) -> usize {
        match &self.batch {
            InputBatch::Noise(t) => t.dims().first().copied().unwrap_or(0),
            InputBatch::Data(batch) => batch
                .values()
                .next()
                .and_then(|t| t.dims().first().copied())
                .unwrap_or(0),
            InputBatch::Arguments(args) => args
                .get("num_batches")
                .and_then(serde_json::Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0),
        }
    }

    /// Whether the batch holds no example.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<InputBatch> for Inputs {
    fn from(batch: InputBatch) -> Self {
        Self {
            batch,
            kwargs: Kwargs::new(),
        }
    }
}

/// A generative model as the visualization hook samples it.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use vis_candle::prelude::*;
///
/// /// A translation model of your own: `img_source` in, `img_fake` out.
/// struct Invert {
///     device: Device,
/// }
///
/// impl GenerativeModel for Invert {
///     fn device(&self) -> &Device {
///         &self.device
///     }
///     fn noise(&self, n: usize, rng: &mut SeededRng) -> vis_candle::Result<Tensor> {
///         rng.normal(&[n, 1], &self.device)
///     }
///     fn set_train(&mut self, _train: bool) {}
///     fn val_step(&mut self, inputs: &Inputs) -> vis_candle::Result<Vec<DataSample>> {
///         let InputBatch::Data(batch) = inputs.batch() else {
///             return Err(vis_candle::Error::Model("use a Translation (Data) sampler".into()));
///         };
///         let source = &batch["img_source"];
///         let fake = source.neg()?;
///         // Source and output side by side, as `target_keys = ["img_source", "img_fake"]`.
///         samples_from_batch(&[("img_source", source), ("img_fake", &fake)])
///     }
/// }
///
/// let mut model = Invert { device: Device::Cpu };
/// let batch = Batch::from([("img_source".to_owned(), Tensor::zeros((2, 3, 4, 4), candle_core::DType::F32, &Device::Cpu)?)]);
/// let samples = model.val_step(&Inputs::data(batch))?;
/// assert_eq!(samples.len(), 2);
/// # Ok::<(), vis_candle::Error>(())
/// ```
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
