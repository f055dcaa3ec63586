//! vis-demo: what `vis demo` trains and how. Reference models in candle-nn ([`models`]: a
//! class-conditional DCGAN, a pix2pix U-Net with a PatchGAN discriminator, a small DDPM),
//! procedural data to train them on ([`datasets`]), and the training loop with the
//! visualization hook ([`run`]). Users of vis depend on `vis-candle`; this crate is the demo
//! built on it.
//!
//! ```no_run
//! use vis_demo::{DemoKind, DemoOptions};
//!
//! let options = DemoOptions { iters: 100, ..DemoOptions::new(DemoKind::Gan) };
//! let report = vis_demo::run(&options, &mut |progress| {
//!     println!("{}/{}", progress.iter, progress.iters);
//! })?;
//! println!("{} pictures in {}", report.pictures_written, report.picture_dir.display());
//! # Ok::<(), vis_demo::Error>(())
//! ```
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod datasets;
mod error;
pub mod models;
pub mod quality;
mod run;
mod trainable;

pub use error::{Error, Result};
pub use run::{
    DemoKind, DemoOptions, DemoReport, Figure, HookTiming, Progress, QualityFigure, hook_config,
    pixel_statistics_distance, run,
};
pub use trainable::{Losses, TrainableModel};
