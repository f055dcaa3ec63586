//! `vis demo`: trains a reference model on built-in data with the visualization hook writing
//! grids, showing progress, then says where the pictures are and how much the model learnt.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use vis_demo::{DemoKind, DemoOptions};

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
    /// Training iterations [default: 1800 gan, 300 translation, 1500 ddpm].
    #[arg(long)]
    iters: Option<usize>,
    /// Visualize every N iterations; 0 turns the hook off [default: every 180 gan, 30
    /// translation, 300 ddpm].
    #[arg(long)]
    interval: Option<u64>,
    /// Where pictures, fixed inputs and weights go.
    #[arg(long, default_value = "work_dirs/demo")]
    work_dir: PathBuf,
    /// Seed of the data, the weights and the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// For gan: the generator the grids show, MMagic's sample_model: orig, ema (the moving
    /// average of its weights), or ema/orig for both side by side [default: ema, as MMagic's
    /// for a GAN with a moving average].
    #[arg(long, value_name = "G", value_parser = ["orig", "ema", "ema/orig"])]
    sample_model: Option<String>,
    /// Threads for training and drawing, 1 to 1024 [default: every core].
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
}

impl DemoArgs {
    /// The threads asked for, to set up before any work starts.
    pub fn threads(&self) -> Option<usize> {
        self.threads.map(usize::from)
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
    if args.sample_model.is_some() && !matches!(args.model, Model::Gan) {
        return Err(CliError::Usage {
            subcommand: "demo",
            message: "--sample-model goes with the gan model (its moving-average generator)".into(),
        });
    }
    options.sample_model = args.sample_model;

    let bar = ProgressBar::new(options.iters as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} it  {per_sec}  {msg}",
        )
        .map_err(|e| CliError::Input(format!("progress bar: {e}")))?,
    );
    bar.set_prefix(kind.name());
    let report = crate::logger::with_bar(&bar, || {
        vis_demo::run(&options, &mut |p| {
            bar.set_position(p.iter as u64);
            if p.iter % 10 == 0 || p.iter == p.iters {
                let losses: Vec<String> = p
                    .losses
                    .iter()
                    .map(|(name, value)| format!("{name} {value:.3}"))
                    .collect();
                bar.set_message(losses.join("  "));
            }
        })
    });
    bar.finish();
    let report = report?;

    let secs = report.train_time.as_secs_f64();
    let mut lines = vec![format!(
        "trained {} iterations in {secs:.1} s ({:.1} it/s)",
        report.iters,
        report.iters as f64 / secs.max(1e-9)
    )];
    for figure in &report.quality {
        lines.push(format!(
            "{}: {:.2} before training, {:.2} after ({} is better)",
            figure.name,
            figure.first,
            figure.last,
            if figure.higher_is_better {
                "higher"
            } else {
                "lower"
            }
        ));
    }
    if report.hook.visualizations > 0 {
        let n = report.hook.visualizations as f64;
        let blocking = report.hook.blocking.as_secs_f64() * 1e3 / n;
        let sampling = report.hook.sampling.as_secs_f64() * 1e3 / n;
        lines.push(format!(
            "{} visualizations, each blocking training {blocking:.1} ms ({sampling:.1} ms sampling, \
             {:.1} ms drawing and queueing); {:.1} % of the training time",
            report.hook.visualizations,
            blocking - sampling,
            report.hook.blocking.as_secs_f64() / secs.max(1e-9) * 100.0
        ));
    }
    if !report.main_process {
        lines.push(
            "this process is not rank 0: it wrote no file (only rank 0 writes pictures, logs and weights, as mmengine's master_only)".to_owned(),
        );
        return crate::print_lines(&lines);
    }
    let dir = crate::escape_controls(&options_dir.display().to_string());
    lines.push(format!(
        "pictures: {} written to {} ({} test pictures){}",
        report.pictures_written,
        crate::escape_controls(&report.picture_dir.display().to_string()),
        report.test_pictures,
        if report.pictures_lost > 0 {
            format!("; {} lost, see the warnings above", report.pictures_lost)
        } else {
            String::new()
        }
    ));
    let gallery =
        std::path::absolute(&report.gallery_page).unwrap_or_else(|_| report.gallery_page.clone());
    lines.push(format!(
        "gallery of every step: {} (open it in a browser)",
        crate::escape_controls(&gallery.display().to_string())
    ));
    lines.push(format!(
        "losses: {dir}/vis_data/scalars.json; TensorBoard: tensorboard --logdir {dir}"
    ));
    if let Some(weights) = &report.weights {
        lines.push(format!(
            "weights: {}",
            crate::escape_controls(&weights.display().to_string())
        ));
    }
    crate::print_lines(&lines)?;
    let expected = report.hook.visualizations + report.test_pictures;
    if expected > 0 && report.pictures_written == 0 {
        return Err(CliError::Input(format!(
            "no picture was written: every visualization failed ({} lost; the warnings above say why)",
            report.pictures_lost
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use vis_demo::DemoKind;

    /// `vis demo --help` states each model's default iterations and interval as the demo has
    /// them, so the help cannot drift from `DemoKind`.
    #[test]
    fn the_help_states_the_demos_defaults() {
        let mut command = crate::Cli::command();
        let demo = command
            .find_subcommand_mut("demo")
            .expect("the demo subcommand");
        let help = demo.render_long_help().to_string();
        let flowed = help.split_whitespace().collect::<Vec<_>>().join(" ");
        let kinds = [DemoKind::Gan, DemoKind::Translation, DemoKind::Ddpm];
        let iters = kinds.map(|kind| kind.default_iters().to_string());
        let intervals = kinds.map(|kind| kind.default_interval().to_string());
        for (lead, [gan, translation, ddpm]) in [("", iters), ("every ", intervals)] {
            let want =
                format!("[default: {lead}{gan} gan, {translation} translation, {ddpm} ddpm]");
            assert!(flowed.contains(&want), "{want} not in:\n{help}");
        }
    }
}
