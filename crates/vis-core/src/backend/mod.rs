//! Storage backends: where pictures (and scalars and the config) go. They run on the
//! visualizer's background writer thread, never on the training thread.

mod local;
pub mod tensorboard;

use std::collections::BTreeMap;

pub use local::LocalVisBackend;
pub use tensorboard::TensorboardVisBackend;
use vis_ops::{RgbFrames, RgbImage};

use crate::error::Result;

/// A drawn picture: one grid, or the frames of an animation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Picture {
    /// A grid (MMagic's `image` mode).
    Image(RgbImage),
    /// An animation (MMagic's `gif` mode): frames shown `delay_cs` centiseconds each.
    Animation {
        /// The frames, already chosen by `n_skip`.
        frames: RgbFrames,
        /// Frame delay in centiseconds (at least 2).
        delay_cs: u16,
    },
}

impl Picture {
    /// Width and height in pixels.
    pub fn size(&self) -> (usize, usize) {
        match self {
            Picture::Image(i) => (i.width(), i.height()),
            Picture::Animation { frames, .. } => (frames.width(), frames.height()),
        }
    }

    /// The picture's bytes, taken out (to be drawn into again).
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Picture::Image(i) => i.into_bytes(),
            Picture::Animation { frames, .. } => frames.into_bytes(),
        }
    }

    /// The file extension it is saved with (`png` or `gif`).
    pub fn extension(&self) -> &'static str {
        match self {
            Picture::Image(_) => "png",
            Picture::Animation { .. } => "gif",
        }
    }
}

/// A place pictures, scalars and configs are recorded. Calls come from the background writer
/// thread, one at a time, in the order they were made.
pub trait VisBackend: Send {
    /// A short name for messages (`LocalVisBackend`).
    fn name(&self) -> &str;

    /// Records picture `name` at `step`.
    fn add_image(&mut self, name: &str, picture: &Picture, step: u64) -> Result<()>;

    /// Records scalar `name` at `step`.
    fn add_scalar(&mut self, name: &str, value: f64, step: u64) -> Result<()> {
        let _ = (name, value, step);
        Ok(())
    }

    /// Records several scalars at `step`, and also to `file_path` (relative to the backend's
    /// folder) when given.
    fn add_scalars(
        &mut self,
        scalars: &BTreeMap<String, f64>,
        step: u64,
        file_path: Option<&str>,
    ) -> Result<()> {
        let _ = (scalars, step, file_path);
        Ok(())
    }

    /// Records the run's configuration.
    fn add_config(&mut self, config: &serde_json::Value) -> Result<()> {
        let _ = config;
        Ok(())
    }

    /// Makes everything recorded so far durable (called by `flush` and `close`).
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
}
