//! `LocalVisBackend`: pictures as files, exactly where MMagic's `VisBackend` puts them:
//! `{save_dir}/vis_image/{name}_{step}.png` (grids) and `.gif` (animations).

use std::path::{Path, PathBuf};

use vis_ops::fs::write_atomic;
use vis_ops::{GifPalette, PngSpeed, encode_gif, encode_png};

use super::{Picture, VisBackend};
use crate::error::{Error, Result};

/// Writes pictures to `{save_dir}/vis_image/`, each through a temporary file and a rename.
#[derive(Clone, Debug)]
pub struct LocalVisBackend {
    save_dir: PathBuf,
    png_speed: PngSpeed,
    gif_palette: GifPalette,
}

impl LocalVisBackend {
    /// A backend writing under `save_dir` (created when the first picture comes).
    pub fn new(save_dir: impl Into<PathBuf>) -> Self {
        Self {
            save_dir: save_dir.into(),
            png_speed: PngSpeed::default(),
            gif_palette: GifPalette::default(),
        }
    }

    /// The same, encoding PNGs at `speed`.
    pub fn with_png_speed(mut self, speed: PngSpeed) -> Self {
        self.png_speed = speed;
        self
    }

    /// The same, with GIF palettes chosen by `palette`.
    pub fn with_gif_palette(mut self, palette: GifPalette) -> Self {
        self.gif_palette = palette;
        self
    }

    /// The folder pictures go to.
    pub fn image_dir(&self) -> PathBuf {
        self.save_dir.join("vis_image")
    }

    /// The file picture `name` at `step` is written to.
    pub fn image_path(&self, name: &str, step: u64, picture: &Picture) -> PathBuf {
        self.image_dir()
            .join(format!("{name}_{step}.{}", picture.extension()))
    }
}

/// Creates `dir` (and its parents) if it is missing; the folder may be removed while a run goes
/// on, as MMagic's writer (`mmcv.imwrite(auto_mkdir=True)`) also allows.
fn ensure_dir(dir: &Path) -> Result<()> {
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
        Error::Io {
            action: "creating the folder",
            path: dir.to_path_buf(),
            source,
        }
    })
}

impl VisBackend for LocalVisBackend {
    fn name(&self) -> &str {
        "LocalVisBackend"
    }

    fn add_image(&mut self, name: &str, picture: &Picture, step: u64) -> Result<()> {
        ensure_dir(&self.image_dir())?;
        let path = self.image_path(name, step, picture);
        match picture {
            Picture::Image(image) => {
                write_atomic(&path, |w| encode_png(image, self.png_speed, w))?;
            }
            Picture::Animation { frames, delay_cs } => {
                write_atomic(&path, |w| {
                    encode_gif(frames, *delay_cs, self.gif_palette, w)
                })?;
            }
        }
        Ok(())
    }
}
