//! The four workloads of the Python peer (`../shared/peers/README.md`) and how each is timed.

use std::path::Path;

use rayon::prelude::*;
use vis_ops::fs::write_atomic;
use vis_ops::{
    AnimationFormat, ChannelOrder, FrameSpec, GifPalette, GridSpec, ImageBatch, PixelMap, PngSpeed,
    Quantize, RenderSpec, Renderer, TensorFile, encode_apng, encode_gif, encode_png,
};

use crate::content::smooth;
use crate::{Options, Row, median_ms};

/// One workload: named keys of f32 data, drawn MMagic's way (x * 127.5 + 127.5, truncate, BGR).
pub(crate) struct Workload {
    name: &'static str,
    keys: Vec<(String, Vec<usize>, Vec<f32>)>,
    nrow: usize,
}

/// (name, keys, shape, nrow) as in `bench_peer.py`.
const WORKLOADS: [(&str, &[&str], &[usize], usize); 4] = [
    ("dcgan_64x3x64x64", &["fake_img"], &[64, 3, 64, 64], 8),
    (
        "pix2pix_2x16x3x256x256",
        &["fake_b", "gt_b"],
        &[16, 3, 256, 256],
        4,
    ),
    ("large_4x3x512x512", &["img"], &[4, 3, 512, 512], 2),
    ("ddpm_16x10x3x64x64", &["samples"], &[16, 10, 3, 64, 64], 4),
];

impl Workload {
    /// Every workload, read from `inputs/<name>.safetensors` (the peer's `--dump-inputs`) or
    /// generated with the same kind of smooth content.
    pub(crate) fn all(inputs: Option<&Path>) -> Result<Vec<Self>, String> {
        let mut seed = 0;
        WORKLOADS
            .iter()
            .map(|&(name, names, shape, nrow)| {
                let keys = names
                    .iter()
                    .map(|key| {
                        seed += 1;
                        match inputs {
                            Some(dir) => read_key(&dir.join(format!("{name}.safetensors")), key),
                            None => {
                                let (h, w) = (shape[shape.len() - 2], shape[shape.len() - 1]);
                                let planes = shape.iter().product::<usize>() / (h * w);
                                Ok((key.to_string(), shape.to_vec(), smooth(seed, planes, h, w)))
                            }
                        }
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                Ok(Workload { name, keys, nrow })
            })
            .collect()
    }

    /// The workload's name.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// The first key: its name, shape and data.
    pub(crate) fn first_key(&self) -> Option<(&str, &[usize], &[f32])> {
        self.keys
            .first()
            .map(|(n, s, d)| (n.as_str(), s.as_slice(), d.as_slice()))
    }

    /// Images per row.
    pub(crate) fn nrow(&self) -> usize {
        self.nrow
    }

    /// Its grid, drawn as the `grid` stage draws it (a sequence's first frame).
    pub(crate) fn picture(&self) -> Result<vis_ops::RgbImage, String> {
        let err = |e: vis_ops::Error| e.to_string();
        if !self.is_sequence() {
            let batches = self.batches()?;
            return Renderer::default()
                .grid(&batches, &self.spec())
                .map_err(err);
        }
        let frames = self.frames()?;
        let first = frames.frame(0).ok_or("no frame")?;
        vis_ops::RgbImage::from_raw(first.width(), first.height(), first.as_bytes().to_vec())
            .map_err(err)
    }

    /// A sequence's frames, every timestep (empty for images).
    pub(crate) fn frames(&self) -> Result<vis_ops::RgbFrames, String> {
        if !self.is_sequence() {
            return vis_ops::RgbFrames::from_raw(0, 0, 0, Vec::new()).map_err(|e| e.to_string());
        }
        Renderer::default()
            .frames(&self.batches()?, &self.spec(), &FrameSpec::default())
            .map_err(|e| e.to_string())
    }

    fn is_sequence(&self) -> bool {
        self.keys.first().is_some_and(|(_, s, _)| s.len() == 5)
    }

    fn input_bytes(&self) -> u64 {
        self.keys.iter().map(|(_, _, d)| d.len() as u64 * 4).sum()
    }

    fn spec(&self) -> RenderSpec {
        RenderSpec {
            map: PixelMap::gan(),
            quantize: Quantize::Truncate,
            order: ChannelOrder::Bgr,
            grid: GridSpec {
                nrow: Some(self.nrow),
                ..GridSpec::default()
            },
        }
    }

    fn batches(&self) -> Result<Vec<ImageBatch<'_>>, String> {
        self.keys
            .iter()
            .map(|(name, shape, data)| {
                ImageBatch::new(name.clone(), data.as_slice(), shape).map_err(|e| e.to_string())
            })
            .collect()
    }

    /// Times every stage with `threads` threads (the caller installs the pool).
    pub(crate) fn measure(
        &self,
        threads: usize,
        dir: &Path,
        opts: &Options,
    ) -> Result<Vec<Row>, String> {
        let time = |f: &mut dyn FnMut()| median_ms(opts.min_reps, opts.budget_ms, f);
        let row = |stage: &str, median_ms: f64, bytes: u64, mae: Option<f64>| Row {
            workload: self.name.to_owned(),
            stage: stage.to_owned(),
            threads,
            median_ms,
            bytes,
            mae,
            pixels: None,
        };
        let batches = self.batches()?;
        let spec = self.spec();
        let renderer = Renderer::default();
        let err = |e: vis_ops::Error| e.to_string();
        let mut rows = Vec::new();

        // The ceiling: copy the input bytes into a buffer of the same size.
        let mut copies: Vec<Vec<f32>> = self.keys.iter().map(|(_, _, d)| d.clone()).collect();
        let memcpy_ms = time(&mut || {
            for ((_, _, src), dst) in self.keys.iter().zip(copies.iter_mut()) {
                if threads == 1 {
                    dst.copy_from_slice(src);
                } else {
                    dst.par_chunks_mut(1 << 16)
                        .zip(src.par_chunks(1 << 16))
                        .for_each(|(d, s)| d.copy_from_slice(s));
                }
            }
        });
        rows.push(row("memcpy", memcpy_ms, self.input_bytes(), None));

        if !self.is_sequence() {
            let mut buf = Vec::new();
            let mut result = Ok(());
            let grid_ms = time(&mut || {
                result = renderer.grid_into(&batches, &spec, &mut buf).map(drop);
            });
            result.map_err(err)?;
            rows.push(row("grid", grid_ms, self.input_bytes(), None));

            let path = dir.join(format!("{}_{threads}.png", self.name));
            let mut result = Ok(());
            let total_ms = time(&mut || {
                result = renderer.grid(&batches, &spec).and_then(|grid| {
                    write_atomic(&path, |w| encode_png(&grid, PngSpeed::default(), w))
                });
            });
            result.map_err(err)?;
            let bytes = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
            rows.push(row("grid+png", total_ms, bytes, None));
        } else {
            let frames_spec = FrameSpec {
                n_skip: 1,
                fps: 60.0,
            };
            let mut buf = Vec::new();
            let mut result = Ok(());
            let grid_ms = time(&mut || {
                result = renderer
                    .frames_into(&batches, &spec, &frames_spec, &mut buf)
                    .map(drop);
            });
            result.map_err(err)?;
            let exact = renderer
                .frames(&batches, &spec, &frames_spec)
                .map_err(err)?;
            rows.push(row("grid", grid_ms, self.input_bytes(), None));

            // The same frames as a GIF and as an APNG, each drawn, encoded and written.
            for (stage, format) in [
                ("grid+gif", AnimationFormat::Gif),
                ("grid+apng", AnimationFormat::Apng),
            ] {
                let extension = match format {
                    AnimationFormat::Gif => "gif",
                    AnimationFormat::Apng => "png",
                };
                let path = dir.join(format!("{}_{threads}.{extension}", self.name));
                let mut result = Ok(());
                let total_ms = time(&mut || {
                    result = renderer
                        .frames(&batches, &spec, &frames_spec)
                        .and_then(|frames| {
                            write_atomic(&path, |w| match format {
                                AnimationFormat::Gif => encode_gif(
                                    &frames,
                                    frames_spec.gif_delay_cs(),
                                    GifPalette::default(),
                                    w,
                                ),
                                AnimationFormat::Apng => encode_apng(
                                    &frames,
                                    frames_spec.apng_delay(),
                                    PngSpeed::default(),
                                    w,
                                ),
                            })
                        });
                });
                result.map_err(err)?;
                let bytes = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
                let mae = match format {
                    AnimationFormat::Gif => gif_mae(&path, &exact)?,
                    AnimationFormat::Apng => apng_mae(&path, &exact)?,
                };
                rows.push(row(stage, total_ms, bytes, Some(mae)));
            }
        }
        Ok(rows)
    }
}

/// Reads tensor `key` of a peer dump as f32.
fn read_key(path: &Path, key: &str) -> Result<(String, Vec<usize>, Vec<f32>), String> {
    let mut file = TensorFile::open(path).map_err(|e| e.to_string())?;
    let entry = file.get(key).map_err(|e| e.to_string())?.clone();
    let tensor = file.read(&entry).map_err(|e| e.to_string())?;
    let vis_ops::Elements::F32(data) = tensor.elements() else {
        return Err(format!("{}: '{key}' is not f32", path.display()));
    };
    Ok((key.to_owned(), tensor.shape().to_vec(), data.to_vec()))
}

/// Mean absolute error per channel of the decoded APNG at `path` against `exact` frames (0
/// unless something is broken).
fn apng_mae(path: &Path, exact: &vis_ops::RgbFrames) -> Result<f64, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .map_err(|e| e.to_string())?;
    let count = reader
        .info()
        .animation_control()
        .map_or(0, |a| a.num_frames as usize);
    if count != exact.len() {
        return Err(format!(
            "the APNG has {count} frames, {} were drawn",
            exact.len()
        ));
    }
    let (mut sum, mut n) = (0u64, 0u64);
    for want in exact.iter() {
        let mut buf = vec![0; reader.output_buffer_size().ok_or("no frame size")?];
        let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
        for (g, w) in buf[..info.buffer_size()].iter().zip(want.as_bytes()) {
            sum += u64::from(g.abs_diff(*w));
            n += 1;
        }
    }
    Ok(sum as f64 / n.max(1) as f64)
}

/// Mean absolute error per channel of the decoded GIF at `path` against `exact` frames.
pub(crate) fn gif_mae(path: &Path, exact: &vis_ops::RgbFrames) -> Result<f64, String> {
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::RGBA);
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut dec = opts.read_info(file).map_err(|e| e.to_string())?;
    let (mut sum, mut count, mut frames) = (0u64, 0u64, 0usize);
    while let Some(frame) = dec.read_next_frame().map_err(|e| e.to_string())? {
        let want = exact
            .frame(frames)
            .ok_or("the GIF has more frames than were drawn")?;
        for (got, want) in frame
            .buffer
            .chunks_exact(4)
            .zip(want.as_bytes().chunks_exact(3))
        {
            for (g, w) in got.iter().zip(want) {
                sum += u64::from(g.abs_diff(*w));
                count += 1;
            }
        }
        frames += 1;
    }
    if frames != exact.len() {
        return Err(format!(
            "the GIF has {frames} frames, {} were drawn",
            exact.len()
        ));
    }
    Ok(sum as f64 / count.max(1) as f64)
}
