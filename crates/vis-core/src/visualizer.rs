//! The Visualizer (MMagic's `Visualizer.add_datasample`): draws data samples as a grid or an
//! animation with vis-ops on the caller's thread, then hands the picture to every backend
//! through the background writer.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use vis_ops::{
    AnimationFormat, ChannelOrder, FrameSpec, GridSpec, ImageBatch, PixelMap, Quantize, RenderSpec,
    Renderer, RgbImage,
};

use crate::backend::{GalleryVisBackend, LocalVisBackend, Picture, VisBackend};
use crate::config::{ColorOrder, Extra, PixelOptions, QuantizeMode, VisMode};
use crate::error::{Error, Result};
use crate::sample::DataSample;
use crate::tensor::LentTensor;
use crate::writer::{BufferPool, Reported, Writer};

/// How floats become the pixels of a picture: the map, the quantization, the channel order.
#[derive(Clone, Debug, PartialEq)]
pub struct PixelSpec {
    /// Floats to 0..255.
    pub map: PixelMap,
    /// 0..255 to bytes.
    pub quantize: Quantize,
    /// Channel order of the samples.
    pub order: ChannelOrder,
}

impl Default for PixelSpec {
    /// A Candle model's outputs: RGB in [-1, 1] (`x * 127.5 + 127.5`), truncated to bytes as
    /// MMagic and Candle's casts do.
    fn default() -> Self {
        Self {
            map: PixelMap::gan(),
            quantize: Quantize::Truncate,
            order: ChannelOrder::Rgb,
        }
    }
}

impl PixelSpec {
    /// These settings with the config's `options` over them: a given `color_order`,
    /// `quantize`, `target_mean` or `target_std` replaces its part (a mean or std makes the map
    /// the de-normalisation `x * std + mean`, the other taken from these, else 127.5).
    pub fn with(&self, options: &PixelOptions) -> PixelSpec {
        let mut spec = self.clone();
        if let Some(order) = options.color_order {
            spec.order = match order {
                ColorOrder::Rgb => ChannelOrder::Rgb,
                ColorOrder::Bgr => ChannelOrder::Bgr,
            };
        }
        if let Some(quantize) = options.quantize {
            spec.quantize = match quantize {
                QuantizeMode::Truncate => Quantize::Truncate,
                QuantizeMode::Round => Quantize::RoundHalfUp,
            };
        }
        if options.target_mean.is_some() || options.target_std.is_some() {
            let (mean, std) = match &self.map {
                PixelMap::Denorm { mean, std } => (mean.clone(), std.clone()),
                _ => (vec![127.5], vec![127.5]),
            };
            spec.map = PixelMap::Denorm {
                mean: options.target_mean.clone().unwrap_or(mean),
                std: options.target_std.clone().unwrap_or(std),
            };
        }
        spec
    }
}

/// How the Visualizer turns floats into pictures and how it writes them.
#[derive(Clone, Debug, PartialEq)]
pub struct VisualizerConfig {
    /// How floats become pixels, where a request does not say: by default a Candle model's
    /// RGB outputs in [-1, 1] (MMagic's conventions are `order: ChannelOrder::Bgr`, or
    /// `color_order = "bgr"` in the hook's config).
    pub pixels: PixelSpec,
    /// Border pixels around every image (torchvision's default 2).
    pub padding: usize,
    /// Byte of borders and empty cells.
    pub pad_byte: u8,
    /// Pictures the writer may hold before the caller waits (1 to 1024).
    pub queue_capacity: usize,
    /// Threads the writer's encoders use (1 to 1024; 1 leaves the other cores to training).
    pub writer_threads: usize,
}

/// The most pictures a writer may queue, and the most threads its encoders may use.
const MAX_QUEUE_OR_THREADS: usize = 1024;

impl VisualizerConfig {
    /// Checks what the types cannot: the pixel map, and a queue and thread count in 1..=1024
    /// (every queued picture is held in memory).
    pub fn validate(&self) -> Result<()> {
        self.pixels.map.validate()?;
        for (field, value) in [
            ("queue_capacity", self.queue_capacity),
            ("writer_threads", self.writer_threads),
        ] {
            if !(1..=MAX_QUEUE_OR_THREADS).contains(&value) {
                return Err(Error::Config {
                    file: None,
                    field: field.to_owned(),
                    message: format!("must be between 1 and {MAX_QUEUE_OR_THREADS}, got {value}"),
                });
            }
        }
        Ok(())
    }
}

impl Default for VisualizerConfig {
    fn default() -> Self {
        Self {
            pixels: PixelSpec::default(),
            padding: 2,
            pad_byte: 0,
            queue_capacity: 4,
            writer_threads: 1,
        }
    }
}

/// What to draw: MMagic's `add_datasample(name, gen_samples, target_keys, vis_mode, n_row,
/// step, **kwargs)`.
#[derive(Clone, Copy, Debug)]
pub struct DrawRequest<'a> {
    /// The picture's name (file name prefix).
    pub name: &'a str,
    /// The samples, drawn in order.
    pub samples: &'a [DataSample],
    /// Keys to draw, stacked in order; every image (`[C, H, W]`) key, or every sequence
    /// (`[T, C, H, W]`) key for `gif`, of the first sample when `None`.
    pub target_keys: Option<&'a [String]>,
    /// Grid or animation.
    pub vis_mode: VisMode,
    /// Images per row (`ceil(sqrt(N))` when `None`).
    pub n_row: Option<usize>,
    /// The step recorded with the picture.
    pub step: u64,
    /// Extra vis-kwargs: `n_skip` (default 1) and `fps` (default 60, as MMagic's backend) for
    /// animations.
    pub extra: &'a Extra,
    /// How floats become pixels here; the visualizer's own settings when `None`.
    pub pixels: Option<&'a PixelSpec>,
}

/// Frames per second of animations whose vis-kwargs give no `fps` (MMagic's backends' 60).
pub const DEFAULT_FPS: f64 = 60.0;

/// Draws data samples and sends the pictures to its backends.
pub struct Visualizer {
    config: VisualizerConfig,
    writer: Writer,
    pool: Arc<BufferPool>,
}

impl std::fmt::Debug for Visualizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Visualizer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Visualizer {
    /// A visualizer writing through `backends`.
    pub fn new(mut backends: Vec<Box<dyn VisBackend>>, config: VisualizerConfig) -> Result<Self> {
        config.validate()?;
        // What would fail every write (a folder another run holds) fails here, at once.
        for backend in &mut backends {
            backend.open()?;
        }
        // Queued pictures, one being written, one being drawn.
        let pool = Arc::new(BufferPool::new(config.queue_capacity.saturating_add(2)));
        let writer = Writer::spawn(
            backends,
            config.queue_capacity,
            config.writer_threads,
            Arc::clone(&pool),
        )?;
        Ok(Self {
            config,
            writer,
            pool,
        })
    }

    /// A visualizer writing under `{save_dir}/vis_data/` with the default settings, as
    /// mmengine's `Visualizer(save_dir=...)` does: pictures in `vis_data/vis_image/`, scalars in
    /// `vis_data/scalars.json`, the config in `vis_data/config.json`; and the gallery of every
    /// step, `vis_data/index.html` ([`GalleryVisBackend`]).
    pub fn local(save_dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = vis_data_dir(save_dir);
        Self::new(
            vec![
                Box::new(LocalVisBackend::new(&dir)),
                Box::new(GalleryVisBackend::new(dir)),
            ],
            VisualizerConfig::default(),
        )
    }

    /// How many pictures every backend has written so far (pictures still queued not counted;
    /// after [`flush`](Self::flush), every one queued).
    pub fn pictures_written(&self) -> u64 {
        self.writer.pictures_written()
    }

    /// Its settings.
    pub fn config(&self) -> &VisualizerConfig {
        &self.config
    }

    /// Draws `request` and queues the picture for every backend. Returns the failures of
    /// earlier writes, if any (this picture is queued all the same).
    pub fn add_datasample(&mut self, request: &DrawRequest<'_>) -> Result<()> {
        check_picture_name(request.name)?;
        let picture = self.draw(request)?;
        self.add_picture(request.name, picture, request.step)
    }

    /// Queues a drawn picture for every backend (waiting while the queue is full), and returns
    /// the failures of earlier writes, if any (this picture's own come back from a later call).
    pub fn add_picture(&mut self, name: &str, picture: Picture, step: u64) -> Result<()> {
        check_picture_name(name)?;
        self.writer.add_image(name, Arc::new(picture), step)
    }

    /// Queues a scalar for every backend; returns the failures of earlier writes.
    pub fn add_scalar(&mut self, name: &str, value: f64, step: u64) -> Result<()> {
        self.writer.add_scalar(name, value, step)
    }

    /// Queues scalars for every backend (and `file_path`, relative to each backend's folder);
    /// returns the failures of earlier writes.
    pub fn add_scalars(
        &mut self,
        scalars: BTreeMap<String, f64>,
        step: u64,
        file_path: Option<&str>,
    ) -> Result<()> {
        if let Some(file) = file_path {
            check_scalar_file(file)?;
        }
        self.writer
            .add_scalars(scalars, step, file_path.map(str::to_owned))
    }

    /// Queues the run's configuration for every backend; returns the failures of earlier
    /// writes.
    pub fn add_config(&mut self, config: serde_json::Value) -> Result<()> {
        self.writer.add_config(config)
    }

    /// Ends a call that gathered earlier failures in `reported`: see [`Reported::finish`].
    pub(crate) fn finish(&self, reported: Reported, result: Result<()>) -> Result<()> {
        reported.finish(result, &self.writer)
    }

    /// Waits until everything queued is written, and returns every failure since the last
    /// report.
    pub fn flush(&mut self) -> Result<()> {
        self.writer.flush()
    }

    /// Writes everything queued, stops the writer and returns every failure.
    pub fn close(mut self) -> Result<()> {
        self.writer.close()
    }

    /// Draws `request` (the grid pass) without queuing it.
    pub fn draw(&self, request: &DrawRequest<'_>) -> Result<Picture> {
        let name = request.name;
        let draw_err = |source| Error::Draw {
            name: name.to_owned(),
            source,
        };
        let first = request
            .samples
            .first()
            .ok_or_else(|| Error::Sample(format!("'{name}': there are no samples to draw")))?;
        let ndim = if request.vis_mode.animation().is_some() {
            4
        } else {
            3
        };
        let keys: Vec<String> = match request.target_keys {
            Some(keys) => keys.to_vec(),
            None => first
                .tensor_keys(ndim)
                .into_iter()
                .map(str::to_owned)
                .collect(),
        };
        if keys.is_empty() {
            return Err(Error::Sample(format!(
                "'{name}': no {} among the sample's keys ({}); name them in target_keys",
                if ndim == 3 {
                    "image [C, H, W]"
                } else {
                    "sequence [T, C, H, W]"
                },
                first.keys().collect::<Vec<_>>().join(", ")
            )));
        }
        // Every sample's tensor of every key, lent for the grid pass.
        let mut lent: Vec<(String, Vec<usize>, Vec<LentTensor<'_>>)> = Vec::new();
        for key in &keys {
            let tensors = request
                .samples
                .iter()
                .map(|s| s.vis_tensor(key))
                .collect::<Result<Vec<_>>>()?;
            let shape = tensors
                .first()
                .map(|t| t.shape().to_vec())
                .unwrap_or_default();
            if shape.len() != ndim {
                return Err(Error::Sample(format!(
                    "'{name}': key '{key}' holds tensors of shape {shape:?}; vis_mode = \"{}\" draws {}",
                    request.vis_mode.as_str(),
                    if ndim == 3 {
                        "images [C, H, W]"
                    } else {
                        "sequences [T, C, H, W]"
                    }
                )));
            }
            if let Some(bad) = tensors.iter().find(|t| t.shape() != shape.as_slice()) {
                return Err(Error::Sample(format!(
                    "'{name}': key '{key}' holds tensors of shapes {shape:?} and {:?}; every sample's must agree",
                    bad.shape()
                )));
            }
            let held = tensors
                .iter()
                .map(|t| t.lend())
                .collect::<Result<Vec<_>>>()?;
            lent.push((key.clone(), shape, held));
        }
        let batches = lent
            .iter()
            .map(|(key, shape, held)| {
                let images = held.iter().map(LentTensor::elements).collect();
                ImageBatch::from_images(key.clone(), images, shape)
            })
            .collect::<vis_ops::Result<Vec<_>>>()
            .map_err(draw_err)?;
        let pixels = request.pixels.unwrap_or(&self.config.pixels);
        let spec = RenderSpec {
            map: pixels.map.clone(),
            quantize: pixels.quantize,
            order: pixels.order,
            grid: GridSpec {
                nrow: request.n_row,
                padding: self.config.padding,
                pad_byte: self.config.pad_byte,
                pad_to_nrow: true,
            },
        };
        let renderer = Renderer::default();
        let mut buffer = self.pool.take();
        match request.vis_mode.animation() {
            None => {
                let layout = renderer
                    .grid_into(&batches, &spec, &mut buffer)
                    .map_err(draw_err)?;
                Ok(Picture::Image(
                    RgbImage::from_raw(layout.width, layout.height, buffer).map_err(draw_err)?,
                ))
            }
            Some(format) => {
                let frames = FrameSpec {
                    n_skip: extra_usize(request.extra, "n_skip").unwrap_or(1),
                    fps: request
                        .extra
                        .get("fps")
                        .and_then(serde_json::Value::as_f64)
                        .unwrap_or(DEFAULT_FPS),
                };
                frames.check_fits(format).map_err(draw_err)?;
                let drawn = renderer
                    .frames(&batches, &spec, &frames)
                    .map_err(draw_err)?;
                Ok(match format {
                    AnimationFormat::Apng => Picture::Apng {
                        frames: drawn,
                        delay: frames.apng_delay(),
                    },
                    AnimationFormat::Gif => Picture::Gif {
                        frames: drawn,
                        delay_cs: frames.gif_delay_cs(),
                    },
                })
            }
        }
    }
}

/// `{save_dir}/vis_data`: where mmengine's `Visualizer(save_dir=...)` puts its backends' files
/// (a backend given a folder itself writes there directly, as mmengine's do).
pub fn vis_data_dir(save_dir: impl Into<PathBuf>) -> PathBuf {
    save_dir.into().join("vis_data")
}

/// Checks that picture `name` makes a file name inside the save folder (`{name}_{step}.png`).
pub(crate) fn check_picture_name(name: &str) -> Result<()> {
    Ok(vis_ops::fs::check_file_name("the picture name", name)?)
}

/// Checks `add_scalars`' `file_path`: a plain `.json` file name other than `scalars.json`, in the
/// save folder (mmengine joins it to its folder).
pub(crate) fn check_scalar_file(file: &str) -> Result<()> {
    vis_ops::fs::check_file_name("add_scalars' file_path", file)?;
    if !file.ends_with(".json") || file == "scalars.json" {
        return Err(Error::Config {
            file: None,
            field: "file_path".into(),
            message: format!(
                "{} must be a .json file other than scalars.json (as in mmengine)",
                vis_ops::fs::quote(file)
            ),
        });
    }
    Ok(())
}

/// An extra vis-kwarg as a count.
fn extra_usize(extra: &Extra, key: &str) -> Option<usize> {
    extra
        .get(key)
        .and_then(serde_json::Value::as_u64)
        .and_then(|v| usize::try_from(v).ok())
}
