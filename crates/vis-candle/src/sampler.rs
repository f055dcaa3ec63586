//! MMagic's samplers (`mmagic/utils/sampler.py`): each yields up to `max_times` batches of
//! `num_batches`, with the entry's extra kwargs beside them. `Noise` asks the model for noise
//! from a seeded generator; `Data`, `ValData` and `TestData` read their dataset as a fresh
//! DataLoader does (an iterator of their own, the training loader untouched): in order from the
//! first example, each example at most once, a short last batch, then the end; `Arguments`
//! repeats the `forward_kwargs` with `num_batches` set.

use std::sync::Arc;

use vis_core::{EngineError, Sampler, SamplerKind, SamplerSpec};

use crate::data::{Dataset, collate};
use crate::error::{Error, Result};
use crate::model::{GenerativeModel, Inputs};
use crate::rng::SeededRng;

/// `max_times` batches of noise of `num_batches` samples each, drawn now (noise is small).
pub(crate) fn noise<M: GenerativeModel>(
    model: &M,
    spec: &SamplerSpec,
    rng: &mut SeededRng,
) -> Result<Sampler<Inputs>> {
    let kwargs = spec.model_kwargs();
    let batches = (0..spec.max_times)
        .map(|_| {
            model
                .noise(spec.num_batches, rng)
                .map(|z| Inputs::noise(z).with_kwargs(kwargs.clone()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Box::new(batches.into_iter().map(Ok)))
}

/// The dataset a data sampler reads, or an error saying how to give it one.
pub(crate) fn dataset_of(
    kind: SamplerKind,
    dataset: Option<&Arc<dyn Dataset>>,
) -> Result<Arc<dyn Dataset>> {
    dataset.cloned().ok_or_else(|| Error::Sampler {
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
    })
}

/// Examples `start..` of `dataset` in batches of `batch_size`, at most `max_times` of them,
/// read as they are needed; the last may be short where the data ends.
pub(crate) fn data_batches(
    dataset: Arc<dyn Dataset>,
    start: usize,
    batch_size: usize,
    max_times: usize,
    kwargs: vis_core::Extra,
) -> Result<Sampler<Inputs>> {
    if batch_size == 0 {
        return Err(Error::Dataset("the batch size must be at least 1".into()));
    }
    let len = dataset.len();
    let starts = (start..len).step_by(batch_size).take(max_times);
    Ok(Box::new(
        starts
            .map(move |first| {
                let examples = (first..(first + batch_size).min(len))
                    .map(|i| dataset.get(i))
                    .collect::<Result<Vec<_>>>()?;
                let batch = collate(&examples)?;
                Ok(Inputs::data(batch).with_kwargs(kwargs.clone()))
            })
            .map(|r: Result<Inputs>| r.map_err(|e| Box::new(e) as EngineError)),
    ))
}

/// Up to `max_times` batches of `dataset`, from its first example.
pub(crate) fn data(
    kind: SamplerKind,
    dataset: Option<&Arc<dyn Dataset>>,
    spec: &SamplerSpec,
) -> Result<Sampler<Inputs>> {
    let dataset = dataset_of(kind, dataset)?;
    data_batches(
        dataset,
        0,
        spec.num_batches,
        spec.max_times,
        spec.model_kwargs(),
    )
}

/// The `forward_kwargs` (an empty table when absent), with `num_batches` defaulting to the
/// sampler's batch size, `max_times` times.
pub(crate) fn arguments(spec: &SamplerSpec) -> Result<Sampler<Inputs>> {
    let mut args = match spec.kwargs.get("forward_kwargs") {
        None | Some(serde_json::Value::Null) => serde_json::Map::new(),
        Some(serde_json::Value::Object(map)) => map.clone(),
        Some(other) => {
            return Err(Error::Sampler {
                kind: "Arguments".into(),
                message: format!("forward_kwargs must be a table, not {other}"),
            });
        }
    };
    args.entry("num_batches")
        .or_insert_with(|| serde_json::Value::from(spec.num_batches));
    let inputs = Inputs::arguments(args).with_kwargs(spec.model_kwargs());
    let times = spec.max_times;
    Ok(Box::new((0..times).map(move |_| Ok(inputs.clone()))))
}
