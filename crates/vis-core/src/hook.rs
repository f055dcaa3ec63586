//! `VisualizationHook`: MMagic's hook as a state machine the training loop calls. Every
//! `interval` iterations it samples the model with (fixed) inputs, draws the results and the
//! message hub's pictures, and at test time saves individual results.
//!
//! Where it deliberately differs from MMagic: the model runs once per sampler batch (MMagic runs
//! it twice and drops the first result); message-hub pictures use the same step as the sampler
//! grids (`batch_idx + 1`); test-time file indices count samples, so a short last batch cannot
//! overwrite earlier files; `TranslationTest` works; fixed inputs can outlive the process
//! (through the engine); and a failure is an error returned to the caller, with the model back
//! in training mode, never the end of training.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::config::{Extra, HookConfig, MaxSave, PixelOptions, VisMode, test_picture_name};
use crate::engine::Engine;
use crate::error::{EngineError, Error, Result};
use crate::kwargs::{VisPlan, resolve};
use crate::message_hub::{HubValue, MessageHub};
use crate::rank::is_main_process;
use crate::sample::DataSample;
use crate::visualizer::{DrawRequest, PixelSpec, Visualizer};
use crate::writer::{Reported, panic_message};

/// mmengine's `Hook.every_n_inner_iters`: true on the `n`-th, `2n`-th, ... iteration; never
/// when `n` is 0.
pub fn every_n_inner_iters(batch_idx: u64, n: u64) -> bool {
    n > 0 && batch_idx.saturating_add(1).is_multiple_of(n)
}

/// MMagic's `VisualizationHook` for a model behind engine `E`.
pub struct VisualizationHook<E: Engine> {
    config: HookConfig,
    visualizer: Visualizer,
    hub: MessageHub,
    inputs_buffer: HashMap<String, Vec<E::Inputs>>,
    main_process: bool,
    test_seen: u64,
}

impl<E: Engine> std::fmt::Debug for VisualizationHook<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VisualizationHook")
            .field("config", &self.config)
            .field("main_process", &self.main_process)
            .finish_non_exhaustive()
    }
}

/// Runs an engine call, turning its error or panic into an [`Error`] that says what the hook
/// was doing.
fn call<T>(
    during: impl FnOnce() -> String,
    f: impl FnOnce() -> Result<T, EngineError>,
) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(source)) => Err(Error::Engine {
            during: during(),
            source,
        }),
        Err(panic) => Err(Error::EnginePanic {
            during: during(),
            message: panic_message(&*panic),
        }),
    }
}

/// One forward pass's outputs: as many samples as the batch, or a group of another size
/// (a model returning several elements per input), which counts as one item when truncating.
enum Output {
    One(DataSample),
    Group(Vec<DataSample>),
}

impl<E: Engine> VisualizationHook<E> {
    /// A hook drawing through `visualizer`. Only the main process (rank 0) will draw.
    pub fn new(config: HookConfig, visualizer: Visualizer) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            visualizer,
            hub: MessageHub::new(),
            inputs_buffer: HashMap::new(),
            main_process: is_main_process()?,
            test_seen: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HookConfig {
        &self.config
    }

    /// The message hub, where a training step leaves `vis_results`.
    pub fn message_hub(&mut self) -> &mut MessageHub {
        &mut self.hub
    }

    /// The visualizer (for scalars, the config, or drawing of your own).
    pub fn visualizer(&mut self) -> &mut Visualizer {
        &mut self.visualizer
    }

    /// Whether this process draws (rank 0).
    pub fn is_main_process(&self) -> bool {
        self.main_process
    }

    /// The fixed inputs kept for a sampler (`Noise`, `Data`, ...: the resolved type, shared by
    /// its aliases).
    pub fn fixed_inputs(&self, buffer_key: &str) -> Option<&[E::Inputs]> {
        self.inputs_buffer.get(buffer_key).map(Vec::as_slice)
    }

    /// Called after every training iteration: every `interval` iterations, samples the model
    /// and draws (step `batch_idx + 1`).
    ///
    /// Steps are `u64` throughout vis (iterations, scalars, pictures). A resumed run passes
    /// the global iteration, counted on from its checkpoint, so its grids continue the steps.
    pub fn after_train_iter(&mut self, engine: &mut E, batch_idx: u64) -> Result<()> {
        if self.main_process && every_n_inner_iters(batch_idx, self.config.interval) {
            self.vis_sample(engine, batch_idx)?;
        }
        Ok(())
    }

    /// Does nothing, as MMagic's hook during validation.
    pub fn after_val_iter(&mut self, batch_idx: u64, outputs: &[DataSample]) -> Result<()> {
        let _ = (batch_idx, outputs);
        Ok(())
    }

    /// Samples the model and draws every vis-kwargs entry, then the message hub's pictures.
    /// The model is in evaluation mode meanwhile and back in training mode afterwards, even
    /// when something failed.
    pub fn vis_sample(&mut self, engine: &mut E, batch_idx: u64) -> Result<()> {
        if !self.main_process {
            return Ok(());
        }
        call(
            || "switching the model to evaluation mode".into(),
            || {
                engine.set_train(false);
                Ok(())
            },
        )?;
        let mut reported = Reported::default();
        let drawn = self
            .draw_samplers(engine, batch_idx, &mut reported)
            .and_then(|()| self.vis_from_message_hub(batch_idx, &mut reported));
        let back = call(
            || "switching the model back to training mode".into(),
            || {
                engine.set_train(true);
                Ok(())
            },
        );
        self.visualizer.finish(reported, drawn.and(back))
    }

    fn draw_samplers(
        &mut self,
        engine: &mut E,
        batch_idx: u64,
        reported: &mut Reported,
    ) -> Result<()> {
        for kwargs in self.config.vis_kwargs_list.clone() {
            // Each sampler reads with its own batch size (the validation data's, say).
            let batch_size = crate::kwargs::sampler_of(&kwargs.kind).map_or_else(
                || engine.batch_size(),
                |(kind, _)| engine.sampler_batch_size(kind),
            );
            let plan = resolve(&kwargs, &self.config, batch_size)?;
            let samples = self.sample(engine, &plan)?;
            let n_row = plan.n_row.map(|r| r.min(samples.len()));
            let pixels = self.pixels(&kwargs.pixels());
            reported.keep(self.visualizer.add_datasample(&DrawRequest {
                name: &plan.name,
                samples: &samples,
                target_keys: plan.target_keys.as_deref(),
                vis_mode: plan.vis_mode,
                n_row,
                step: batch_idx.saturating_add(1),
                extra: &plan.sampler.kwargs,
                pixels: Some(&pixels),
            }))?;
        }
        Ok(())
    }

    /// Runs the model on the plan's inputs: fixed ones kept from the first run (or an earlier
    /// process), topped up with fresh ones when the plan needs more than were kept, or fresh
    /// ones from its sampler.
    fn sample(&mut self, engine: &mut E, plan: &VisPlan) -> Result<Vec<DataSample>> {
        let inputs = if plan.fixed_input {
            self.fixed(engine, plan)?
        } else {
            self.fresh(engine, plan, 0, plan.sampler.max_times)?
        };
        let mut outputs: Vec<Output> = Vec::new();
        for batch in &inputs {
            let examples = engine.inputs_len(batch);
            let out = call(
                || format!("sampling '{}'", plan.name),
                || engine.val_step(batch),
            )?;
            if out.len() == examples {
                outputs.extend(out.into_iter().map(Output::One));
            } else {
                outputs.push(Output::Group(out));
            }
        }
        // Truncated to n_samples items (a group counts as one, as MMagic), then flattened.
        outputs.truncate(plan.n_samples);
        Ok(outputs
            .into_iter()
            .flat_map(|o| match o {
                Output::One(s) => vec![s],
                Output::Group(g) => g,
            })
            .collect())
    }

    /// The plan's fixed inputs: the first `max_times` batches kept under its sampler (loaded
    /// from an earlier run the first time), drawing and keeping the batches that are missing
    /// (more samples asked for than were kept), so the count drawn is always the configured one.
    fn fixed(&mut self, engine: &mut E, plan: &VisPlan) -> Result<Vec<E::Inputs>> {
        let key = &plan.buffer_key;
        if !self.inputs_buffer.contains_key(key) {
            let restored = call(
                || format!("loading the fixed inputs of '{key}'"),
                || engine.load_fixed_inputs(key, &plan.sampler),
            )?;
            if let Some(inputs) = restored {
                self.inputs_buffer.insert(key.clone(), inputs);
            }
        }
        let kept = self.inputs_buffer.get(key).map_or(0, Vec::len);
        let need = plan.sampler.max_times;
        if kept < need {
            let fresh = self.fresh(engine, plan, kept, need - kept)?;
            let buffer = self.inputs_buffer.entry(key.clone()).or_default();
            buffer.extend(fresh);
            call(
                || format!("saving the fixed inputs of '{key}'"),
                || engine.save_fixed_inputs(key, buffer),
            )?;
        }
        Ok(self
            .inputs_buffer
            .get(key)
            .map(|b| b.iter().take(need).cloned().collect())
            .unwrap_or_default())
    }

    /// Batches `skip..skip + count` of a new sampler for the plan (fewer where its data ends).
    fn fresh(
        &mut self,
        engine: &mut E,
        plan: &VisPlan,
        skip: usize,
        count: usize,
    ) -> Result<Vec<E::Inputs>> {
        let sampler = call(
            || {
                format!(
                    "making the {} sampler of '{}'",
                    plan.sampler.kind.name(),
                    plan.name
                )
            },
            || engine.make_sampler(&plan.sampler),
        )?;
        sampler
            .skip(skip)
            .take(count)
            .map(|inputs| {
                inputs.map_err(|source| Error::Engine {
                    during: format!("drawing inputs for '{}'", plan.name),
                    source,
                })
            })
            .collect()
    }

    /// Draws the message hub's `vis_results` named by `message_hub_vis_kwargs`, as
    /// `train_{key}` at step `batch_idx + 1`.
    fn vis_from_message_hub(&mut self, batch_idx: u64, reported: &mut Reported) -> Result<()> {
        let Some(kwargs) = &self.config.message_hub_vis_kwargs else {
            return Ok(());
        };
        let results = self.hub.vis_results().ok_or_else(|| {
            Error::MessageHub(
                "message_hub_vis_kwargs is set but the message hub has no vis_results; set them in the training step (MessageHub::set_vis_result)".into(),
            )
        })?;
        let mut requests = Vec::new();
        for entry in kwargs.entries() {
            let (_, value) = results
                .iter()
                .find(|(k, _)| *k == entry.key)
                .ok_or_else(|| {
                    Error::MessageHub(format!(
                        "'{}' is not in the message hub's vis_results (it holds: {})",
                        entry.key,
                        results
                            .iter()
                            .map(|(k, _)| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            let samples: Vec<DataSample> = match value {
                HubValue::Tensor(batch) => {
                    let n = batch.shape().first().copied().unwrap_or(0);
                    (0..n)
                        .map(|i| Ok(DataSample::new().with(entry.key.clone(), batch.index(i)?)))
                        .collect::<Result<_>>()?
                }
                HubValue::Samples(samples) => samples.clone(),
                HubValue::Json(_) => {
                    return Err(Error::MessageHub(format!(
                        "vis_results['{}'] is neither a tensor nor a list of samples, so it cannot be drawn",
                        entry.key
                    )));
                }
            };
            let n_row = self.config.n_row.map(|r| r.min(samples.len()));
            requests.push((entry, samples, n_row));
        }
        for (entry, samples, n_row) in requests {
            let keys = vec![entry.key.clone()];
            let pixels = self.pixels(&entry.pixels());
            reported.keep(self.visualizer.add_datasample(&DrawRequest {
                name: &format!("train_{}", entry.key),
                samples: &samples,
                target_keys: Some(&keys),
                vis_mode: entry.vis_mode.unwrap_or_default(),
                n_row,
                step: batch_idx.saturating_add(1),
                extra: &Extra::new(),
                pixels: Some(&pixels),
            }))?;
        }
        Ok(())
    }

    /// Called after every test iteration: saves each output's images as `test_{key}` (dots in
    /// the key become underscores), one image per picture, numbered by a running count of test
    /// samples (reset when `batch_idx` is 0), up to `max_save_at_test`.
    pub fn after_test_iter(&mut self, batch_idx: u64, outputs: &[DataSample]) -> Result<()> {
        if !self.main_process || !self.config.save_at_test {
            return Ok(());
        }
        if batch_idx == 0 {
            self.test_seen = 0;
        }
        let mut reported = Reported::default();
        let drawn = self.save_test_samples(outputs, &mut reported);
        self.visualizer.finish(reported, drawn)
    }

    /// Draws the images of each test sample, numbered on from the samples seen before.
    fn save_test_samples(&mut self, outputs: &[DataSample], reported: &mut Reported) -> Result<()> {
        let pixels = self.pixels(&PixelOptions::default());
        for sample in outputs {
            let index = self.test_seen;
            self.test_seen = self.test_seen.saturating_add(1);
            if let MaxSave::Limit(max) = self.config.max_save_at_test
                && index >= max as u64
            {
                continue;
            }
            let keys: Vec<String> = match &self.config.test_vis_keys {
                Some(keys) => keys.to_vec(),
                None => sample
                    .tensor_keys(3)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            };
            if keys.is_empty() {
                return Err(Error::Sample(format!(
                    "test sample {index} holds no image [C, H, W] among its keys ({}); set test_vis_keys",
                    sample.keys().collect::<Vec<_>>().join(", ")
                )));
            }
            for key in keys {
                let target = [key.clone()];
                reported.keep(self.visualizer.add_datasample(&DrawRequest {
                    name: &test_picture_name(&key),
                    samples: std::slice::from_ref(sample),
                    target_keys: Some(&target),
                    vis_mode: VisMode::Image,
                    n_row: Some(1),
                    step: index,
                    extra: &Extra::new(),
                    pixels: Some(&pixels),
                }))?;
            }
        }
        Ok(())
    }

    /// The pixel settings of an entry: its own `options`, then the config's, then the
    /// visualizer's.
    fn pixels(&self, options: &PixelOptions) -> PixelSpec {
        self.visualizer
            .config()
            .pixels
            .with(&options.clone().or(&self.config.pixels()))
    }

    /// Waits until every picture is written; returns every failure since the last report.
    pub fn flush(&mut self) -> Result<()> {
        self.visualizer.flush()
    }

    /// Writes everything and stops the writer; returns every failure.
    pub fn close(self) -> Result<()> {
        self.visualizer.close()
    }
}
