//! `ConcatImageVisualizer`: one picture per data sample, its keys side by side and a sequence's
//! frames top to bottom, as MMagic's for restoration and translation results.

use std::collections::HashMap;

use vis_ops::{ChannelOrder, GridSpec, ImageBatch, PixelMap, Quantize, RenderSpec, RgbImage};

use crate::backend::{Picture, VisBackend};
use crate::config::ConcatConfig;
use crate::error::{Error, Result};
use crate::sample::{DataSample, Value};
use crate::visualizer::{Visualizer, VisualizerConfig};
use crate::writer::Reported;

/// The byte shorter images are padded with at the bottom.
const PAD_GRAY: u8 = 127;

/// Draws each data sample's keys side by side and hands the picture to its backends, named by
/// the basename of the `fn_key` value.
pub struct ConcatImageVisualizer {
    config: ConcatConfig,
    visualizer: Visualizer,
    /// The step of the pictures named last, and each name given then with the `fn_key` value it
    /// came from: two samples of one step never share a file.
    names: (u64, HashMap<String, String>),
}

impl std::fmt::Debug for ConcatImageVisualizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConcatImageVisualizer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// MMagic's file name: the part of `path` after the last space, `/` or `\`, up to its first dot.
pub fn basename_stem(path: &str) -> &str {
    let base = path.rsplit([' ', '/', '\\']).next().unwrap_or(path);
    base.split('.').next().unwrap_or(base)
}

impl ConcatImageVisualizer {
    /// A visualizer writing through `backends`. Every rank draws its own share of the results
    /// (MMagic's is not `master_only`; file names come from each sample's `fn_key`, so ranks do
    /// not collide).
    pub fn new(config: ConcatConfig, backends: Vec<Box<dyn VisBackend>>) -> Result<Self> {
        crate::config::Validate::validate(&config)?;
        Ok(Self {
            config,
            visualizer: Visualizer::new(backends, VisualizerConfig::default())?,
            names: (0, HashMap::new()),
        })
    }

    /// Draws `sample` and queues it for every backend at `step`.
    pub fn add_datasample(&mut self, sample: &DataSample, step: u64) -> Result<()> {
        let (path, picture) = self.draw_with_path(sample)?;
        let name = self.unique_name(&path, step);
        self.visualizer
            .add_picture(&name, Picture::Image(picture), step)
    }

    /// The file name of the sample whose `fn_key` holds `path` at `step`: its basename, or when
    /// another sample of this step took that already, the basename with `.2`, `.3`, ... added
    /// (a basename never holds a dot, so these cannot clash with another sample's), with a
    /// warning. MMagic would write both to one file, and the first would be lost.
    fn unique_name(&mut self, path: &str, step: u64) -> String {
        let (at, names) = &mut self.names;
        if *at != step {
            *at = step;
            names.clear();
        }
        let stem = basename_stem(path);
        let mut name = stem.to_owned();
        let mut k = 1;
        while let Some(owner) = names.get(&name) {
            if owner == path {
                return name;
            }
            k += 1;
            name = format!("{stem}.{k}");
        }
        if k > 1 {
            log::warn!(
                "ConcatImageVisualizer: {} and an earlier sample of step {step} have the basename {}; this one is written as {}",
                vis_ops::fs::quote(path),
                vis_ops::fs::quote(stem),
                vis_ops::fs::quote(&name)
            );
        }
        names.insert(name.clone(), path.to_owned());
        name
    }

    /// The picture of `sample` and its file name (the basename of its `fn_key` value), without
    /// queuing it.
    pub fn draw(&self, sample: &DataSample) -> Result<(String, RgbImage)> {
        let (path, picture) = self.draw_with_path(sample)?;
        Ok((basename_stem(&path).to_owned(), picture))
    }

    /// The picture of `sample` and its `fn_key` value, whose basename is checked to make a file
    /// name.
    fn draw_with_path(&self, sample: &DataSample) -> Result<(String, RgbImage)> {
        // The sample's keys, with those of its `output` (a nested sample) over them.
        let mut merged: Vec<(&str, &Value)> = sample.iter().collect();
        if let Some(Value::Sample(output)) = sample.get("output") {
            for (k, v) in output.iter() {
                match merged.iter_mut().find(|(mk, _)| *mk == k) {
                    Some(slot) => slot.1 = v,
                    None => merged.push((k, v)),
                }
            }
        }
        let lookup = |key: &str| merged.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let fn_key = &self.config.fn_key;
        let path = match lookup(fn_key) {
            Some(Value::Text(t)) => t.as_str(),
            Some(Value::Texts(ts)) => ts.first().map(String::as_str).unwrap_or_default(),
            Some(other) => {
                return Err(Error::Sample(format!(
                    "fn_key '{fn_key}' holds {}, not a file name",
                    other.kind()
                )));
            }
            None => {
                return Err(Error::Sample(format!(
                    "fn_key '{fn_key}' is not in the sample (it holds: {})",
                    merged
                        .iter()
                        .map(|(k, _)| *k)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        };
        vis_ops::fs::check_file_name(
            &format!(
                "fn_key {} holds {}, whose basename",
                vis_ops::fs::quote(fn_key),
                vis_ops::fs::quote(path)
            ),
            basename_stem(path),
        )?;
        let path = path.to_owned();
        let mut columns = Vec::new();
        for key in &self.config.img_keys {
            // MMagic warns and leaves the key out, so a typo in img_keys silently draws a
            // narrower picture; vis says so.
            let Some(value) = lookup(key) else {
                return Err(Error::Sample(format!(
                    "img_keys names '{key}', which is not in the sample or its output (it holds: {})",
                    merged
                        .iter()
                        .map(|(k, _)| *k)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            let Value::Tensor(tensor) = value else {
                return Err(Error::Sample(format!(
                    "key '{key}' holds {}, not an image",
                    value.kind()
                )));
            };
            columns.push(self.column(key, tensor)?);
        }
        Ok((path, concat_columns(&columns)?))
    }

    /// One key's image (a sequence's frames top to bottom) as numpy would round it.
    fn column(&self, key: &str, tensor: &crate::tensor::Tensor) -> Result<RgbImage> {
        // [T, C, H, W] stays; [C, H, W] is one frame; [H, W] is one gray frame.
        let shape = match *tensor.shape() {
            [t, c, h, w] => vec![t, c, h, w],
            [c, h, w] => vec![1, c, h, w],
            [h, w] => vec![1, 1, h, w],
            _ => {
                return Err(Error::Sample(format!(
                    "key '{key}' has shape {:?}; draw images [C, H, W], [H, W] or sequences [T, C, H, W]",
                    tensor.shape()
                )));
            }
        };
        let lent = tensor.lend()?;
        let elements = lent.elements();
        // Bytes are taken as they are; floats are mapped by pixel_range when given.
        let map = match (self.config.pixel_range.get(key), elements) {
            (_, vis_ops::Elements::U8(_)) | (None, _) => PixelMap::Identity,
            (Some([lo, hi]), _) => PixelMap::Range {
                lo: Some(*lo),
                hi: Some(*hi),
                scale_each: false,
            },
        };
        let spec = RenderSpec {
            map,
            quantize: Quantize::RoundHalfEven,
            order: if self.config.bgr2rgb {
                ChannelOrder::Bgr
            } else {
                ChannelOrder::Rgb
            },
            grid: GridSpec {
                nrow: Some(1),
                padding: 0,
                pad_byte: 0,
                pad_to_nrow: false,
            },
        };
        let batch = ImageBatch::new(key, elements, &shape).map_err(|source| Error::Draw {
            name: key.to_owned(),
            source,
        })?;
        vis_ops::render_grid(&[batch], &spec).map_err(|source| Error::Draw {
            name: key.to_owned(),
            source,
        })
    }

    /// Ends a call that gathered earlier failures in `reported` (see `Reported::finish`).
    pub(crate) fn finish(&self, reported: Reported, result: Result<()>) -> Result<()> {
        self.visualizer.finish(reported, result)
    }

    /// Waits until every picture is written; returns every failure since the last report.
    pub fn flush(&mut self) -> Result<()> {
        self.visualizer.flush()
    }

    /// Writes everything and stops the writer; returns every failure.
    pub fn close(self) -> Result<()> {
        self.visualizer.close()
    }
}

/// Columns side by side, shorter ones padded at the bottom with gray 127.
fn concat_columns(columns: &[RgbImage]) -> Result<RgbImage> {
    let height = columns.iter().map(RgbImage::height).max().unwrap_or(0);
    let width = columns
        .iter()
        .try_fold(0usize, |sum, c| sum.checked_add(c.width()));
    let Some(width) = width else {
        return Err(vis_ops::Error::TooLarge {
            width: usize::MAX,
            height,
            limit: "its width overflows",
        }
        .into());
    };
    let bytes = vis_ops::picture_bytes(width, height, 1)?;
    let mut data = Vec::with_capacity(bytes);
    for y in 0..height {
        for c in columns {
            let row = c.width() * 3;
            match c.as_bytes().get(y * row..(y + 1) * row) {
                Some(px) if y < c.height() => data.extend_from_slice(px),
                _ => data.extend(std::iter::repeat_n(PAD_GRAY, row)),
            }
        }
    }
    Ok(RgbImage::from_raw(width, height, data)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_basenames_up_to_the_first_dot() {
        assert_eq!(basename_stem("fake_dir/rgb.png"), "rgb");
        assert_eq!(basename_stem("rgb.png"), "rgb");
        assert_eq!(basename_stem(r"c:\data\img_001.tar.gz"), "img_001");
        assert_eq!(basename_stem("a b/c d.png"), "d");
        assert_eq!(basename_stem("plain"), "plain");
    }
}
