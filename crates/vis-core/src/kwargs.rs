//! vis-kwargs resolution, as MMagic's `VisualizationHook.vis_sample`: what the user wrote wins,
//! then the alias's defaults (`VIS_KWARGS_MAPPING`), then the hook's.

use serde_json::json;

use crate::config::{Extra, HookConfig, KNOWN_TYPES, VisKwargs, VisMode};
use crate::error::{Error, Result};

/// The samplers of MMagic's `mmagic/utils/sampler.py`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SamplerKind {
    /// Noise from the model (`noise_fn`), one batch per step.
    Noise,
    /// The `forward_kwargs`, repeated `max_times`.
    Arguments,
    /// Batches of the training data, from an iterator of its own.
    Data,
    /// Batches of the validation data.
    ValData,
    /// Batches of the test data.
    TestData,
}

impl SamplerKind {
    /// The sampler's name.
    pub fn name(self) -> &'static str {
        match self {
            SamplerKind::Noise => "Noise",
            SamplerKind::Arguments => "Arguments",
            SamplerKind::Data => "Data",
            SamplerKind::ValData => "ValData",
            SamplerKind::TestData => "TestData",
        }
    }
}

/// The sampler and alias defaults of a `type` (matched case-insensitively), or `None` when it is
/// neither a sampler nor an alias.
pub fn sampler_of(kind: &str) -> Option<(SamplerKind, Extra)> {
    let lower = kind.to_ascii_lowercase();
    let defaults = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
    Some(match lower.as_str() {
        "noise" => (SamplerKind::Noise, Extra::new()),
        "arguments" => (SamplerKind::Arguments, Extra::new()),
        "data" => (SamplerKind::Data, Extra::new()),
        "valdata" => (SamplerKind::ValData, Extra::new()),
        "testdata" => (SamplerKind::TestData, Extra::new()),
        "gan" => (SamplerKind::Noise, Extra::new()),
        "singan" => (
            SamplerKind::Arguments,
            defaults(json!({ "forward_kwargs": { "mode": "rand" } })),
        ),
        "translation" => (SamplerKind::Data, Extra::new()),
        "translationval" => (SamplerKind::ValData, Extra::new()),
        // MMagic's alias points at a `TestDataSampler` that does not exist; here it works.
        "translationtest" => (SamplerKind::TestData, Extra::new()),
        "ddpmdenoising" => (
            SamplerKind::Arguments,
            defaults(json!({
                "name": "ddpm_sample",
                "n_samples": 16,
                "n_row": 4,
                "vis_mode": "gif",
                "n_skip": 100,
                "forward_kwargs": {
                    "forward_mode": "sampling",
                    "sample_kwargs": { "show_pbar": true, "save_intermedia": true }
                }
            })),
        ),
        _ => return None,
    })
}

/// What the engine needs to build a sampler.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerSpec {
    /// Which sampler.
    pub kind: SamplerKind,
    /// How many batches it yields: `ceil(n_samples / num_batches)`.
    pub max_times: usize,
    /// The training batch size.
    pub num_batches: usize,
    /// The remaining vis-kwargs (`forward_kwargs`, `n_skip`, ...).
    pub kwargs: Extra,
}

impl SamplerSpec {
    /// What the model gets with every batch of this sampler (MMagic's `NoiseSampler` puts them
    /// beside the noise: `sample_model = "ema/orig"`, say): the entry's extra kwargs, without
    /// those the sampler and the visualizer use themselves (`forward_kwargs`, `n_skip`, `fps`).
    pub fn model_kwargs(&self) -> Extra {
        let mut kwargs = self.kwargs.clone();
        for own in ["forward_kwargs", "n_skip", "fps"] {
            kwargs.remove(own);
        }
        kwargs
    }
}

/// One entry of `vis_kwargs_list`, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct VisPlan {
    /// The resolved sampler's name: the key of the fixed inputs, so that `GAN` and `Noise` (or
    /// `Translation` and `Data`) draw from the same ones.
    pub buffer_key: String,
    /// File name prefix.
    pub name: String,
    /// Samples to draw.
    pub n_samples: usize,
    /// Images per row, if set.
    pub n_row: Option<usize>,
    /// Reuse the first run's inputs.
    pub fixed_input: bool,
    /// Keys to draw, if named.
    pub target_keys: Option<Vec<String>>,
    /// Grid or animation.
    pub vis_mode: VisMode,
    /// The sampler to build.
    pub sampler: SamplerSpec,
}

/// Resolves `kwargs` against the alias table and the hook's defaults, for a training batch size
/// of `batch_size`.
pub fn resolve(kwargs: &VisKwargs, hook: &HookConfig, batch_size: usize) -> Result<VisPlan> {
    let (kind, alias) = sampler_of(&kwargs.kind).ok_or_else(|| Error::UnknownSampler {
        given: kwargs.kind.clone(),
        known: KNOWN_TYPES.to_vec(),
    })?;
    let alias_usize = |key: &str| alias.get(key).and_then(|v| v.as_u64()).map(|v| v as usize);
    // MMagic: the alias's name only when the user wrote none (`setdefault`), then `if not name`:
    // an empty or null name is the type as written, lower-cased.
    let name = match &kwargs.name {
        None => alias
            .get("name")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        Some(given) => given.clone(),
    }
    .filter(|n| !n.is_empty())
    .unwrap_or_else(|| kwargs.kind.to_lowercase());
    let n_samples = kwargs
        .n_samples
        .or_else(|| alias_usize("n_samples"))
        .unwrap_or(hook.n_samples);
    let n_row = kwargs.n_row.or_else(|| alias_usize("n_row")).or(hook.n_row);
    let vis_mode = kwargs
        .vis_mode
        .or_else(|| {
            alias
                .get("vis_mode")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
        })
        .unwrap_or_default();
    // The alias's other defaults (n_skip, forward_kwargs) sit under what the user wrote.
    let mut extra = alias.clone();
    for key in ["name", "n_samples", "n_row", "vis_mode"] {
        extra.remove(key);
    }
    for (k, v) in &kwargs.extra {
        extra.insert(k.clone(), v.clone());
    }
    if kind == SamplerKind::Arguments && !extra.contains_key("forward_kwargs") {
        return Err(Error::Config {
            file: None,
            field: "vis_kwargs_list.forward_kwargs".into(),
            message: format!(
                "the Arguments sampler of '{}' repeats its forward_kwargs: give them (a table, possibly empty)",
                kwargs.kind
            ),
        });
    }
    if n_samples == 0 || batch_size == 0 {
        return Err(Error::Config {
            file: None,
            field: "n_samples".into(),
            message: format!(
                "'{name}' asks for {n_samples} samples with a batch size of {batch_size}; both must be at least 1"
            ),
        });
    }
    Ok(VisPlan {
        buffer_key: kind.name().to_owned(),
        name,
        n_samples,
        n_row,
        fixed_input: kwargs.fixed_input.unwrap_or(hook.fixed_input),
        target_keys: kwargs.target_keys.as_ref().map(|k| k.to_vec()),
        vis_mode,
        sampler: SamplerSpec {
            kind,
            max_times: n_samples.div_ceil(batch_size),
            num_batches: batch_size,
            kwargs: extra,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(json: serde_json::Value) -> VisKwargs {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn aliases_resolve_with_their_defaults() {
        let hook = HookConfig::default();
        let gan = resolve(&kw(json!({"type": "GAN"})), &hook, 10).unwrap();
        assert_eq!(gan.sampler.kind, SamplerKind::Noise);
        assert_eq!(gan.name, "gan");
        assert_eq!(gan.n_samples, 64);
        assert_eq!(gan.sampler.max_times, 7);
        assert_eq!(gan.buffer_key, "Noise");

        let ddpm = resolve(&kw(json!({"type": "ddpmdenoising"})), &hook, 4).unwrap();
        assert_eq!(ddpm.sampler.kind, SamplerKind::Arguments);
        assert_eq!(ddpm.name, "ddpm_sample");
        assert_eq!((ddpm.n_samples, ddpm.n_row), (16, Some(4)));
        assert_eq!(ddpm.vis_mode, VisMode::Gif);
        assert_eq!(ddpm.sampler.kwargs["n_skip"], json!(100));
        assert_eq!(
            ddpm.sampler.kwargs["forward_kwargs"]["sample_kwargs"]["save_intermedia"],
            json!(true)
        );

        // The user's values win over the alias's, which win over the hook's.
        let user = resolve(
            &kw(json!({"type": "DDPMDenoising", "name": "ddpm", "n_samples": 3, "n_skip": 1})),
            &hook,
            10,
        )
        .unwrap();
        assert_eq!((user.name.as_str(), user.n_samples), ("ddpm", 3));
        assert_eq!(user.sampler.kwargs["n_skip"], json!(1));
        assert_eq!(user.sampler.max_times, 1);

        // MMagic's `if not name` (visualization_hook.py:333-335): an empty or null name is the
        // type as written, lower-cased, even where the alias has a name of its own.
        for empty in [json!(""), json!(null)] {
            let ddpm = resolve(
                &kw(json!({"type": "DDPMDenoising", "name": empty})),
                &hook,
                4,
            );
            assert_eq!(ddpm.unwrap().name, "ddpmdenoising");
        }
        let val = resolve(&kw(json!({"type": "TranslationVal", "name": ""})), &hook, 4).unwrap();
        assert_eq!(
            (val.sampler.kind, val.name.as_str()),
            (SamplerKind::ValData, "translationval")
        );
        // Sampler names are case-insensitive too (MMagic's `eval(f'{type}Sampler')` is not).
        let noise = resolve(&kw(json!({"type": "noise"})), &hook, 4).unwrap();
        assert_eq!(
            (noise.sampler.kind, noise.name.as_str()),
            (SamplerKind::Noise, "noise")
        );
        let test = resolve(&kw(json!({"type": "TranslationTest"})), &hook, 4).unwrap();
        assert_eq!(test.sampler.kind, SamplerKind::TestData);
        let singan = resolve(&kw(json!({"type": "SinGAN"})), &hook, 4).unwrap();
        assert_eq!(
            singan.sampler.kwargs["forward_kwargs"],
            json!({"mode": "rand"})
        );
    }

    #[test]
    fn unknown_types_list_the_known_ones() {
        let err = resolve(&kw(json!({"type": "Diffusion"})), &HookConfig::default(), 4)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown sampler type 'Diffusion'"));
        assert!(err.contains("Noise, Arguments, Data, ValData, TestData, GAN"));
        let err = resolve(&kw(json!({"type": "Arguments"})), &HookConfig::default(), 4)
            .unwrap_err()
            .to_string();
        assert!(err.contains("forward_kwargs"));
    }
}
