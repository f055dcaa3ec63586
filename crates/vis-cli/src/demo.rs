//! `vis demo`: trains a reference model on built-in data with the visualization hook writing
//! grids, showing progress, then says where the pictures are and how much the model learnt.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use vis_candle::demo::{self, DemoKind, DemoOptions};

use crate::error::CliError;

/// The models `vis demo` trains.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Model {
    /// DCGAN on 32x32 coloured shapes; grids `fake_img_{step}.png` (MMagic's `GAN` alias).
    Gan,
    /// pix2pix from outlines to filled shapes (64x64); `translation_train` and
    /// `translation_val` grids.
    Translation,
    /// A small DDPM; a GIF of the denoising per visualization (`DDPMDenoising`).
    Ddpm,
}

/// Arguments of `vis demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// The model to train.
    #[arg(value_enum, default_value = "gan")]
    model: Model,
    /// Training iterations [default: 1000 gan, 300 translation, 600 ddpm].
    #[arg(long)]
    iters: Option<usize>,
    /// Visualize every N iterations; 0 turns the hook off [default: about ten per run].
    #[arg(long)]
    interval: Option<u64>,
    /// Where pictures, fixed inputs and weights go.
    #[arg(long, default_value = "work_dirs/demo")]
    work_dir: PathBuf,
    /// Seed of the data, the weights and the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Threads for training and drawing [default: every core].
    #[arg(long)]
    threads: Option<usize>,
}

impl DemoArgs {
    /// The threads asked for, to set up before any work starts.
    pub fn threads(&self) -> Option<usize> {
        self.threads
    }
}

/// Runs the demo.
pub(crate) fn run(args: DemoArgs) -> Result<(), CliError> {
    let kind = match args.model {
        Model::Gan => DemoKind::Gan,
        Model::Translation => DemoKind::Translation,
        Model::Ddpm => DemoKind::Ddpm,
    };
    let mut options = DemoOptions::new(kind);
    options.iters = args.iters.unwrap_or(options.iters);
    options.interval = args.interval.unwrap_or(options.interval);
    options.work_dir = args.work_dir;
    let options_dir = options.work_dir.clone();
    options.seed = args.seed;

    let bar = ProgressBar::new(options.iters as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} it  {per_sec}  {msg}",
        )
        .map_err(|e| CliError::Input(format!("progress bar: {e}")))?,
    );
    bar.set_prefix(kind.name());
    let report = demo::run(&options, &mut |p| {
        for warning in p.warnings {
            bar.println(format!("warning: {warning}"));
        }
        bar.set_position(p.iter as u64);
        if p.iter % 10 == 0 || p.iter == p.iters {
            let losses: Vec<String> = p
                .losses
                .iter()
                .map(|(name, value)| format!("{name} {value:.3}"))
                .collect();
            bar.set_message(losses.join("  "));
        }
    })?;
    bar.finish();
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }

    let secs = report.train_time.as_secs_f64();
    println!(
        "trained {} iterations in {secs:.1} s ({:.1} it/s)",
        report.iters,
        report.iters as f64 / secs.max(1e-9)
    );
    println!(
        "{}: {:.2} before training, {:.2} after (lower is better)",
        report.quality_name, report.quality_first, report.quality_last
    );
    if report.hook.visualizations > 0 {
        let n = report.hook.visualizations as f64;
        let blocking = report.hook.blocking.as_secs_f64() * 1e3 / n;
        let sampling = report.hook.sampling.as_secs_f64() * 1e3 / n;
        println!(
            "{} visualizations, each blocking training {blocking:.1} ms ({sampling:.1} ms sampling, \
             {:.1} ms drawing and queueing); {:.1} % of the training time",
            report.hook.visualizations,
            blocking - sampling,
            report.hook.blocking.as_secs_f64() / secs.max(1e-9) * 100.0
        );
    }
    println!("pictures: {}", report.picture_dir.display());
    println!(
        "losses: {}/scalars.json; TensorBoard: tensorboard --logdir {}",
        options_dir.display(),
        options_dir.display()
    );
    println!(
        "test pictures saved: {}; weights: {}",
        report.test_saved,
        report.weights.display()
    );
    Ok(())
}
