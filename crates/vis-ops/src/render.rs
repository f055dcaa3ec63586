//! The fused grid pass: every canvas byte is computed once, straight from the input floats (or
//! the pad byte) into its place, row by row, optionally over rayon's threads.

use rayon::prelude::*;

use crate::batch::{BatchDims, Elements, ImageBatch};
use crate::error::{Error, Result};
use crate::image::{RgbFrames, RgbImage, prepare_canvas};
use crate::kernel::{Kernel, PARALLEL_MIN_PIXELS, RowCode};
use crate::layout::{GridLayout, RowKind, picture_bytes};
use crate::pixel::{PixelOp, finite_range, needs_data_range, pixel_op};
use crate::spec::{FrameSpec, PixelMap, RenderSpec};

/// Draws grids with a chosen [`Kernel`]. `Renderer::default()` picks the fastest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Renderer {
    /// The implementation to use.
    pub kernel: Kernel,
}

/// Draws rank-4 tensors (`[N, C, H, W]`, stacked in order) as one grid.
pub fn render_grid(keys: &[ImageBatch<'_>], spec: &RenderSpec) -> Result<RgbImage> {
    Renderer::default().grid(keys, spec)
}

/// Draws rank-5 tensors (`[N, T, C, H, W]`) as one grid per selected timestep.
pub fn render_frames(
    keys: &[ImageBatch<'_>],
    spec: &RenderSpec,
    frames: &FrameSpec,
) -> Result<RgbFrames> {
    Renderer::default().frames(keys, spec, frames)
}

impl Renderer {
    /// A renderer using `kernel`.
    pub fn new(kernel: Kernel) -> Self {
        Self { kernel }
    }

    /// Draws rank-4 tensors as one grid.
    pub fn grid(&self, keys: &[ImageBatch<'_>], spec: &RenderSpec) -> Result<RgbImage> {
        let mut buf = Vec::new();
        let layout = self.grid_into(keys, spec, &mut buf)?;
        RgbImage::from_raw(layout.width, layout.height, buf)
    }

    /// Draws rank-4 tensors as one grid into `buf` (resized to fit, reusing its memory), and
    /// returns the layout (the picture's width and height).
    pub fn grid_into(
        &self,
        keys: &[ImageBatch<'_>],
        spec: &RenderSpec,
        buf: &mut Vec<u8>,
    ) -> Result<GridLayout> {
        let plan = Plan::new(keys, spec)?;
        if plan.dims.t.is_some() {
            return Err(Error::WrongMode(
                "these tensors are sequences [N, T, C, H, W]: draw them as frames (a GIF) or pick one timestep",
            ));
        }
        let l = plan.layout;
        prepare_canvas(buf, l.canvas_bytes(), l.width, l.height)?;
        plan.draw(0, self.kernel, buf);
        Ok(l)
    }

    /// Draws rank-5 tensors as one grid per timestep chosen by `frames` (every `n_skip`-th and
    /// the last).
    pub fn frames(
        &self,
        keys: &[ImageBatch<'_>],
        spec: &RenderSpec,
        frames: &FrameSpec,
    ) -> Result<RgbFrames> {
        let mut buf = Vec::new();
        let (layout, count) = self.frames_into(keys, spec, frames, &mut buf)?;
        RgbFrames::from_raw(layout.width, layout.height, count, buf)
    }

    /// Draws the frames into `buf` (resized to fit, reusing its memory), one after another, and
    /// returns the layout of one frame and the number of frames.
    pub fn frames_into(
        &self,
        keys: &[ImageBatch<'_>],
        spec: &RenderSpec,
        frames: &FrameSpec,
        buf: &mut Vec<u8>,
    ) -> Result<(GridLayout, usize)> {
        frames.validate()?;
        let plan = Plan::new(keys, spec)?;
        let Some(steps) = plan.dims.t else {
            return Err(Error::WrongMode(
                "these tensors are images [N, C, H, W], not sequences [N, T, C, H, W]: draw them as one grid",
            ));
        };
        let l = plan.layout;
        let indices = frames.frame_indices(steps);
        let frame_bytes = l.canvas_bytes();
        let total = picture_bytes(l.width, l.height, indices.len())?;
        prepare_canvas(buf, total, l.width, l.height)?;
        let total_pixels = l
            .width
            .saturating_mul(l.height)
            .saturating_mul(indices.len());
        let across_frames = match self.kernel {
            Kernel::Auto => total_pixels >= PARALLEL_MIN_PIXELS && rayon::current_num_threads() > 1,
            _ => false,
        };
        let kernel = if across_frames {
            Kernel::Simd
        } else {
            self.kernel
        };
        let draw = |(t, frame): (&usize, &mut [u8])| plan.draw(*t, kernel, frame);
        if across_frames {
            indices
                .par_iter()
                .zip(buf.par_chunks_mut(frame_bytes.max(1)))
                .for_each(draw);
        } else {
            indices
                .iter()
                .zip(buf.chunks_mut(frame_bytes.max(1)))
                .for_each(draw);
        }
        Ok((l, indices.len()))
    }
}

/// Keys checked against each other and laid out.
struct Plan<'k, 'a> {
    keys: &'k [ImageBatch<'a>],
    spec: &'k RenderSpec,
    dims: BatchDims,
    layout: GridLayout,
}

impl<'k, 'a> Plan<'k, 'a> {
    fn new(keys: &'k [ImageBatch<'a>], spec: &'k RenderSpec) -> Result<Self> {
        let first = keys.first().ok_or(Error::NoKeys)?;
        let dims = first.dims();
        for key in keys.iter().skip(1) {
            let d = key.dims();
            let mismatch = |dim, expected, actual| Error::ShapeMismatch {
                key: key.name().to_owned(),
                first: first.name().to_owned(),
                dim,
                expected,
                actual,
            };
            let rank = |t: Option<usize>| if t.is_some() { 5 } else { 4 };
            if rank(d.t) != rank(dims.t) {
                return Err(mismatch("rank", rank(dims.t), rank(d.t)));
            }
            for (dim, expected, actual) in [
                ("N", dims.n, d.n),
                ("T", dims.steps(), d.steps()),
                ("H", dims.h, d.h),
                ("W", dims.w, d.w),
            ] {
                if expected != actual {
                    return Err(mismatch(dim, expected, actual));
                }
            }
        }
        spec.map.validate()?;
        if let (PixelMap::Denorm { mean, std }, Some(grey)) =
            (&spec.map, keys.iter().find(|k| k.dims().c == 1))
        {
            for (what, list) in [("mean", mean), ("std", std)] {
                if list.len() != 1 {
                    return Err(Error::GreyChannelList {
                        key: crate::fs::quote(grey.name()),
                        what,
                        len: list.len(),
                    });
                }
            }
        }
        let layout = GridLayout::new(dims.n, keys.len(), dims.h, dims.w, &spec.grid)?;
        Ok(Self {
            keys,
            spec,
            dims,
            layout,
        })
    }

    /// The pixel recipe of every (key, image) at timestep `t`, indexed `key * n + image`.
    fn ops(&self, t: usize) -> Vec<PixelOp> {
        let spec = self.spec;
        let n = self.dims.n;
        let op =
            |range: &dyn Fn() -> (f32, f32)| pixel_op(&spec.map, spec.quantize, spec.order, range);
        let scale_each = matches!(
            spec.map,
            PixelMap::Range {
                scale_each: true,
                ..
            }
        );
        let mut ops = Vec::with_capacity(self.keys.len() * n);
        for key in self.keys {
            let d = key.dims();
            // Elements of image `i` at timestep `t`: its `c` planes are contiguous.
            let image = move |i: usize| {
                key.image(i).map(|(data, base)| {
                    let start = base + d.plane_offset(t, 0);
                    (data, start..start + d.c * d.plane())
                })
            };
            if !needs_data_range(&spec.map) {
                ops.extend(std::iter::repeat_n(op(&|| (0.0, 0.0)), n));
            } else if scale_each {
                ops.extend((0..n).map(|i| op(&|| finite_range(image(i).into_iter()))));
            } else {
                let whole = op(&|| finite_range((0..n).filter_map(image)));
                ops.extend(std::iter::repeat_n(whole, n));
            }
            // Bytes are drawn as they are: the map is for floats.
            let first = ops.len() - n;
            for (i, slot) in ops.iter_mut().skip(first).enumerate() {
                if matches!(key.image(i), Some((Elements::U8(_), _))) {
                    *slot = pixel_op(&PixelMap::Identity, spec.quantize, spec.order, || {
                        (0.0, 0.0)
                    });
                }
            }
        }
        ops
    }

    /// Draws timestep `t` into `buf` (exactly one canvas).
    fn draw(&self, t: usize, kernel: Kernel, buf: &mut [u8]) {
        let l = &self.layout;
        let ops = self.ops(t);
        let (code, parallel) = match kernel {
            Kernel::Scalar => (RowCode::Scalar, false),
            Kernel::Simd => (RowCode::fastest(), false),
            Kernel::Wide => (RowCode::Wide, false),
            Kernel::Parallel => (RowCode::fastest(), true),
            Kernel::Auto => (
                RowCode::fastest(),
                l.width.saturating_mul(l.height) >= PARALLEL_MIN_PIXELS
                    && rayon::current_num_threads() > 1,
            ),
        };
        let row_bytes = l.row_bytes();
        if parallel {
            // A few bands per thread balance uneven rows (borders are cheap, cells are not).
            let bands = rayon::current_num_threads().saturating_mul(4).max(1);
            let band_rows = l.height.div_ceil(bands).max(1);
            buf.par_chunks_mut(band_rows * row_bytes)
                .enumerate()
                .for_each(|(i, band)| self.draw_band(&ops, t, i * band_rows, band, code));
        } else {
            self.draw_band(&ops, t, 0, buf, code);
        }
    }

    /// Draws the canvas rows from row `first` on into `band` (whole rows): first the pad bytes
    /// (borders, gaps, empty cells), then every image cell in one kernel call per cell.
    fn draw_band(&self, ops: &[PixelOp], t: usize, first: usize, band: &mut [u8], code: RowCode) {
        let l = &self.layout;
        let row_bytes = l.row_bytes();
        let pad = self.spec.grid.pad_byte;
        let (pad_bytes, cell_bytes) = (l.padding * 3, l.cell_w * 3);
        // Pass 1, the pad bytes, a run of canvas rows at a time: a border row, or the rows of
        // one grid row's cells, which share their gaps and empty cells.
        let rows = band.len() / row_bytes;
        let mut i = 0;
        while i < rows {
            let (run, filled) = match l.row_kind(first + i) {
                RowKind::Border => (1, None),
                RowKind::Cells { grid_row, y } => {
                    ((l.cell_h - y).min(rows - i), Some(l.filled_cells(grid_row)))
                }
            };
            let span = band
                .get_mut(i * row_bytes..(i + run) * row_bytes)
                .unwrap_or_default();
            for row in span.chunks_exact_mut(row_bytes) {
                let Some(filled) = filled else {
                    row.fill(pad);
                    continue;
                };
                let mut rest = row;
                for col in 0..=l.cols {
                    let Some((gap, after)) = rest.split_at_mut_checked(pad_bytes) else {
                        break;
                    };
                    fill_pad(gap, pad);
                    let Some((cell, after)) = after.split_at_mut_checked(cell_bytes) else {
                        break;
                    };
                    if col >= filled {
                        fill_pad(cell, pad);
                    }
                    rest = after;
                }
            }
            i += run;
        }
        let pitch = l.cell_h + l.padding;
        let first_grid_row = first.saturating_sub(l.padding) / pitch;
        for grid_row in first_grid_row..l.rows {
            let top = l.padding + grid_row * pitch;
            let (from, to) = (top.max(first), (top + l.cell_h).min(first + rows));
            if top >= first + rows {
                break;
            }
            if from >= to {
                continue;
            }
            for col in 0..l.cols {
                let Some((k, n)) = l.cell(grid_row, col) else {
                    continue;
                };
                let at =
                    (from - first) * row_bytes + (l.padding + col * (l.cell_w + l.padding)) * 3;
                let Some(dst) = band.get_mut(at..) else {
                    continue;
                };
                self.draw_cell(ops, (k, n), t, from - top, to - from, dst, code);
            }
        }
    }

    /// Draws `rows` rows of image `n` of key `k` at timestep `t`, from image row `y`, into `dst`
    /// (from its first byte, canvas rows apart).
    #[allow(clippy::too_many_arguments)]
    fn draw_cell(
        &self,
        ops: &[PixelOp],
        (k, n): (usize, usize),
        t: usize,
        y: usize,
        rows: usize,
        dst: &mut [u8],
        code: RowCode,
    ) {
        let (Some(key), Some(op)) = (self.keys.get(k), ops.get(k * self.dims.n + n)) else {
            return;
        };
        let Some((data, base)) = key.image(n) else {
            return;
        };
        let d = key.dims();
        let starts = std::array::from_fn(|out| {
            let c = if d.c == 1 {
                0
            } else {
                self.spec.order.input_channel(out)
            };
            base + d.plane_offset(t, c) + y * d.w
        });
        code.fill(data, starts, d.w, rows, dst, self.layout.row_bytes(), op);
    }
}

/// Fills `dst` with `byte`. The gaps between cells are a few bytes each and there are thousands
/// of them, so short runs are written with overlapping 2-, 4- and 8-byte stores instead of a
/// call to `memset` each.
#[inline(always)]
fn fill_pad(dst: &mut [u8], byte: u8) {
    let word = [byte; 8];
    let n = dst.len();
    let mut put = |at: usize, bytes: &[u8]| {
        if let Some(d) = dst.get_mut(at..at + bytes.len()) {
            d.copy_from_slice(bytes);
        }
    };
    match n {
        0 => {}
        1 => put(0, &word[..1]),
        2..=3 => {
            put(0, &word[..2]);
            put(n - 2, &word[..2]);
        }
        4..=7 => {
            put(0, &word[..4]);
            put(n - 4, &word[..4]);
        }
        8..=32 => {
            for at in (0..n - 8).step_by(8) {
                put(at, &word);
            }
            put(n - 8, &word);
        }
        _ => dst.fill(byte),
    }
}

#[cfg(test)]
mod tests {
    use super::fill_pad;

    #[test]
    fn fill_pad_fills_exactly() {
        for n in 0..80 {
            let mut buf = vec![1u8; n + 4];
            fill_pad(&mut buf[2..2 + n], 9);
            assert!(buf[2..2 + n].iter().all(|&b| b == 9), "{n}");
            assert_eq!(&buf[..2], &[1, 1]);
            assert_eq!(&buf[2 + n..], &[1, 1]);
        }
    }
}
