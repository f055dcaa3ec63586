//! Storage backends: where pictures (and scalars and the config) go. They run on the
//! visualizer's background writer thread, never on the training thread.

mod gallery;
mod local;
mod run_lock;
pub mod tensorboard;

use std::collections::BTreeMap;

pub use gallery::{GALLERY_DATA, GALLERY_PAGE, GalleryVisBackend};
pub use local::LocalVisBackend;
pub use run_lock::LOCK_FILE;
pub use tensorboard::TensorboardVisBackend;
use vis_ops::{FrameDelay, GifPalette, PngSpeed, RgbFrames, RgbImage};

use crate::error::Result;

/// A drawn picture: one grid, or the frames of an animation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Picture {
    /// A grid (MMagic's `image` mode).
    Image(RgbImage),
    /// An animated GIF (MMagic's `gif` mode): frames shown `delay_cs` centiseconds each.
    Gif {
        /// The frames, already chosen by `n_skip`.
        frames: RgbFrames,
        /// Frame delay in centiseconds (at least 2).
        delay_cs: u16,
    },
    /// An animated PNG (`apng` mode): every frame lossless, shown `delay` each.
    Apng {
        /// The frames, already chosen by `n_skip`.
        frames: RgbFrames,
        /// Frame delay as a fraction of a second.
        delay: FrameDelay,
    },
}

impl Picture {
    /// Width and height in pixels.
    pub fn size(&self) -> (usize, usize) {
        match self {
            Picture::Image(i) => (i.width(), i.height()),
            Picture::Gif { frames, .. } | Picture::Apng { frames, .. } => {
                (frames.width(), frames.height())
            }
        }
    }

    /// The picture's bytes, taken out (to be drawn into again).
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Picture::Image(i) => i.into_bytes(),
            Picture::Gif { frames, .. } | Picture::Apng { frames, .. } => frames.into_bytes(),
        }
    }

    /// The file extension it is saved with (`png`, for APNG too, or `gif`).
    pub fn extension(&self) -> &'static str {
        match self {
            Picture::Image(_) | Picture::Apng { .. } => "png",
            Picture::Gif { .. } => "gif",
        }
    }

    /// Encodes it into `out`: PNG or APNG at `png_speed`, GIF with `gif_palette`.
    pub fn encode(
        &self,
        png_speed: PngSpeed,
        gif_palette: GifPalette,
        out: impl std::io::Write,
    ) -> vis_ops::Result<()> {
        match self {
            Picture::Image(image) => vis_ops::encode_png(image, png_speed, out),
            Picture::Gif { frames, delay_cs } => {
                vis_ops::encode_gif(frames, *delay_cs, gif_palette, out)
            }
            Picture::Apng { frames, delay } => vis_ops::encode_apng(frames, *delay, png_speed, out),
        }
    }
}

/// A place pictures, scalars and configs are recorded. Calls come from the background writer
/// thread, one at a time, in the order they were made.
pub trait VisBackend: Send {
    /// A short name for messages (`LocalVisBackend`).
    fn name(&self) -> &str;

    /// Gets ready to write (takes the folder's run lock, say); the visualizer calls it when it
    /// is made, so that what would fail every write fails at once. Every other method calls it
    /// too when it has not run yet.
    fn open(&mut self) -> Result<()> {
        Ok(())
    }

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

/// This machine's name, safe in a file name.
pub(crate) fn host_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default();
    let name: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "localhost".to_owned()
    } else {
        name
    }
}

/// Creates `dir` (and its parents) if it is missing; the folder may be removed while a run goes
/// on, as MMagic's writer (`mmcv.imwrite(auto_mkdir=True)`) also allows.
pub(crate) fn ensure_dir(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| {
        // "File exists" alone would puzzle: say which file is in the way.
        let blocker = dir.ancestors().find(|p| p.exists()).filter(|p| !p.is_dir());
        let source = match blocker {
            Some(file) => std::io::Error::new(
                source.kind(),
                format!(
                    "{} is a file, not a folder; move it away or choose another save_dir",
                    file.display()
                ),
            ),
            None => source,
        };
        crate::error::Error::Io {
            action: "creating the folder",
            path: dir.to_path_buf(),
            source,
        }
    })
}

/// Appends `line` to `path` in one write (open, one `write`, close: constant time, nothing
/// read); a failed write is cut back off, so the file holds whole lines only.
pub(crate) fn append_line(path: &std::path::Path, line: &str) -> Result<()> {
    let io = |action: &'static str| {
        let path = path.to_path_buf();
        move |source| crate::error::Error::Io {
            action,
            path,
            source,
        }
    };
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io("opening"))?;
    let before = file.metadata().map_err(io("reading the size of"))?.len();
    if let Err(source) = file.write_all(line.as_bytes()) {
        let _ = file.set_len(before);
        return Err(io("appending to")(source));
    }
    Ok(())
}
