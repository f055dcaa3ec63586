//! `LocalVisBackend`: pictures as files, exactly where MMagic's `VisBackend` puts them:
//! `{save_dir}/vis_image/{name}_{step}.png` (grids) and `.gif` (animations); scalars as JSON
//! lines in `{save_dir}/scalars.json` (mmengine's `LocalVisBackend`), and the config as
//! `{save_dir}/config.json`.
//!
//! The run's main process (rank 0) holds the folder's run lock (see `run_lock`) and writes
//! everything; other ranks write only pictures (their own share of validation and test
//! results), never the scalars or the config, and take no lock.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use vis_ops::fs::{write_atomic, write_bytes_atomic};
use vis_ops::{GifPalette, PngSpeed};

use super::run_lock::RunLock;
use super::{Picture, VisBackend, append_line, ensure_dir};
use crate::error::Result;
use crate::rank::is_main_process;
use crate::visualizer::{check_picture_name, check_scalar_file};

/// Writes pictures to `{save_dir}/vis_image/`, each through a temporary file and a rename.
#[derive(Clone, Debug)]
pub struct LocalVisBackend {
    save_dir: PathBuf,
    png_speed: PngSpeed,
    gif_palette: GifPalette,
    /// Known once opened: the folder's run lock on the main process, none on other ranks.
    run: Option<Option<Arc<RunLock>>>,
}

impl LocalVisBackend {
    /// A backend writing under `save_dir` (created when the first picture comes).
    pub fn new(save_dir: impl Into<PathBuf>) -> Self {
        Self {
            save_dir: save_dir.into(),
            png_speed: PngSpeed::default(),
            gif_palette: GifPalette::default(),
            run: None,
        }
    }

    /// The run lock this process holds on the folder when it is the main process (opening the
    /// backend when it was not yet).
    fn run_lock(&mut self) -> Result<Option<Arc<RunLock>>> {
        VisBackend::open(self)?;
        Ok(self.run.clone().flatten())
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

    /// The JSON-lines file scalars are appended to (mmengine's `scalar_save_file`).
    pub fn scalars_path(&self) -> PathBuf {
        self.save_dir.join("scalars.json")
    }

    /// The file the config is written to.
    pub fn config_path(&self) -> PathBuf {
        self.save_dir.join("config.json")
    }

    /// The file picture `name` at `step` is written to.
    pub fn image_path(&self, name: &str, step: u64, picture: &Picture) -> PathBuf {
        self.image_dir()
            .join(format!("{name}_{step}.{}", picture.extension()))
    }
}

impl VisBackend for LocalVisBackend {
    fn name(&self) -> &str {
        "LocalVisBackend"
    }

    fn open(&mut self) -> Result<()> {
        if self.run.is_none() {
            self.run = Some(if is_main_process()? {
                Some(RunLock::acquire(&self.save_dir)?)
            } else {
                None
            });
        }
        Ok(())
    }

    fn add_image(&mut self, name: &str, picture: &Picture, step: u64) -> Result<()> {
        check_picture_name(name)?;
        VisBackend::open(self)?;
        ensure_dir(&self.image_dir())?;
        let path = self.image_path(name, step, picture);
        write_atomic(&path, |w| {
            picture.encode(self.png_speed, self.gif_palette, w)
        })?;
        Ok(())
    }

    fn add_scalar(&mut self, name: &str, value: f64, step: u64) -> Result<()> {
        self.add_scalars(&BTreeMap::from([(name.to_owned(), value)]), step, None)
    }

    fn add_scalars(
        &mut self,
        scalars: &BTreeMap<String, f64>,
        step: u64,
        file_path: Option<&str>,
    ) -> Result<()> {
        if let Some(file) = file_path {
            check_scalar_file(file)?;
        }
        // Other ranks log nothing (mmengine's `master_only`).
        let Some(run) = self.run_lock()? else {
            return Ok(());
        };
        ensure_dir(&self.save_dir)?;
        let line = scalar_line(scalars, step);
        for path in file_path
            .map(|file| self.save_dir.join(file))
            .into_iter()
            .chain([self.scalars_path()])
        {
            run.start_log(&path)?;
            append_line(&path, &line)?;
        }
        Ok(())
    }

    fn add_config(&mut self, config: &serde_json::Value) -> Result<()> {
        if self.run_lock()?.is_none() {
            return Ok(());
        }
        ensure_dir(&self.save_dir)?;
        let mut text = serde_json::to_string_pretty(config).unwrap_or_else(|_| config.to_string());
        text.push('\n');
        Ok(write_bytes_atomic(&self.config_path(), text.as_bytes())?)
    }
}

/// A float as Python's `json.dump` writes it: `NaN`, `Infinity` and `-Infinity` included, so
/// mmengine's readers load the lines as they load their own.
fn json_number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        serde_json::Value::from(value).to_string()
    }
}

/// `{"name": value, ..., "step": step}` as one line, keys in order, `step` last unless the
/// scalars carry their own (mmengine's `setdefault('step', step)`).
fn scalar_line(scalars: &BTreeMap<String, f64>, step: u64) -> String {
    let mut fields: Vec<String> = scalars
        .iter()
        .map(|(k, v)| {
            let key = serde_json::Value::from(k.as_str()).to_string();
            if k == "step" && v.fract() == 0.0 && v.is_finite() {
                format!("{key}: {}", *v as i64)
            } else {
                format!("{key}: {}", json_number(*v))
            }
        })
        .collect();
    if !scalars.contains_key("step") {
        fields.push(format!("\"step\": {step}"));
    }
    format!("{{{}}}\n", fields.join(", "))
}
