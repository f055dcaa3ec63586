//! The main job behind `vis demo`: trains a reference model on built-in data with the
//! visualization hook configured as in MMagic's README examples, then runs a test pass, and
//! reports where the pictures are, the quality figures first vs last, and what the hook cost.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};
use serde_json::json;
use vis_core::{
    DataSample, Engine, EngineError, GalleryVisBackend, HookConfig, LocalVisBackend, Sampler,
    SamplerSpec, TensorboardVisBackend, VisualizationHook, Visualizer, VisualizerConfig,
};

use vis_candle::{CandleEngine, Dataset, GenerativeModel, Inputs, Loader, SeededRng};

use crate::datasets::{PairedShapes, Shapes};
use crate::error::{Error, Result};
use crate::models::{dcgan, ddpm, pix2pix};
use crate::quality::ShapeClassifier;
use crate::trainable::{Losses, TrainableModel};

/// Which model the demo trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemoKind {
    /// A DCGAN on 32x32 coloured shapes, drawn with the `GAN` alias.
    Gan,
    /// pix2pix from outlines to filled shapes (64x64), drawn with `Translation` and
    /// `TranslationVal`.
    Translation,
    /// A small DDPM, drawn as a GIF of its denoising with the `DDPMDenoising` alias.
    Ddpm,
}

impl DemoKind {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DemoKind::Gan => "gan",
            DemoKind::Translation => "translation",
            DemoKind::Ddpm => "ddpm",
        }
    }

    /// Training iterations when not given.
    pub fn default_iters(self) -> usize {
        match self {
            DemoKind::Gan => 1800,
            DemoKind::Translation => 300,
            DemoKind::Ddpm => 1500,
        }
    }

    /// Visualization interval when not given: ten pictures a run (five for the slow DDPM).
    pub fn default_interval(self) -> u64 {
        match self {
            DemoKind::Gan => 180,
            DemoKind::Translation => 30,
            DemoKind::Ddpm => 300,
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// The model.
    pub kind: DemoKind,
    /// Training iterations.
    pub iters: usize,
    /// Visualize every `interval` iterations (0: never, the hook off).
    pub interval: u64,
    /// Where pictures, fixed inputs and weights go.
    pub work_dir: PathBuf,
    /// Seed of data, weights and noise.
    pub seed: u64,
    /// For `gan`: which generator draws the grids, MMagic's `sample_model` (`orig`, `ema`, or
    /// `ema/orig` for both side by side); `None` draws MMagic's default for a GAN with a moving
    /// average, `ema`.
    pub sample_model: Option<String>,
}

impl DemoOptions {
    /// The defaults of `kind`, writing to `work_dirs/demo`.
    pub fn new(kind: DemoKind) -> Self {
        Self {
            kind,
            iters: kind.default_iters(),
            interval: kind.default_interval(),
            work_dir: PathBuf::from("work_dirs/demo"),
            seed: 0,
            sample_model: None,
        }
    }
}

/// One training iteration done, for a progress display.
#[derive(Debug)]
pub struct Progress<'a> {
    /// Iterations done.
    pub iter: usize,
    /// Iterations in all.
    pub iters: usize,
    /// This iteration's losses.
    pub losses: &'a Losses,
}

/// What the hook cost the training loop.
#[derive(Clone, Copy, Debug, Default)]
pub struct HookTiming {
    /// Visualizations drawn.
    pub visualizations: usize,
    /// Time the loop spent in the hook, in all.
    pub blocking: Duration,
    /// Of which sampling the model (the forward passes and making inputs).
    pub sampling: Duration,
}

/// A quality figure of a model's samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figure {
    /// What it measures (`confident shapes`), the scalar's tag after `quality/`.
    pub name: &'static str,
    /// Its value.
    pub value: f32,
    /// Whether higher is better.
    pub higher_is_better: bool,
}

/// A quality figure before and after training.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QualityFigure {
    /// What it measures.
    pub name: &'static str,
    /// Before training.
    pub first: f32,
    /// After training.
    pub last: f32,
    /// Whether higher is better.
    pub higher_is_better: bool,
}

/// The shape figures of generated images `[N, 3, 32, 32]`, with the pixel-statistics distance
/// to `real` beside them.
fn shape_figures(
    classifier: &ShapeClassifier,
    fake: &Tensor,
    real: &Tensor,
) -> Result<Vec<Figure>> {
    let scores = classifier.score(fake)?;
    let figure = |name, value, higher_is_better| Figure {
        name,
        value,
        higher_is_better,
    };
    Ok(vec![
        figure("confident shapes", scores.confident, true),
        figure("kind coverage", scores.kind_coverage, true),
        figure("colour coverage", scores.colour_coverage, true),
        figure(
            "pixel statistics distance",
            pixel_statistics_distance(fake, real)?,
            false,
        ),
    ])
}

/// What a demo run did.
#[derive(Clone, Debug)]
pub struct DemoReport {
    /// Whether this process wrote files: only rank 0 does (`RANK`, else `LOCAL_RANK`).
    pub main_process: bool,
    /// The folder of the pictures (`{work_dir}/vis_data/vis_image`, mmengine's layout).
    pub picture_dir: PathBuf,
    /// The gallery page of every picture at every step.
    pub gallery_page: PathBuf,
    /// The trained weights, saved by the main process only.
    pub weights: Option<PathBuf>,
    /// The quality figures, before and after training (each also logged at every
    /// visualization as the scalar `quality/{name}`).
    pub quality: Vec<QualityFigure>,
    /// Training iterations run.
    pub iters: usize,
    /// Time spent training, hook included.
    pub train_time: Duration,
    /// The hook's share.
    pub hook: HookTiming,
    /// Test pictures handed to the hook (at most `max_save_at_test`; none on other ranks).
    pub test_pictures: usize,
    /// Pictures every backend wrote: training grids and test pictures.
    pub pictures_written: u64,
    /// Pictures that could not be written (each was reported as a warning).
    pub pictures_lost: usize,
}

/// Losses are logged as scalars every this many iterations, averaged over them (mmengine's
/// `LoggerHook` default interval and smoothing).
const LOSS_LOG_INTERVAL: usize = 10;

/// Sums of the losses since they were last logged.
#[derive(Default)]
struct LossWindow {
    sums: BTreeMap<String, (f64, u32)>,
}

impl LossWindow {
    /// Adds one iteration's losses.
    fn add(&mut self, losses: &Losses) {
        for (name, value) in losses {
            let (sum, count) = self.sums.entry(format!("loss/{name}")).or_default();
            *sum += f64::from(*value);
            *count += 1;
        }
    }

    /// The means since the last call, emptying the window.
    fn take(&mut self) -> BTreeMap<String, f64> {
        std::mem::take(&mut self.sums)
            .into_iter()
            .map(|(name, (sum, count))| (name, sum / f64::from(count.max(1))))
            .collect()
    }
}

/// Reports a failure to record something as a warning (through `log`) and training goes on:
/// nothing is lost without a word. A failed write names its own picture, step and file (it may
/// belong to an earlier call than the one that reported it); anything else is labelled with
/// `what`. Returns how many pictures were lost.
fn report_failure(what: &str, result: vis_core::Result<()>) -> usize {
    match result {
        Ok(()) => 0,
        Err(vis_core::Error::Write(failures)) => {
            for failure in &failures {
                log::warn!("{failure}");
            }
            failures
                .iter()
                .filter(|f| f.item.starts_with("picture"))
                .count()
        }
        Err(e) => {
            log::warn!("{what}: {e}");
            0
        }
    }
}

/// An engine that times what it spends sampling.
struct Timed<E> {
    inner: E,
    sampling: Duration,
}

impl<E: Engine> Engine for Timed<E> {
    type Inputs = E::Inputs;

    fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }

    fn set_train(&mut self, train: bool) {
        self.inner.set_train(train);
    }

    fn make_sampler(
        &mut self,
        spec: &SamplerSpec,
    ) -> std::result::Result<Sampler<E::Inputs>, EngineError> {
        let t = Instant::now();
        let sampler = self.inner.make_sampler(spec);
        self.sampling += t.elapsed();
        sampler
    }

    fn val_step(
        &mut self,
        inputs: &E::Inputs,
    ) -> std::result::Result<Vec<DataSample>, EngineError> {
        let t = Instant::now();
        let out = self.inner.val_step(inputs);
        self.sampling += t.elapsed();
        out
    }

    fn sampler_batch_size(&self, kind: vis_core::SamplerKind) -> usize {
        self.inner.sampler_batch_size(kind)
    }

    fn inputs_len(&self, inputs: &E::Inputs) -> usize {
        self.inner.inputs_len(inputs)
    }

    fn load_fixed_inputs(
        &mut self,
        buffer_key: &str,
        spec: &SamplerSpec,
    ) -> std::result::Result<Option<Vec<E::Inputs>>, EngineError> {
        self.inner.load_fixed_inputs(buffer_key, spec)
    }

    fn save_fixed_inputs(
        &mut self,
        buffer_key: &str,
        inputs: &[E::Inputs],
    ) -> std::result::Result<(), EngineError> {
        self.inner.save_fixed_inputs(buffer_key, inputs)
    }
}

/// The hook's configuration for `options.kind`, as MMagic's README examples write it.
pub fn hook_config(options: &DemoOptions) -> Result<HookConfig> {
    let interval = options.interval;
    let config = match options.kind {
        DemoKind::Gan => {
            let gan = match options.sample_model.as_deref() {
                None => json!({"type": "GAN", "name": "fake_img"}),
                // BigGAN's and SAGAN's configs: both generators, one key each.
                Some("ema/orig") => json!({"type": "GAN", "name": "fake_img",
                    "sample_model": "ema/orig", "target_keys": ["ema", "orig"]}),
                Some(one) => json!({"type": "GAN", "name": "fake_img", "sample_model": one}),
            };
            json!({"interval": interval, "fixed_input": true, "vis_kwargs_list": gan})
        }
        DemoKind::Translation => json!({
            "interval": interval,
            "fixed_input": true,
            "vis_kwargs_list": [
                {"type": "Translation", "name": "translation_train", "n_samples": 6, "n_row": 3,
                 "target_keys": ["img_outline", "fake_shape", "img_shape"]},
                {"type": "TranslationVal", "name": "translation_val", "n_samples": 16, "n_row": 4,
                 "target_keys": ["img_outline", "fake_shape", "img_shape"]}
            ]
        }),
        DemoKind::Ddpm => json!({
            "interval": interval,
            "fixed_input": true,
            "vis_kwargs_list": {"type": "DDPMDenoising", "n_skip": ddpm::Config::default().gif_n_skip()}
        }),
    };
    Ok(HookConfig::from_json(&config.to_string())?)
}

/// Runs the demo, calling `on_progress` after every iteration.
pub fn run(
    options: &DemoOptions,
    on_progress: &mut dyn FnMut(&Progress<'_>),
) -> Result<DemoReport> {
    let device = Device::Cpu;
    let seed = options.seed;
    match options.kind {
        DemoKind::Gan => {
            let config = dcgan::Config::default();
            let batch = config.batch_size;
            let model = dcgan::Dcgan::new(config, seed, &device)?;
            let train: Arc<dyn Dataset> = Arc::new(Shapes::new(20_000, seed));
            let real = first_examples(train.as_ref(), 256, "img")?;
            let mut noise_rng = SeededRng::new(seed ^ 0x5EED);
            let fixed = model.noise(256, &mut noise_rng)?;
            let classifier = ShapeClassifier::shipped(&device)?;
            let quality = move |m: &mut dcgan::Dcgan| -> Result<Vec<Figure>> {
                let fake = batch_tensor(&m.val_step(&Inputs::noise(fixed.clone()))?, "fake_img")?;
                shape_figures(&classifier, &fake, &real)
            };
            let engine = CandleEngine::new(model, batch, seed).with_train_data(Arc::clone(&train));
            let test: Vec<Inputs> = {
                let mut rng = SeededRng::new(seed ^ 0x7E57);
                let m = engine.model();
                // Enough batches for max_save_at_test (100) pictures.
                (0..test_batches(100, batch))
                    .map(|_| m.noise(batch, &mut rng).map(Inputs::noise))
                    .collect::<vis_candle::Result<_>>()?
            };
            train_and_test(options, engine, train, test, quality, on_progress)
        }
        DemoKind::Translation => {
            let config = pix2pix::Config::default();
            let batch = config.batch_size;
            let model = pix2pix::Pix2Pix::new(config, seed, &device)?;
            let train: Arc<dyn Dataset> = Arc::new(PairedShapes::new(4_000, seed));
            let val: Arc<dyn Dataset> = Arc::new(PairedShapes::new(64, seed ^ 0x7A1));
            let test: Arc<dyn Dataset> = Arc::new(PairedShapes::new(32, seed ^ 0x7E57));
            let val_batch = Loader::new(Arc::clone(&val), 64, None)?.next_batch()?;
            let quality = move |m: &mut pix2pix::Pix2Pix| -> Result<Vec<Figure>> {
                Ok(vec![Figure {
                    name: "validation L1",
                    value: m.l1_on(&val_batch)?,
                    higher_is_better: false,
                }])
            };
            let engine = CandleEngine::new(model, batch, seed)
                .with_train_data(Arc::clone(&train))
                .with_val_data(val)
                .with_test_data(Arc::clone(&test));
            let mut loader = Loader::new(test, batch, None)?;
            let batches = test_batches(32, batch);
            let test = (0..batches)
                .map(|_| loader.next_batch().map(Inputs::data))
                .collect::<vis_candle::Result<_>>()?;
            train_and_test(options, engine, train, test, quality, on_progress)
        }
        DemoKind::Ddpm => {
            let config = ddpm::Config::default();
            let batch = config.batch_size;
            let model = ddpm::Ddpm::new(config, seed, &device)?;
            let train: Arc<dyn Dataset> = Arc::new(Shapes::new(20_000, seed));
            let real = first_examples(train.as_ref(), 128, "img")?;
            let classifier = ShapeClassifier::shipped(&device)?;
            let quality = move |m: &mut ddpm::Ddpm| -> Result<Vec<Figure>> {
                let mut args = serde_json::Map::new();
                args.insert("num_batches".into(), json!(64));
                let samples = m.val_step(&Inputs::arguments(args))?;
                let fake = batch_tensor(&final_images(samples)?, "fake_img")?;
                shape_figures(&classifier, &fake, &real)
            };
            let engine = CandleEngine::new(model, batch, seed).with_train_data(Arc::clone(&train));
            let mut args = serde_json::Map::new();
            args.insert("num_batches".into(), json!(batch));
            train_and_test(
                options,
                engine,
                train,
                vec![Inputs::arguments(args)],
                quality,
                on_progress,
            )
        }
    }
}

/// Batches needed for `n` test examples.
fn test_batches(n: usize, batch: usize) -> usize {
    n.div_ceil(batch.max(1))
}

/// Warns when the run draws nothing the user would watch: no training at all, or an interval
/// longer than the run (e.g. a model's default interval after a shortened `--iters`). The
/// options are named as `vis demo` spells them.
fn warn_of_a_run_without_training_pictures(iters: usize, interval: u64) {
    if iters == 0 {
        log::warn!("--iters 0 trains nothing: the pictures and figures show the untrained model");
    } else if interval > iters as u64 {
        log::warn!(
            "visualizing every {interval} iterations in a run of {iters} draws no training picture, \
             only the test pictures at the end; pass --interval {iters} or less, or --iters \
             {interval} or more"
        );
    }
}

/// The training loop with the hook, then the test pass.
fn train_and_test<M: TrainableModel>(
    options: &DemoOptions,
    engine: CandleEngine<M>,
    train: Arc<dyn Dataset>,
    test_inputs: Vec<Inputs>,
    mut quality: impl FnMut(&mut M) -> Result<Vec<Figure>>,
    on_progress: &mut dyn FnMut(&Progress<'_>),
) -> Result<DemoReport> {
    let work_dir = &options.work_dir;
    // Only rank 0 writes (mmengine's `master_only`): the others train, and write nothing.
    let main_process = vis_core::is_main_process()?;
    if main_process {
        std::fs::create_dir_all(work_dir).map_err(|e| Error::File {
            path: work_dir.clone(),
            message: format!("cannot create the work folder: {e}"),
        })?;
    }
    let batch = engine.batch_size();
    let mut engine = Timed {
        inner: engine.with_fixed_inputs_in(work_dir),
        sampling: Duration::ZERO,
    };
    // Pictures, scalars and the config go to both of the backends MMagic users watch: files
    // (`vis_image/`, `scalars.json`, `config.json`) and TensorBoard (`tensorboard --logdir`).
    // mmengine's layout: `{work_dir}/vis_data/` holds what the visualizer writes.
    let vis_data = vis_core::vis_data_dir(work_dir);
    let visualizer = Visualizer::new(
        vec![
            Box::new(LocalVisBackend::new(&vis_data)),
            Box::new(GalleryVisBackend::new(&vis_data)),
            Box::new(TensorboardVisBackend::new(&vis_data)),
        ],
        // The built-in data is RGB in [-1, 1], as the defaults expect.
        VisualizerConfig::default(),
    )?;
    let config = hook_config(options)?;
    let mut hook = VisualizationHook::new(config.clone(), visualizer)?;
    let run_config = json!({
        "demo": {
            "model": options.kind.name(),
            "iters": options.iters,
            "seed": options.seed,
            "batch_size": batch,
        },
        "visualization_hook": config,
    });
    let mut lost = report_failure(
        "recording the config",
        hook.visualizer().add_config(run_config),
    );
    let mut rng = SeededRng::new(options.seed ^ 0x7EA1);
    let mut loader = Loader::new(train, batch, Some(rng.fork()))?;
    fn model<M: TrainableModel>(engine: &mut Timed<CandleEngine<M>>) -> &mut M {
        engine.inner.model_mut()
    }

    // The quality figures in eval mode, logged as scalars at `step`.
    let mut judge = |engine: &mut Timed<CandleEngine<M>>,
                     hook: &mut VisualizationHook<Timed<CandleEngine<M>>>,
                     step: u64|
     -> Result<(Vec<Figure>, usize)> {
        model(engine).set_train(false);
        let figures = quality(model(engine))?;
        model(engine).set_train(true);
        let scalars = figures
            .iter()
            .map(|f| {
                (
                    format!("quality/{}", f.name.replace(' ', "_")),
                    f64::from(f.value),
                )
            })
            .collect();
        let lost = report_failure(
            "recording the quality figures",
            hook.visualizer().add_scalars(scalars, step, None),
        );
        Ok((figures, lost))
    };
    let (first, failed) = judge(&mut engine, &mut hook, 0)?;
    lost += failed;
    let mut window = LossWindow::default();

    let mut timing = HookTiming::default();
    // After every check of the folder and the environment, so an error comes first.
    if main_process {
        warn_of_a_run_without_training_pictures(options.iters, options.interval);
    }
    let start = Instant::now();
    for iter in 0..options.iters {
        let data = loader.next_batch()?;
        let losses = model(&mut engine).train_step(&data, &mut rng)?;
        window.add(&losses);
        if (iter + 1) % LOSS_LOG_INTERVAL == 0 || iter + 1 == options.iters {
            let step = iter as u64 + 1;
            lost += report_failure(
                "recording losses",
                hook.visualizer().add_scalars(window.take(), step, None),
            );
        }
        let sampling_before = engine.sampling;
        let t = Instant::now();
        let drew = vis_core::every_n_inner_iters(iter as u64, options.interval);
        let result = hook.after_train_iter(&mut engine, iter as u64);
        if drew {
            timing.visualizations += 1;
            timing.blocking += t.elapsed();
            timing.sampling += engine.sampling - sampling_before;
        }
        // A failed picture is reported and training goes on.
        lost += report_failure(&format!("visualization at iteration {}", iter + 1), result);
        // The figures at every visualization but the last iteration's (judged below).
        if drew && iter + 1 < options.iters {
            lost += judge(&mut engine, &mut hook, iter as u64 + 1)?.1;
        }
        on_progress(&Progress {
            iter: iter + 1,
            iters: options.iters,
            losses: &losses,
        });
    }
    let train_time = start.elapsed();

    let (last, failed) = judge(&mut engine, &mut hook, options.iters as u64)?;
    lost += failed;
    model(&mut engine).set_train(false);
    let quality = first
        .iter()
        .zip(&last)
        .map(|(a, b)| QualityFigure {
            name: a.name,
            first: a.value,
            last: b.value,
            higher_is_better: a.higher_is_better,
        })
        .collect();
    let mut test_pictures = 0;
    for (batch_idx, inputs) in test_inputs.iter().enumerate() {
        let outputs = final_images(model(&mut engine).val_step(inputs)?)?;
        test_pictures += outputs.len();
        lost += report_failure(
            &format!("saving test pictures of batch {batch_idx}"),
            hook.after_test_iter(batch_idx as u64, &outputs),
        );
    }
    if let vis_core::MaxSave::Limit(max) = hook.config().max_save_at_test {
        test_pictures = test_pictures.min(max);
    }
    if !main_process {
        test_pictures = 0;
    }
    let weights = if main_process {
        let path = work_dir.join(format!("{}.safetensors", options.kind.name()));
        engine.inner.model().save(&path)?;
        Some(path)
    } else {
        None
    };
    lost += report_failure("writing the last pictures", hook.flush());
    let pictures_written = hook.visualizer().pictures_written();
    lost += report_failure("closing the visualizer", hook.close());
    Ok(DemoReport {
        main_process,
        picture_dir: vis_data.join("vis_image"),
        gallery_page: vis_data.join(vis_core::GALLERY_PAGE),
        weights,
        quality,
        iters: options.iters,
        train_time,
        hook: timing,
        test_pictures,
        pictures_written,
        pictures_lost: lost,
    })
}

/// Samples whose sequences `[T, C, H, W]` are replaced by their last frame (the test pass
/// saves images).
fn final_images(samples: Vec<DataSample>) -> Result<Vec<DataSample>> {
    samples
        .into_iter()
        .map(|sample| {
            let mut out = DataSample::new();
            for (key, value) in sample.iter() {
                match value {
                    vis_core::Value::Tensor(t) if t.ndim() == 4 => {
                        let last = t.shape().first().copied().unwrap_or(1).saturating_sub(1);
                        out.insert(key, t.index(last)?);
                    }
                    other => out.insert(key, other.clone()),
                }
            }
            Ok(out)
        })
        .collect()
}

/// The first `n` examples' `key` tensors, stacked.
fn first_examples(dataset: &dyn Dataset, n: usize, key: &str) -> Result<Tensor> {
    let n = n.min(dataset.len());
    let tensors = (0..n)
        .map(|i| {
            dataset
                .get(i)?
                .remove(key)
                .ok_or_else(|| Error::Dataset(format!("no key '{key}'")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Tensor::stack(&tensors, 0)?)
}

/// The `key` tensors of `samples`, stacked into one f32 tensor `[N, ...]` on the CPU.
fn batch_tensor(samples: &[DataSample], key: &str) -> Result<Tensor> {
    let mut values = Vec::new();
    let mut shape = Vec::new();
    for sample in samples {
        let tensor = sample.vis_tensor(key)?;
        shape = tensor.shape().to_vec();
        let lent = tensor.lend()?;
        match lent.elements() {
            vis_ops::Elements::F32(v) => values.extend_from_slice(v),
            vis_ops::Elements::F16(v) => values.extend(v.iter().map(|x| x.to_f32())),
            vis_ops::Elements::Bf16(v) => values.extend(v.iter().map(|x| x.to_f32())),
            vis_ops::Elements::U8(v) => {
                values.extend(v.iter().map(|&x| f32::from(x) / 127.5 - 1.0))
            }
        }
    }
    shape.insert(0, samples.len());
    Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
}

/// How far generated images are from real ones in their pixel statistics, in 8-bit levels:
/// the root mean square difference of the per-pixel means plus that of the per-pixel standard
/// deviations, over `[N, C, H, W]` batches in [-1, 1] (real images are average-pooled down to
/// the generated size when it is smaller). 0 for identical statistics.
pub fn pixel_statistics_distance(fake: &Tensor, real: &Tensor) -> Result<f32> {
    let fake = fake.to_dtype(DType::F32)?;
    let mut real = real.to_dtype(DType::F32)?;
    let (fh, rh) = (fake.dim(2)?, real.dim(2)?);
    if rh > fh && fh > 0 && rh % fh == 0 {
        real = real.avg_pool2d(rh / fh)?;
    }
    let stats = |x: &Tensor| -> Result<(Tensor, Tensor)> {
        let mean = x.mean_keepdim(0)?;
        let std = x.broadcast_sub(&mean)?.sqr()?.mean_keepdim(0)?.sqrt()?;
        Ok((mean, std))
    };
    let (fm, fs) = stats(&fake)?;
    let (rm, rs) = stats(&real)?;
    let rms = |a: &Tensor, b: &Tensor| -> Result<f32> {
        Ok((a - b)?.sqr()?.mean_all()?.sqrt()?.to_scalar::<f32>()?)
    };
    Ok((rms(&fm, &rm)? + rms(&fs, &rs)?) * 127.5)
}
