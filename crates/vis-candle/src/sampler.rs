//! MMagic's samplers (`mmagic/utils/sampler.py`): each yields `max_times` batches of inputs.
//! `Noise` asks the model for noise from a seeded generator; `Data`, `ValData` and `TestData`
//! read their dataset in order with an iterator of their own (the training loader is not
//! touched), starting from the first example and running on across the end, so every batch is
//! full; `Arguments` repeats the `forward_kwargs` with `num_batches` set.

use std::sync::Arc;

use vis_core::{EngineError, Sampler, SamplerKind, SamplerSpec};

use crate::data::{Dataset, Loader};
use crate::error::{Error, Result};
use crate::model::{GenerativeModel, Inputs};
use crate::rng::SeededRng;

/// `max_times` batches of noise of `num_batches` samples each, drawn now (noise is small).
pub(crate) fn noise<M: GenerativeModel>(
    model: &M,
    spec: &SamplerSpec,
    rng: &mut SeededRng,
) -> Result<Sampler<Inputs>> {
    let batches = (0..spec.max_times)
        .map(|_| model.noise(spec.num_batches, rng).map(Inputs::Noise))
        .collect::<Result<Vec<_>>>()?;
    Ok(Box::new(batches.into_iter().map(Ok)))
}

/// `max_times` batches of `dataset`, read as they are needed.
pub(crate) fn data(
    kind: SamplerKind,
    dataset: Option<&Arc<dyn Dataset>>,
    spec: &SamplerSpec,
) -> Result<Sampler<Inputs>> {
    let dataset = dataset.ok_or_else(|| Error::Sampler {
        kind: kind.name().to_owned(),
        message: format!(
            "the engine has no {} dataset; give it one with CandleEngine::{}",
            match kind {
                SamplerKind::ValData => "validation",
                SamplerKind::TestData => "test",
                _ => "training",
            },
            match kind {
                SamplerKind::ValData => "with_val_data",
                SamplerKind::TestData => "with_test_data",
                _ => "with_train_data",
            }
        ),
    })?;
    let mut loader = Loader::new(Arc::clone(dataset), spec.num_batches, None)?;
    Ok(Box::new((0..spec.max_times).map(move |_| {
        loader
            .next_batch()
            .map(Inputs::Data)
            .map_err(|e| Box::new(e) as EngineError)
    })))
}

/// The `forward_kwargs` (an empty table when absent), with `num_batches` defaulting to the
/// training batch size, `max_times` times.
pub(crate) fn arguments(spec: &SamplerSpec) -> Result<Sampler<Inputs>> {
    let mut kwargs = match spec.kwargs.get("forward_kwargs") {
        None | Some(serde_json::Value::Null) => serde_json::Map::new(),
        Some(serde_json::Value::Object(map)) => map.clone(),
        Some(other) => {
            return Err(Error::Sampler {
                kind: "Arguments".into(),
                message: format!("forward_kwargs must be a table, not {other}"),
            });
        }
    };
    kwargs
        .entry("num_batches")
        .or_insert_with(|| serde_json::Value::from(spec.num_batches));
    let times = spec.max_times;
    Ok(Box::new(
        (0..times).map(move |_| Ok(Inputs::Arguments(kwargs.clone()))),
    ))
}
