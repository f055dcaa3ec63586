//! The `hook` workload: the dcgan workload through the whole `VisualizationHook` (fake engine
//! returning precomputed samples, real local backend), timing what the training loop waits for
//! (`hook_blocking`), the time until the picture is on disk (`hook_total`), and the grid pass
//! alone over the same batch in the same loop (`grid`), the baseline of `hook_blocking`.
//!
//! Between hook calls the thread does a few milliseconds of arithmetic, as a training step
//! would: the hook is called by a busy thread, while the writer encodes on another core. (Timed
//! right after sleeping in a flush instead, the call would also measure the core waking up.)

use std::path::Path;
use std::time::Instant;

use serde_json::json;
use vis_core::{
    DataSample, Engine, EngineError, HookConfig, LocalVisBackend, Sampler, SamplerSpec, Tensor,
    VisualizationHook, Visualizer, VisualizerConfig,
};

use vis_ops::{ChannelOrder, GridSpec, PixelMap, Quantize, RenderSpec, Renderer};

use crate::workload::Workload;
use crate::{Options, Row, median};

/// An engine whose forward pass returns the workload's images as samples (views of one batch).
struct Precomputed {
    samples: Vec<DataSample>,
}

impl Engine for Precomputed {
    type Inputs = ();

    fn batch_size(&self) -> usize {
        self.samples.len()
    }

    fn set_train(&mut self, _: bool) {}

    fn make_sampler(&mut self, spec: &SamplerSpec) -> Result<Sampler<()>, EngineError> {
        Ok(Box::new((0..spec.max_times).map(|_| Ok(()))))
    }

    fn val_step(&mut self, _: &()) -> Result<Vec<DataSample>, EngineError> {
        Ok(self.samples.clone())
    }
}

/// About 5 ms of floating-point work, standing in for a training step.
fn training_step() {
    let start = Instant::now();
    let mut x = 1.0f64;
    while start.elapsed().as_micros() < 5000 {
        for _ in 0..1000 {
            x = std::hint::black_box(x * 1.000_000_1 + 1e-9);
        }
    }
}

/// Times the hook on `workload` (a batch of images) with `threads` threads.
pub(crate) fn measure(
    workload: &Workload,
    threads: usize,
    dir: &Path,
    opts: &Options,
) -> Result<Vec<Row>, String> {
    let err = |e: vis_core::Error| e.to_string();
    let (key, shape, data) = workload.first_key().ok_or("the workload has no key")?;
    let n = shape.first().copied().unwrap_or(0);
    let batch = Tensor::from_vec(data.to_vec(), shape).map_err(err)?;
    let samples = (0..n)
        .map(|i| Ok(DataSample::new().with(key, batch.index(i)?)))
        .collect::<vis_core::Result<Vec<_>>>()
        .map_err(err)?;
    let mut engine = Precomputed { samples };
    let config = HookConfig::from_json(
        &json!({
            "interval": 1,
            "vis_kwargs_list": {"type": "GAN", "name": "fake_img", "n_samples": n, "n_row": workload.nrow()}
        })
        .to_string(),
    )
    .map_err(err)?;
    let backend = LocalVisBackend::new(dir.join(format!("hook_{threads}")));
    let visualizer =
        Visualizer::new(vec![Box::new(backend)], VisualizerConfig::default()).map_err(err)?;
    let mut hook: VisualizationHook<Precomputed> =
        VisualizationHook::new(config, visualizer).map_err(err)?;
    // The grid pass alone over the same batch, with the hook's spec, as the baseline.
    let alone = vis_ops::ImageBatch::new(key, data, shape).map_err(|e| e.to_string())?;
    let spec = RenderSpec {
        map: PixelMap::gan(),
        quantize: Quantize::Truncate,
        order: ChannelOrder::Bgr,
        grid: GridSpec {
            nrow: Some(workload.nrow()),
            ..GridSpec::default()
        },
    };
    let mut canvas = Vec::new();
    let (mut blocking, mut total, mut grid) = (Vec::new(), Vec::new(), Vec::new());
    let budget = std::time::Duration::from_secs_f64(opts.budget_ms / 1e3);
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    // The first call samples and stores the fixed inputs: a warm-up.
    hook.after_train_iter(&mut engine, 0).map_err(err)?;
    hook.flush().map_err(err)?;
    let start = Instant::now();
    let mut step = 1;
    // Every call comes after a training step, as in a training loop; the three timings
    // interleave so that they see the same machine.
    while blocking.len() < opts.min_reps || (start.elapsed() < budget && blocking.len() < 100) {
        training_step();
        let t = Instant::now();
        hook.after_train_iter(&mut engine, step).map_err(err)?;
        blocking.push(ms(t));
        training_step();
        hook.flush().map_err(err)?;
        let t = Instant::now();
        Renderer::default()
            .grid_into(std::slice::from_ref(&alone), &spec, &mut canvas)
            .map_err(|e| e.to_string())?;
        grid.push(ms(t));
        training_step();
        let t = Instant::now();
        hook.after_train_iter(&mut engine, step + 1).map_err(err)?;
        hook.flush().map_err(err)?;
        total.push(ms(t));
        step += 2;
    }
    hook.close().map_err(err)?;
    let bytes = std::fs::metadata(dir.join(format!("hook_{threads}/vis_image/fake_img_1.png")))
        .map(|m| m.len())
        .unwrap_or(0);
    // As in the other workloads: the grid rows carry the input bytes, the others the file's.
    let input_bytes = std::mem::size_of_val(data) as u64;
    let row = |stage: &str, ms, bytes| Row {
        workload: format!("hook_{}", workload.name()),
        stage: stage.to_owned(),
        threads,
        median_ms: ms,
        bytes,
        mae: None,
        pixels: None,
    };
    Ok(vec![
        row("grid", median(grid), input_bytes),
        row("hook_blocking", median(blocking), bytes),
        row("hook_total", median(total), bytes),
    ])
}
