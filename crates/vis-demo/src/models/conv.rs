//! A 2-D convolution as one custom op with its own backward pass: im2col, one matrix product
//! on GEMM and the bias, and in the backward the three products' adjoints, all inside the op.
//! Candle 0.11's CPU `conv2d` is a direct tiled convolution and its backward a direct
//! transposed convolution; built from Candle ops instead (a columns op, `matmul`, the bias, a
//! transpose), every op's gradient cost Candle's backward a zeroed buffer and an add, the
//! columns' the largest. Weights have the names and shapes of `candle_nn::Conv2d`. A 3x3
//! convolution of an image upsampled 2x (the generators' resize-convolution) runs on the small
//! image instead ([`Conv::forward_upsampled`]): a quarter of the columns, no upsampled copy.

use std::mem::MaybeUninit;
use std::ops::Range;

use candle_core::{CpuStorage, CustomOp3, Layout, Module, Shape, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use vis_candle::Result;

/// A convolution of `kernel x kernel` with `stride` and zero `padding`, plus a bias.
#[derive(Clone, Debug)]
pub struct Conv {
    weight: Tensor,
    bias: Tensor,
    kernel: usize,
    stride: usize,
    padding: usize,
}

impl Conv {
    /// Weights `[cout, cin, k, k]` and bias `[cout]` from `vb` (`weight`, `bias`); a stride of
    /// 0 is taken as 1.
    pub fn new(
        cin: usize,
        cout: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let weight = vb.get((cout, cin, kernel, kernel), "weight")?;
        let bias = vb.get(cout, "bias")?;
        Ok(Self {
            weight,
            bias,
            kernel,
            stride: stride.max(1),
            padding,
        })
    }

    /// The same convolution on the same weights, through which no gradient flows to them (a
    /// network held fixed while another learns through it, as MMagic's
    /// `set_requires_grad(discriminator, False)` in a generator's step); the weights are
    /// shared, so it sees every update of the original.
    pub fn frozen(&self) -> Self {
        Self {
            weight: self.weight.detach(),
            bias: self.bias.detach(),
            ..self.clone()
        }
    }

    /// The convolution of `x` upsampled 2x by nearest neighbour, without building the
    /// upsampled image: for a 3x3 kernel with padding 1, each of the four output pixels of a
    /// 2x2 block sees a 3x3 window of `x` with some taps summed, so one matrix product of
    /// four such kernels with the columns of `x` gives all four, then interleaved.
    pub fn forward_upsampled(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if self.kernel != 3 || self.stride != 1 || self.padding != 1 {
            return self.forward(&upsample2x(x)?);
        }
        let (_, c, h, w) = x.dims4()?;
        let cout = self.weight.dim(0)?;
        // One product maps every 3x3 kernel to the 2x2 kernels of each output parity, each
        // a pair of kernel rows (a) over two taps (b) of every channel, ordered as the
        // tap-major columns they multiply: [(parity, a, co), (b, c)].
        let taps = Tensor::from_slice(&SUBPIXEL_TAPS, (9, 16), x.device())?;
        let kernels = self
            .weight
            .reshape((cout * c, 9))?
            .matmul(&taps)?
            .reshape((cout, c, 8, 2))?
            .permute((2, 0, 3, 1))?
            .contiguous()?
            .reshape((8 * cout, 2 * c))?;
        let bias = self
            .bias
            .reshape((1, cout))?
            .broadcast_as((4, cout))?
            .contiguous()?
            .reshape(4 * cout)?;
        let geometry = Geometry::new(c, h, w, 3, 1, 1)?;
        x.contiguous()?.apply_op3(
            &kernels,
            &bias,
            ConvOp {
                geometry,
                upsampled: true,
            },
        )
    }
}

/// Which taps of a 3x3 kernel (columns) sum into each tap of the 3x3 window of the small image
/// (rows), for an output pixel at an even and at an odd position of the upsampled image: an
/// even one reads window rows 0 and 1, an odd one rows 1 and 2.
const EVEN: [[f32; 3]; 3] = [[1., 0., 0.], [0., 1., 1.], [0., 0., 0.]];
const ODD: [[f32; 3]; 3] = [[0., 0., 0.], [1., 1., 0.], [0., 0., 1.]];

/// The linear map `[9, 16]` from a 3x3 kernel's taps `(i, j)` to the 2x2 kernels of the four
/// output parities `q = 2 dy + dx` of the upsampled image: for parity `q` the small image's
/// 3x3 window is used at rows `a = dy + a2` and columns `b = dx + b2` only (`a2, b2` in 0..2;
/// the other taps sum nothing), and column `(2 q + a2) * 2 + b2` sums the taps `(i, j)` with
/// `rows[a][i] * cols[b][j]`.
// Evaluated at compile time, where an index out of range fails the build instead of panicking.
#[allow(clippy::indexing_slicing)]
const SUBPIXEL_TAPS: [f32; 144] = {
    let mut map = [0f32; 144];
    let parities = [EVEN, ODD];
    let mut q = 0;
    while q < 4 {
        let (dy, dx) = (q / 2, q % 2);
        let (rows, cols) = (parities[dy], parities[dx]);
        let mut tap = 0;
        while tap < 36 {
            let (i, j, a2, b2) = (tap / 12, tap / 4 % 3, tap / 2 % 2, tap % 2);
            map[(i * 3 + j) * 16 + (2 * q + a2) * 2 + b2] = rows[dy + a2][i] * cols[dx + b2][j];
            tap += 1;
        }
        q += 1;
    }
    map
};

impl Module for Conv {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (_, c, h, w) = x.dims4()?;
        let geometry = Geometry::new(c, h, w, self.kernel, self.stride, self.padding)?;
        let cout = self.weight.dim(0)?;
        let kernels = self
            .weight
            .reshape((cout, c * self.kernel * self.kernel))?
            .contiguous()?;
        x.contiguous()?.apply_op3(
            &kernels,
            &self.bias.contiguous()?,
            ConvOp {
                geometry,
                upsampled: false,
            },
        )
    }
}

/// Sizes of one convolution's input, kernel and output.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    c: usize,
    h: usize,
    w: usize,
    k: usize,
    s: usize,
    p: usize,
    ho: usize,
    wo: usize,
}

impl Geometry {
    fn new(
        c: usize,
        h: usize,
        w: usize,
        k: usize,
        s: usize,
        p: usize,
    ) -> candle_core::Result<Self> {
        if c == 0 {
            candle_core::bail!("the convolution's input has no channels: give it at least one");
        }
        if h == 0 || w == 0 {
            candle_core::bail!("the convolution's input has no pixels ({h}x{w})");
        }
        let too_large = || {
            candle_core::Error::Msg(format!(
                "a {k}x{k} convolution with padding {p} of a {h}x{w} input of {c} channels is \
                 too large to index its columns: give it a smaller padding or input"
            ))
        };
        let padded = |len: usize| p.checked_mul(2).and_then(|p2| p2.checked_add(len));
        let (hp, wp) = (
            padded(h).ok_or_else(too_large)?,
            padded(w).ok_or_else(too_large)?,
        );
        if hp < k || wp < k || k == 0 {
            candle_core::bail!(
                "a {k}x{k} convolution needs an input of at least {k}x{k}, got {h}x{w}"
            );
        }
        let s = s.max(1);
        let (ho, wo) = ((hp - k) / s + 1, (wp - k) / s + 1);
        // The columns of one image, `C K K` rows of `Ho Wo`: the op's largest buffer per image.
        c.checked_mul(k * k)
            .and_then(|taps| taps.checked_mul(ho.checked_mul(wo)?))
            .ok_or_else(too_large)?;
        Ok(Self {
            c,
            h,
            w,
            k,
            s,
            p,
            ho,
            wo,
        })
    }

    /// The output positions `o` below `out_len` whose input index `o * s + tap - p` falls in
    /// `0..len`, and the input index of the first of them.
    fn valid(&self, tap: usize, out_len: usize, len: usize) -> (Range<usize>, usize) {
        let s = self.s.max(1);
        let lo = self.p.saturating_sub(tap).div_ceil(s);
        let hi = (len + self.p).saturating_sub(tap).div_ceil(s).min(out_len);
        let first = (lo * s + tap).saturating_sub(self.p);
        (lo..hi.max(lo), first)
    }

    /// [`spans`](Self::spans) of every kernel tap, tap `(ky, kx)` at `ky * k + kx`: the same
    /// for every image and channel, so computed once per call.
    fn all_spans(&self) -> Vec<Vec<(Range<usize>, Range<usize>)>> {
        (0..self.k * self.k)
            .map(|tap| self.spans(tap / self.k, tap % self.k).collect())
            .collect()
    }

    /// For kernel tap `(ky, kx)`, the output rows it reads inside the image, as pairs of spans:
    /// the input pixels of one image row (every `s`-th is read, starting at the first) and the
    /// output positions reading them, in a column row of one image.
    fn spans(&self, ky: usize, kx: usize) -> impl Iterator<Item = (Range<usize>, Range<usize>)> {
        let (oys, iy0) = self.valid(ky, self.ho, self.h);
        let (oxs, ix0) = self.valid(kx, self.wo, self.w);
        let (s, w, wo) = (self.s, self.w, self.wo);
        oys.enumerate().map(move |(dy, oy)| {
            let iy = iy0 + dy * s;
            (
                iy * w + ix0..(iy + 1) * w,
                oy * wo + oxs.start..oy * wo + oxs.end,
            )
        })
    }
}

/// `dst[i * step] += src[i]` for every `i` that both hold.
#[inline(always)]
fn scatter_add(dst: &mut [f32], src: &[f32], step: usize) {
    if step == 1 {
        for (d, s) in dst.iter_mut().zip(src) {
            *d += *s;
        }
    } else {
        let n = src.len().min(dst.len().div_ceil(step.max(1)));
        for (i, s) in src.iter().take(n).enumerate() {
            if let Some(d) = dst.get_mut(i * step) {
                *d += *s;
            }
        }
    }
}

/// A buffer of `len` values built in parallel chunks of `chunk`: each chunk is zeroed, then
/// `fill(index, chunk)` writes into it (the last chunk may be shorter). The zeroing happens in
/// the thread that fills the chunk, while the chunk is in its cache, instead of in a serial
/// pass over the whole buffer before (`vec![0.0; len]`, 7 % of a DDPM sampling run).
pub(crate) fn par_zeroed_chunks(
    len: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync + Send,
) -> candle_core::Result<Vec<f32>> {
    par_written_chunks(len, chunk, |index, writer| {
        writer.zeros_until(usize::MAX);
        fill(index, writer.written_mut());
    })
}

/// Fills a chunk of an uninitialised buffer front to back, so that each value is written once
/// (no zeroing pass before the copies, as in [`par_zeroed_chunks`]); whatever a fill leaves
/// unwritten at the end is zeroed by [`par_written_chunks`].
pub(crate) struct ChunkWriter<'a> {
    out: &'a mut [MaybeUninit<f32>],
    written: usize,
}

impl ChunkWriter<'_> {
    /// Writes zeros up to position `end` (nothing if already past it, which the fills only
    /// ask at a chunk's end).
    #[inline(always)]
    pub(crate) fn zeros_until(&mut self, end: usize) {
        debug_assert!(
            end >= self.written || end >= self.out.len(),
            "a fill went back from {} to {end}",
            self.written
        );
        let end = end.min(self.out.len());
        if let Some(part) = self.out.get_mut(self.written..end) {
            part.fill(MaybeUninit::new(0.0));
            self.written = end;
        }
    }

    /// The values written so far.
    pub(crate) fn written_mut(&mut self) -> &mut [f32] {
        let part = self.out.get_mut(..self.written).unwrap_or_default();
        // SAFETY: the first `written` values were initialised by the writes that counted them,
        // and `MaybeUninit<f32>` has the size, alignment and validity of `f32`.
        unsafe { &mut *(part as *mut [MaybeUninit<f32>] as *mut [f32]) }
    }

    /// Sets the written values in `range` back to 0.
    #[inline(always)]
    pub(crate) fn rezero(&mut self, range: Range<usize>) {
        // One value at a time: the gaps are a value or two, where a `memset` call costs more.
        let written = self.written_mut();
        for i in range.start..range.end.min(written.len()) {
            if let Some(value) = written.get_mut(i) {
                *value = 0.0;
            }
        }
    }

    /// Writes `len` values `src[i * step]`, zeros where `src` runs out.
    #[inline(always)]
    pub(crate) fn strided(&mut self, src: &[f32], step: usize, len: usize) {
        let end = (self.written + len).min(self.out.len());
        let Some(part) = self.out.get_mut(self.written..end) else {
            return;
        };
        let copied = if step == 1 {
            let n = part.len().min(src.len());
            // SAFETY: `n` values fit in both; `src` is initialised and, borrowed shared while
            // `part` is borrowed mutably, cannot overlap it. A slice copy, which element-wise
            // writes into `MaybeUninit` do not compile to.
            unsafe {
                std::ptr::copy_nonoverlapping(src.as_ptr(), part.as_mut_ptr().cast::<f32>(), n);
            }
            n
        } else {
            let mut n = 0;
            for (d, &s) in part.iter_mut().zip(src.iter().step_by(step.max(1))) {
                d.write(s);
                n += 1;
            }
            n
        };
        self.written += copied;
        self.zeros_until(end);
    }
}

/// A buffer of `len` values built in parallel chunks of `chunk`, each written front to back
/// once by `fill(index, writer)`; what a fill leaves unwritten is zeroed. For the columns,
/// where zeroing everything first ([`par_zeroed_chunks`]) and copying row pieces over it cost
/// two passes and a `memcpy` call per piece.
pub(crate) fn par_written_chunks(
    len: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut ChunkWriter<'_>) + Sync + Send,
) -> candle_core::Result<Vec<f32>> {
    let mut buffer: Vec<f32> = Vec::new();
    if let Err(err) = buffer.try_reserve_exact(len) {
        candle_core::bail!("could not allocate a buffer of {len} values: {err}");
    }
    let Some(spare) = buffer.spare_capacity_mut().get_mut(..len) else {
        candle_core::bail!("could not allocate a buffer of {len} values");
    };
    spare
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .for_each(|(index, part)| {
            let end = part.len();
            let mut writer = ChunkWriter {
                out: part,
                written: 0,
            };
            fill(index, &mut writer);
            writer.zeros_until(end);
        });
    // SAFETY: a `ChunkWriter` writes its values in order and counts them in `written`; each
    // chunk was written up to its end just above, and the chunks cover the first `len`.
    unsafe { buffer.set_len(len) };
    Ok(buffer)
}

/// The values of a contiguous f32 tensor, for vis-demo's custom ops (each makes its inputs
/// contiguous before it applies the op).
pub(crate) fn contiguous_f32<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(values), Some((start, end))) => values
            .get(start..end)
            .ok_or_else(|| candle_core::Error::Msg("tensor storage out of range".into())),
        (CpuStorage::F32(_), None) => {
            candle_core::bail!("vis-demo's ops take contiguous tensors: call .contiguous() first")
        }
        (storage, _) => candle_core::bail!(
            "vis-demo's ops take f32 tensors, got {:?}: call .to_dtype(DType::F32) first",
            candle_core::backend::BackendStorage::dtype(storage)
        ),
    }
}

/// The order of the columns' rows: `(c, tap)` as a weight `[Cout, C, K, K]` flattens, or
/// `(tap, c)`, where the taps of a 2x2 sub-window of a 3x3 one are two runs of rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RowOrder {
    ChannelMajor,
    TapMajor,
}

impl RowOrder {
    /// The row of channel `c` and tap `tap` (`ky * K + kx`).
    fn row(self, g: &Geometry, c: usize, tap: usize) -> usize {
        match self {
            RowOrder::ChannelMajor => c * g.k * g.k + tap,
            RowOrder::TapMajor => tap * g.c + c,
        }
    }

    /// The channel and tap of `row`.
    fn channel_and_tap(self, g: &Geometry, row: usize) -> (usize, usize) {
        let (kk, c) = ((g.k * g.k).max(1), g.c.max(1));
        match self {
            RowOrder::ChannelMajor => (row / kk, row % kk),
            RowOrder::TapMajor => (row % c, row / c),
        }
    }
}

/// `[N, C, H, W]` to columns `[C * K * K, N * Ho * Wo]`: row `(c, ky, kx)` (or `(ky, kx, c)`,
/// see [`RowOrder`]) holds, for every image and output position, the input pixel under kernel
/// tap `(ky, kx)` (zero outside).
fn im2col(x: &[f32], n: usize, g: Geometry, order: RowOrder) -> candle_core::Result<Vec<f32>> {
    let plane = (g.h * g.w).max(1);
    let positions = (g.ho * g.wo).max(1);
    let spans = g.all_spans();
    par_written_chunks(
        g.c * g.k * g.k * n * positions,
        n * positions,
        |row, out| {
            let (ci, tap) = order.channel_and_tap(&g, row);
            let Some(spans) = spans.get(tap) else {
                return;
            };
            let images = x.chunks(plane).skip(ci).step_by(g.c.max(1)).take(n);
            for (start, image) in (0..).step_by(positions).zip(images) {
                // Positions whose tap lands outside the image are 0.
                if let Some(block) = shifted_run(&g, spans, image) {
                    // Stride 1 and rows as wide as the input's: the output positions are the
                    // pixels shifted by one offset, copied in one piece; the positions between
                    // the spans (which read the neighbouring row's edge) are zeroed after.
                    out.zeros_until(start + block.taps.start);
                    out.strided(block.pixels, 1, block.taps.len());
                    for pair in spans.windows(2) {
                        if let [(_, a), (_, b)] = pair {
                            out.rezero(start + a.end..start + b.start);
                        }
                    }
                } else {
                    for (pixels, taps) in spans {
                        out.zeros_until(start + taps.start);
                        let src = image.get(pixels.clone()).unwrap_or_default();
                        out.strided(src, g.s, taps.len());
                    }
                }
                out.zeros_until(start + positions);
            }
        },
    )
}

/// The output positions of one tap from its first span to its last, and the input pixels
/// they read, one run each.
struct ShiftedRun<'a> {
    taps: Range<usize>,
    pixels: &'a [f32],
}

/// For a convolution of stride 1 whose output rows are as wide as the input's, the output
/// positions of a tap are its input pixels shifted by a constant: the whole run from its first
/// span to its last, in `image`. `None` for other convolutions and taps reading nothing.
fn shifted_run<'a>(
    g: &Geometry,
    spans: &[(Range<usize>, Range<usize>)],
    image: &'a [f32],
) -> Option<ShiftedRun<'a>> {
    if g.s != 1 || g.wo != g.w {
        return None;
    }
    let ((first_pixels, first_taps), (_, last_taps)) = (spans.first()?, spans.last()?);
    let taps = first_taps.start..last_taps.end;
    let pixels = image.get(first_pixels.start..first_pixels.start + taps.len())?;
    Some(ShiftedRun { taps, pixels })
}

/// The adjoint of [`im2col`] for `n` images: columns back to `[N, C, H, W]`, summing the taps
/// that read the same pixel.
fn col2im(
    columns: &[f32],
    n: usize,
    g: Geometry,
    order: RowOrder,
) -> candle_core::Result<Vec<f32>> {
    let plane = (g.h * g.w).max(1);
    let positions = g.ho * g.wo;
    let row_len = n * positions;
    let spans = g.all_spans();
    par_zeroed_chunks(n * g.c * g.h * g.w, plane, |index, image| {
        let (ni, ci) = (index / g.c.max(1), index % g.c.max(1));
        for (tap, spans) in spans.iter().enumerate() {
            let start = order.row(&g, ci, tap) * row_len + ni * positions;
            let Some(column) = columns.get(start..start + positions) else {
                continue;
            };
            for (pixels, taps) in spans {
                if let (Some(src), Some(dst)) =
                    (column.get(taps.clone()), image.get_mut(pixels.clone()))
                {
                    scatter_add(dst, src, g.s);
                }
            }
        }
    })
}

/// A `rows x cols` matrix of `f32`s in a slice, element `(r, c)` at `r * row_stride + c *
/// col_stride`: a row-major matrix, or its transpose without a copy.
#[derive(Clone, Copy, Debug)]
struct Matrix<'a> {
    values: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Matrix<'a> {
    /// `values` as a row-major `rows x cols` matrix.
    fn row_major(values: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            values,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose.
    fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Rows `first..first + rows` of a row-major matrix.
    fn band(self, first: usize, rows: usize) -> Self {
        Self {
            values: first
                .checked_mul(self.row_stride)
                .and_then(|start| self.values.get(start..))
                .unwrap_or_default(),
            rows,
            ..self
        }
    }

    /// Whether every element lies inside `values`.
    fn fits(&self) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        let last = (self.rows - 1)
            .checked_mul(self.row_stride)
            .zip((self.cols - 1).checked_mul(self.col_stride))
            .and_then(|(row, col)| row.checked_add(col));
        last.is_some_and(|last| last < self.values.len())
    }
}

/// `a b` written into (or with `accumulate`, added to) the row-major `dst`, on GEMM (the
/// crate behind Candle's `matmul`) with rayon's threads.
fn matmul_into(
    dst: &mut [f32],
    a: Matrix<'_>,
    b: Matrix<'_>,
    accumulate: bool,
) -> candle_core::Result<()> {
    if a.cols != b.rows || !a.fits() || !b.fits() || Some(dst.len()) != a.rows.checked_mul(b.cols) {
        candle_core::bail!(
            "a product of a {}x{} and a {}x{} matrix into {} values, or a matrix outside its \
             values",
            a.rows,
            a.cols,
            b.rows,
            b.cols,
            dst.len()
        );
    }
    if dst.is_empty() || a.cols == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return Ok(());
    }
    let threads = rayon::current_num_threads();
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let stride = |s: usize| s as isize;
    // SAFETY: `dst` holds `a.rows x b.cols` row-major values (checked above), read only with
    // `accumulate`; `fits` checked that every element `a` and `b` address lies in their slices,
    // which outlive the call and do not overlap `dst` (it is borrowed mutably).
    unsafe {
        gemm::gemm(
            a.rows,
            b.cols,
            a.cols,
            dst.as_mut_ptr(),
            1,
            stride(b.cols),
            accumulate,
            a.values.as_ptr(),
            stride(a.col_stride),
            stride(a.row_stride),
            b.values.as_ptr(),
            stride(b.col_stride),
            stride(b.row_stride),
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
    Ok(())
}

/// The convolution op: `(x [N, C, H, W], kernels, bias [M])` to the output, through a product
/// `[M, N Ho Wo]` of kernels and columns. Plain: kernels `[Cout, C K K]` on channel-major
/// columns, one product row per output channel. With `upsampled`, a 3x3 convolution with
/// padding 1 of `x` upsampled 2x: for each output parity `q = 2 dy + dx` (the pixel `(2 oy +
/// dy, 2 ox + dx)`) only a 2x2 part of the small image's 3x3 window counts, so the kernels are
/// `[8 Cout, 2 C]`, for each parity and window row `a2` the kernel rows over two taps of every
/// channel, each multiplying a band of the tap-major columns; product row `q Cout + co`. That
/// is 16 multiply-adds per input channel and output pixel block where the whole window took 36.
#[derive(Clone, Copy, Debug)]
struct ConvOp {
    geometry: Geometry,
    upsampled: bool,
}

/// One product of `Cout` kernel rows from `kernel_row` with the band of column rows from
/// `column_row`, added into the `Cout` product rows from `product_row` (in the backward, the
/// adjoint products: the column gradients added up, each block's kernel gradient written).
#[derive(Clone, Copy, Debug)]
struct Block {
    kernel_row: usize,
    column_row: usize,
    product_row: usize,
}

impl ConvOp {
    /// The kernels' width: `C K K`, or `2 C` upsampled.
    fn kernel_width(&self) -> usize {
        let g = &self.geometry;
        if self.upsampled {
            2 * g.c
        } else {
            g.c * g.k * g.k
        }
    }

    /// The columns' row order.
    fn row_order(&self) -> RowOrder {
        if self.upsampled {
            RowOrder::TapMajor
        } else {
            RowOrder::ChannelMajor
        }
    }

    /// Output channels, and the product's rows, for kernels of `kernel_rows` rows.
    fn channels(&self, kernel_rows: usize) -> candle_core::Result<(usize, usize)> {
        match self.upsampled {
            false => Ok((kernel_rows, kernel_rows)),
            true if kernel_rows.is_multiple_of(8) => Ok((kernel_rows / 8, kernel_rows / 2)),
            true => candle_core::bail!(
                "the upsampled convolution needs 8 kernel rows per output channel, got {kernel_rows}"
            ),
        }
    }

    /// The products that make the output, for `cout` output channels.
    fn blocks(&self, cout: usize) -> Vec<Block> {
        if !self.upsampled {
            return vec![Block {
                kernel_row: 0,
                column_row: 0,
                product_row: 0,
            }];
        }
        let c = self.geometry.c;
        (0..4)
            .flat_map(|q| {
                let (dy, dx) = (q / 2, q % 2);
                (0..2).map(move |a2| Block {
                    kernel_row: (2 * q + a2) * cout,
                    column_row: ((dy + a2) * 3 + dx) * c,
                    product_row: q * cout,
                })
            })
            .collect()
    }
}

/// Rows `first..first + rows` of the row-major `values` with `row_len` values a row.
fn rows_mut(
    values: &mut [f32],
    first: usize,
    rows: usize,
    row_len: usize,
) -> candle_core::Result<&mut [f32]> {
    let start = first.checked_mul(row_len);
    let end = first
        .checked_add(rows)
        .and_then(|end| end.checked_mul(row_len));
    start
        .zip(end)
        .and_then(|(start, end)| values.get_mut(start..end))
        .ok_or_else(|| candle_core::Error::Msg("a product band outside its matrix".into()))
}

/// Where the product's values go in the output: sizes of one call.
#[derive(Clone, Copy, Debug)]
struct Product {
    /// Images.
    n: usize,
    /// Rows of the kernels, and their width ([`ConvOp::kernel_width`]).
    kernel_rows: usize,
    width: usize,
    /// Rows of the product.
    m: usize,
    /// Output channels.
    cout: usize,
    /// Output positions of the convolution on one image (`Ho * Wo`).
    positions: usize,
    geometry: Geometry,
    upsampled: bool,
}

impl Product {
    /// The sizes of `op` on an input of `x_len` values and kernels of `kernel_len`.
    fn new(op: ConvOp, x_len: usize, kernel_len: usize) -> candle_core::Result<Self> {
        let g = op.geometry;
        let image = g.c.checked_mul(g.h).and_then(|ch| ch.checked_mul(g.w));
        let Some(image) = image.filter(|&image| image > 0 && x_len.is_multiple_of(image)) else {
            candle_core::bail!("the convolution's input does not fit its geometry");
        };
        let n = x_len / image;
        let width = op.kernel_width();
        let kernel_rows = kernel_len / width.max(1);
        if kernel_rows * width != kernel_len {
            candle_core::bail!(
                "the convolution needs kernels [M, {width}], got {kernel_len} values"
            );
        }
        let (cout, m) = op.channels(kernel_rows)?;
        // The columns `[C K K, N Ho Wo]` and the product `[M, N Ho Wo]` (the output's size):
        // every index into them below stays inside a usize.
        let row_len = n.checked_mul(g.ho * g.wo);
        if row_len
            .and_then(|row_len| row_len.checked_mul((g.c * g.k * g.k).max(m)))
            .is_none()
        {
            candle_core::bail!(
                "a convolution of {n} images with {m} product rows is too large to index: \
                 give it fewer images at a time"
            );
        }
        Ok(Self {
            n,
            kernel_rows,
            width,
            m,
            cout,
            positions: g.ho * g.wo,
            geometry: g,
            upsampled: op.upsampled,
        })
    }

    /// Values in one output plane (one image, one channel).
    fn out_plane(&self) -> usize {
        if self.upsampled {
            4 * self.positions
        } else {
            self.positions
        }
    }

    /// The product rows feeding output plane `index` (image `index / Cout`, channel `co =
    /// index % Cout`), each with the offset `(dy, dx)` of its pixels in the 2x2 blocks of an
    /// upsampled output: row `co` at `(0, 0)`, or rows `(2 dy + dx) Cout + co` upsampled.
    fn feeds(&self, index: usize) -> impl Iterator<Item = (usize, usize, usize)> {
        let co = index % self.cout.max(1);
        let parts = if self.upsampled { 4 } else { 1 };
        (0..parts).map(move |q| (q * self.cout + co, q / 2, q % 2))
    }

    /// The output `[N, Cout, Ho', Wo']` from the product `[M, N * positions]` and the bias.
    fn images_from(&self, product: &[f32], bias: &[f32]) -> candle_core::Result<Vec<f32>> {
        let row_len = self.n * self.positions;
        let w = self.geometry.wo.max(1);
        let len = self.n * self.cout * self.out_plane();
        par_zeroed_chunks(len, self.out_plane().max(1), |index, out| {
            let ni = index / self.cout.max(1);
            for (row, dy, dx) in self.feeds(index) {
                let b = bias.get(row).copied().unwrap_or(0.0);
                let start = row * row_len + ni * self.positions;
                let Some(src) = product.get(start..start + self.positions) else {
                    continue;
                };
                if self.upsampled {
                    // Source row `oy` fills every other pixel of output row `2 oy + dy`.
                    for (oy, src) in src.chunks(w).enumerate() {
                        let first = (2 * oy + dy) * 2 * w + dx;
                        let dst = out.get_mut(first..).unwrap_or_default();
                        for (o, &v) in dst.iter_mut().step_by(2).zip(src) {
                            *o = v + b;
                        }
                    }
                } else {
                    for (o, &v) in out.iter_mut().zip(src) {
                        *o = v + b;
                    }
                }
            }
        })
    }

    /// The gradient of the product `[M, N * positions]` from the output's `dy`: the adjoint of
    /// [`images_from`](Self::images_from).
    fn product_gradient(&self, dy: &[f32]) -> candle_core::Result<Vec<f32>> {
        let row_len = self.n * self.positions;
        let plane = self.out_plane();
        let w = self.geometry.wo.max(1);
        par_zeroed_chunks(self.m * row_len, row_len.max(1), |row, out| {
            let (q, co) = (row / self.cout.max(1), row % self.cout.max(1));
            let (dy_offset, dx_offset) = (q / 2, q % 2);
            for (ni, out) in out.chunks_mut(self.positions.max(1)).enumerate() {
                let start = (ni * self.cout + co) * plane;
                let Some(src) = dy.get(start..start + plane) else {
                    continue;
                };
                if self.upsampled {
                    for (oy, out) in out.chunks_mut(w).enumerate() {
                        let first = (2 * oy + dy_offset) * 2 * w + dx_offset;
                        let src = src.get(first..).unwrap_or_default();
                        for (o, &v) in out.iter_mut().zip(src.iter().step_by(2)) {
                            *o = v;
                        }
                    }
                } else {
                    let n = out.len().min(src.len());
                    if let (Some(out), Some(src)) = (out.get_mut(..n), src.get(..n)) {
                        out.copy_from_slice(src);
                    }
                }
            }
        })
    }

    /// The output's shape.
    fn shape(&self) -> Shape {
        let (ho, wo) = (self.geometry.ho, self.geometry.wo);
        let k = if self.upsampled { 2 } else { 1 };
        Shape::from((self.n, self.cout, k * ho, k * wo))
    }
}

impl CustomOp3 for ConvOp {
    fn name(&self) -> &'static str {
        "vis-conv"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ks: &CpuStorage,
        kl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.geometry;
        let x = contiguous_f32(xs, xl)?;
        let kernels = contiguous_f32(ks, kl)?;
        let bias = contiguous_f32(bs, bl)?;
        let sizes = Product::new(*self, x.len(), kernels.len())?;
        let (kernel_rows, width, cout, m) = (sizes.kernel_rows, sizes.width, sizes.cout, sizes.m);
        if bias.len() != m {
            candle_core::bail!(
                "the convolution needs a bias of {m} values, got {}",
                bias.len()
            );
        }
        let taps = g.c * g.k * g.k;
        let row_len = sizes.n * sizes.positions;
        let columns = im2col(x, sizes.n, g, self.row_order())?;
        let kernels = Matrix::row_major(kernels, kernel_rows, width);
        let columns = Matrix::row_major(&columns, taps, row_len);
        let mut product = vec![0f32; m * row_len];
        for block in self.blocks(cout) {
            matmul_into(
                rows_mut(&mut product, block.product_row, cout, row_len)?,
                kernels.band(block.kernel_row, cout),
                columns.band(block.column_row, width),
                true,
            )?;
        }
        let y = sizes.images_from(&product, bias)?;
        Ok((CpuStorage::F32(y), sizes.shape()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        kernels: &Tensor,
        bias: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // An input that is no variable's result (a batch of images, a detached sample) needs
        // no gradient: the discriminator's first convolution skips it on real and detached
        // generated images.
        let input_grad = x.track_op();
        // Kernels of a frozen convolution need none either.
        let kernel_grad = kernels.track_op() || bias.track_op();
        if !input_grad && !kernel_grad {
            return Ok((None, None, None));
        }
        let backward = ConvBackward {
            op: *self,
            input_grad,
            kernel_grad,
        };
        let packed = x.apply_op3_no_bwd(kernels, &grad.contiguous()?, &backward)?;
        let len = if input_grad { x.elem_count() } else { 0 };
        let dx = match input_grad {
            true => Some(packed.narrow(0, 0, len)?.reshape(x.shape())?),
            false => None,
        };
        if !kernel_grad {
            return Ok((dx, None, None));
        }
        let (k_len, b_len) = (kernels.elem_count(), bias.elem_count());
        let dkernels = packed.narrow(0, len, k_len)?.reshape(kernels.shape())?;
        let dbias = packed
            .narrow(0, len + k_len, b_len)?
            .reshape(bias.shape())?;
        Ok((dx, Some(dkernels), Some(dbias)))
    }
}

/// The convolution's backward: `(x, kernels, dy)` to the gradients of the input (when
/// `input_grad`), the kernels and the bias (when `kernel_grad`), flat and in that order in
/// one buffer.
struct ConvBackward {
    op: ConvOp,
    input_grad: bool,
    kernel_grad: bool,
}

impl CustomOp3 for ConvBackward {
    fn name(&self) -> &'static str {
        "vis-conv-backward"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ks: &CpuStorage,
        kl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let op = self.op;
        let g = op.geometry;
        let x = contiguous_f32(xs, xl)?;
        let kernels = contiguous_f32(ks, kl)?;
        let dy = contiguous_f32(gs, gl)?;
        let sizes = Product::new(op, x.len(), kernels.len())?;
        let (kernel_rows, width, cout, m) = (sizes.kernel_rows, sizes.width, sizes.cout, sizes.m);
        if dy.len() != sizes.shape().elem_count() {
            candle_core::bail!("the convolution's backward got a gradient of another size");
        }
        let taps = g.c * g.k * g.k;
        let row_len = sizes.n * sizes.positions;
        let dproduct = sizes.product_gradient(dy)?;
        let dproduct = Matrix::row_major(&dproduct, m, row_len);
        let kernels = Matrix::row_major(kernels, kernel_rows, width);
        let blocks = op.blocks(cout);
        let mut out = if self.input_grad {
            // Blocks of the upsampled convolution share column rows: their parts add up.
            let mut dcolumns = vec![0f32; taps * row_len];
            for block in &blocks {
                matmul_into(
                    rows_mut(&mut dcolumns, block.column_row, width, row_len)?,
                    kernels.band(block.kernel_row, cout).t(),
                    dproduct.band(block.product_row, cout),
                    true,
                )?;
            }
            col2im(&dcolumns, sizes.n, g, op.row_order())?
        } else {
            Vec::new()
        };
        if self.kernel_grad {
            let columns = im2col(x, sizes.n, g, op.row_order())?;
            let columns = Matrix::row_major(&columns, taps, row_len);
            let mut dkernels = vec![0f32; kernel_rows * width];
            for block in &blocks {
                matmul_into(
                    rows_mut(&mut dkernels, block.kernel_row, cout, width)?,
                    dproduct.band(block.product_row, cout),
                    columns.band(block.column_row, width).t(),
                    false,
                )?;
            }
            out.extend_from_slice(&dkernels);
            // Each bias's gradient sums its product row (m rows, also when they are empty).
            out.extend((0..m).map(|row| {
                let values = dproduct.band(row, 1).values;
                let row = values.get(..row_len).unwrap_or_default();
                row.iter().map(|&v| f64::from(v)).sum::<f64>() as f32
            }));
        }
        let len = out.len();
        Ok((CpuStorage::F32(out), Shape::from(len)))
    }
}

/// Nearest-neighbour 2x upsampling `[N, C, H, W] -> [N, C, 2H, 2W]` by broadcasting, whose
/// backward is a sum (Candle's `upsample_nearest2d` backward runs a grouped convolution, one
/// group per channel).
pub fn upsample2x(x: &Tensor) -> candle_core::Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    x.reshape((n, c, h, 1, w, 1))?
        .broadcast_as((n, c, h, 2, w, 2))?
        .contiguous()?
        .reshape((n, c, 2 * h, 2 * w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{assert_same_gradients, max_diff};
    use candle_core::{DType, Device};

    #[test]
    fn upsampled_convolution_agrees_with_upsampling_first() {
        let dev = Device::Cpu;
        let vars = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &dev);
        let conv = Conv::new(5, 7, 3, 1, 1, vb).unwrap();
        let x =
            candle_core::Var::from_tensor(&Tensor::randn(0f32, 1., (2, 5, 4, 6), &dev).unwrap())
                .unwrap();
        let direct = conv.forward(&upsample2x(&x).unwrap()).unwrap();
        let fused = conv.forward_upsampled(&x).unwrap();
        assert_eq!(direct.dims(), fused.dims());
        assert!(max_diff(&direct, &fused) < 1e-5);
        let vars = vars.all_vars();
        let mut inputs = vec![("x", x.as_tensor())];
        inputs.extend(vars.iter().map(|v| ("weight or bias", v.as_tensor())));
        let rng = &mut vis_candle::SeededRng::new(5);
        assert_same_gradients(rng, &direct, &fused, &inputs, 1e-4, "upsampled");
    }

    /// A frozen convolution computes the same output and input gradient as the original, and
    /// no gradient for the weights it shares with it.
    #[test]
    fn a_frozen_convolution_passes_gradients_to_its_input_only() {
        let dev = Device::Cpu;
        let vars = candle_nn::VarMap::new();
        let conv = Conv::new(
            3,
            4,
            3,
            1,
            1,
            VarBuilder::from_varmap(&vars, DType::F32, &dev),
        )
        .unwrap();
        let frozen = conv.frozen();
        let x = candle_core::Var::randn(0f32, 1.0, (2, 3, 5, 5), &dev).unwrap();
        let values = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for upsampled in [false, true] {
            let run = |c: &Conv| match upsampled {
                true => c.forward_upsampled(x.as_tensor()).unwrap(),
                false => c.forward(x.as_tensor()).unwrap(),
            };
            let (a, b) = (run(&conv), run(&frozen));
            assert_eq!(values(&a), values(&b));
            let ga = (&a * &a).unwrap().sum_all().unwrap().backward().unwrap();
            let gb = (&b * &b).unwrap().sum_all().unwrap().backward().unwrap();
            assert_eq!(values(ga.get(&x).unwrap()), values(gb.get(&x).unwrap()));
            for weight in [&conv.weight, &conv.bias] {
                assert!(ga.get(weight).is_some() && gb.get(weight).is_none());
            }
        }
        // It sees the original's updates.
        let moved = (conv.weight.detach() + 1.0).unwrap();
        vars.all_vars()
            .iter()
            .find(|v| v.dims() == conv.weight.dims())
            .unwrap()
            .set(&moved)
            .unwrap();
        assert_eq!(values(&frozen.weight), values(&moved));
    }

    /// Kernels or a bias that do not fit the op's geometry are errors, forward and backward,
    /// never a panic or a product read out of bounds.
    #[test]
    fn kernels_and_biases_of_the_wrong_size_are_refused() {
        let dev = Device::Cpu;
        let x = Tensor::ones((2, 3, 4, 4), DType::F32, &dev).unwrap();
        let geometry = Geometry::new(3, 4, 4, 3, 1, 1).unwrap();
        let tensor = |len: usize| Tensor::ones(len, DType::F32, &dev).unwrap();
        for (upsampled, kernel_len, bias_len, want) in [
            // 27 values a kernel row plain, 6 upsampled (2 C).
            (false, 5 * 27 + 1, 5, "kernels [M, 27]"),
            (false, 5 * 27, 4, "a bias of 5 values"),
            (true, 8 * 6 + 6, 4, "8 kernel rows per output channel"),
            (true, 8 * 6, 3, "a bias of 4 values"),
        ] {
            let op = ConvOp {
                geometry,
                upsampled,
            };
            let (kernels, bias) = (tensor(kernel_len), tensor(bias_len));
            let err = x.apply_op3_no_bwd(&kernels, &bias, &op).unwrap_err();
            assert!(err.to_string().contains(want), "{err}");
            // The backward reads the same kernels: a misfit there is an error too.
            if !want.contains("bias") {
                let backward = ConvBackward {
                    op,
                    input_grad: true,
                    kernel_grad: true,
                };
                let dy = tensor(64);
                let err = x.apply_op3_no_bwd(&kernels, &dy, &backward).unwrap_err();
                assert!(err.to_string().contains(want), "{err}");
            }
        }
    }

    /// Inputs with no pixels or channels, and paddings whose sizes overflow, are errors that
    /// say so, never a panic, a wrong batch size or a product whose bounds check wrapped.
    #[test]
    fn empty_inputs_and_overflowing_sizes_are_refused() {
        let dev = Device::Cpu;
        let vars = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &dev);
        let conv = |padding: usize, name: &str| Conv::new(3, 2, 3, 1, padding, vb.pp(name));
        for (shape, want) in [((2, 3, 0, 4), "no pixels"), ((2, 0, 4, 4), "no channels")] {
            let x = Tensor::ones(shape, DType::F32, &dev).unwrap();
            let conv = Conv::new(shape.1, 2, 3, 1, 1, vb.pp(want)).unwrap();
            let err = conv.forward(&x).unwrap_err();
            assert!(err.to_string().contains(want), "{shape:?}: {err}");
        }
        let x = Tensor::ones((1, 3, 4, 4), DType::F32, &dev).unwrap();
        for padding in [usize::MAX / 2, usize::MAX / 4, 1 << 31] {
            let err = conv(padding, &format!("p{padding}"))
                .unwrap()
                .forward(&x)
                .unwrap_err();
            assert!(err.to_string().contains("too large"), "{padding}: {err}");
        }
        let geometry = Geometry::new(3, 4, 4, 3, 1, 1).unwrap();
        let wrapped = Matrix {
            values: &[0.0; 4],
            rows: 2,
            cols: 2,
            row_stride: usize::MAX / 2 + 1,
            col_stride: usize::MAX / 2 + 1,
        };
        assert!(!wrapped.fits(), "a stride that wraps fits nothing");
        assert!(
            Product::new(
                ConvOp {
                    geometry,
                    upsampled: false
                },
                3 * 16,
                2 * 27
            )
            .is_ok()
        );
    }

    /// A batch of no images (the last, empty batch of a loader, say) gives an empty output and
    /// zero kernel and bias gradients, plain and upsampled.
    #[test]
    fn a_batch_of_no_images_runs_forward_and_backward() {
        let dev = Device::Cpu;
        let vars = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &dev);
        let conv = Conv::new(3, 2, 3, 1, 1, vb.pp("c")).unwrap();
        let x = candle_core::Var::zeros((0, 3, 4, 4), DType::F32, &dev).unwrap();
        for (upsampled, want) in [(false, [0, 2, 4, 4]), (true, [0, 2, 8, 8])] {
            let y = match upsampled {
                false => conv.forward(&x),
                true => conv.forward_upsampled(&x),
            }
            .unwrap();
            assert_eq!(y.dims(), want);
            let grads = y.sum_all().unwrap().backward().unwrap();
            for (var, dims) in [(&conv.weight, vec![2, 3, 3, 3]), (&conv.bias, vec![2])] {
                let grad = grads.get(var).expect("a gradient for each weight");
                assert_eq!(grad.dims(), dims);
                assert_eq!(
                    grad.abs()
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap(),
                    0.0
                );
            }
        }
    }

    #[test]
    fn output_and_gradients_agree_with_candles_conv2d() {
        let dev = Device::Cpu;
        let mut rng = vis_candle::SeededRng::new(11);
        for (k, s, p, h, w) in [
            (3, 1, 1, 8, 8),
            (4, 2, 1, 8, 8),
            (3, 2, 1, 9, 9),
            (1, 1, 0, 5, 5),
            (5, 1, 2, 7, 7),
            // Candle's own backward is only right where the strides divide the size.
            (4, 2, 1, 6, 10),
            (3, 3, 2, 8, 5),
            (5, 2, 0, 5, 9),
        ] {
            let map = candle_nn::VarMap::new();
            let vb = VarBuilder::from_varmap(&map, DType::F32, &dev);
            let conv = Conv::new(3, 5, k, s, p, vb).unwrap();
            let x = candle_core::Var::randn(0f32, 1.0, (2, 3, h, w), &dev).unwrap();
            let ours = conv.forward(x.as_tensor()).unwrap();
            let theirs = x
                .conv2d(&conv.weight, p, s, 1, 1)
                .unwrap()
                .broadcast_add(&conv.bias.reshape((1, 5, 1, 1)).unwrap())
                .unwrap();
            assert_eq!(ours.dims(), theirs.dims(), "k {k} s {s}");
            assert!(max_diff(&ours, &theirs) < 1e-4, "k {k} s {s}");
            assert_same_gradients(
                &mut rng,
                &ours,
                &theirs,
                &[
                    ("x", x.as_tensor()),
                    ("weight", &conv.weight),
                    ("bias", &conv.bias),
                ],
                1e-3,
                &format!("k {k} s {s}"),
            );
        }
    }

    /// Columns by the definition, one element at a time.
    fn im2col_by_definition(x: &[f32], n: usize, g: Geometry) -> Vec<f32> {
        let positions = g.ho * g.wo;
        let mut columns = vec![0f32; g.c * g.k * g.k * n * positions];
        for ci in 0..g.c {
            for ky in 0..g.k {
                for kx in 0..g.k {
                    let row = (ci * g.k + ky) * g.k + kx;
                    for ni in 0..n {
                        for oy in 0..g.ho {
                            for ox in 0..g.wo {
                                let iy = (oy * g.s + ky) as isize - g.p as isize;
                                let ix = (ox * g.s + kx) as isize - g.p as isize;
                                if (0..g.h as isize).contains(&iy)
                                    && (0..g.w as isize).contains(&ix)
                                {
                                    columns
                                        [row * n * positions + ni * positions + oy * g.wo + ox] = x
                                        [((ni * g.c + ci) * g.h + iy as usize) * g.w + ix as usize];
                                }
                            }
                        }
                    }
                }
            }
        }
        columns
    }

    /// Channels, sizes, kernels, strides and paddings, with strides that do not divide the
    /// sizes and paddings wider than the kernel.
    fn geometries() -> Vec<Geometry> {
        [
            (3, 8, 8, 3, 1, 1),
            (2, 9, 6, 4, 2, 1),
            (1, 5, 11, 3, 3, 2),
            (2, 4, 4, 5, 1, 3),
            (3, 7, 5, 1, 2, 0),
            // Stride 1 keeping the width: each tap's positions are one shifted run.
            (2, 5, 7, 3, 1, 1),
            (3, 4, 6, 1, 1, 0),
        ]
        .into_iter()
        .map(|(c, h, w, k, s, p)| Geometry::new(c, h, w, k, s, p).unwrap())
        .collect()
    }

    #[test]
    fn columns_are_exactly_the_definitions() {
        for g in geometries() {
            let (c, h, w) = (g.c, g.h, g.w);
            let x = Tensor::randn(0f32, 1.0, (2, c, h, w), &Device::Cpu).unwrap();
            let values = x.flatten_all().unwrap().to_vec1().unwrap();
            let want = im2col_by_definition(&values, 2, g);
            assert_eq!(
                im2col(&values, 2, g, RowOrder::ChannelMajor).unwrap(),
                want,
                "{g:?}"
            );
            // Tap-major: the same rows, reordered.
            let row_len = 2 * g.ho * g.wo;
            let tap_major = im2col(&values, 2, g, RowOrder::TapMajor).unwrap();
            for ci in 0..g.c {
                for tap in 0..g.k * g.k {
                    let (ours, theirs) = (
                        RowOrder::TapMajor.row(&g, ci, tap),
                        RowOrder::ChannelMajor.row(&g, ci, tap),
                    );
                    assert_eq!(
                        tap_major[ours * row_len..(ours + 1) * row_len],
                        want[theirs * row_len..(theirs + 1) * row_len],
                        "{g:?}"
                    );
                }
            }
        }
    }

    /// Col2Im is the adjoint of Im2Col: <im2col(x), y> = <x, col2im(y)>, also where the
    /// strides do not divide the sizes.
    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        for (g, order) in geometries()
            .into_iter()
            .flat_map(|g| [(g, RowOrder::ChannelMajor), (g, RowOrder::TapMajor)])
        {
            let (c, h, w) = (g.c, g.h, g.w);
            let x = Tensor::randn(0f32, 1.0, (2, c, h, w), &Device::Cpu).unwrap();
            let values = x.flatten_all().unwrap().to_vec1().unwrap();
            let columns = im2col(&values, 2, g, order).unwrap();
            let columns =
                Tensor::from_vec(columns, (g.c * g.k * g.k, 2 * g.ho * g.wo), &Device::Cpu)
                    .unwrap();
            let y = Tensor::randn(0f32, 1.0, columns.dims(), &Device::Cpu).unwrap();
            let back = col2im(&y.flatten_all().unwrap().to_vec1().unwrap(), 2, g, order).unwrap();
            let back = Tensor::from_vec(back, x.dims(), &Device::Cpu).unwrap();
            let dot = |a: &Tensor, b: &Tensor| {
                (a.to_dtype(DType::F64).unwrap() * b.to_dtype(DType::F64).unwrap())
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f64>()
                    .unwrap()
            };
            let (lhs, rhs) = (dot(&columns, &y), dot(&x, &back));
            assert!(
                (lhs - rhs).abs() < 1e-4 * lhs.abs().max(1.0),
                "{g:?}: {lhs} vs {rhs}"
            );
        }
    }

    /// Every chunk starts at 0, whatever the allocator held before, and the last one is
    /// the remainder.
    #[test]
    fn zeroed_chunks_are_zero_where_not_filled() {
        for (len, chunk) in [(0, 4), (10, 4), (12, 4), (7, 1), (5, 9), (3, 0)] {
            // Dirty the allocator's free lists with buffers of the same size first.
            drop(vec![f32::NAN; len]);
            let got = par_zeroed_chunks(len, chunk, |index, part| {
                if let Some(first) = part.first_mut() {
                    *first = index as f32 + 1.0;
                }
            })
            .unwrap();
            let chunk = chunk.max(1);
            let want: Vec<f32> = (0..len)
                .map(|i| {
                    if i % chunk == 0 {
                        (i / chunk) as f32 + 1.0
                    } else {
                        0.0
                    }
                })
                .collect();
            assert_eq!(got, want, "len {len} chunk {chunk}");
        }
    }

    /// A chunk is what its fill wrote, in order, then zeros, whatever the allocator held
    /// before; writes past a chunk's end are dropped, and a source that runs out pads with 0.
    #[test]
    fn written_chunks_are_their_writes_then_zeros() {
        for (len, chunk) in [(0, 4), (10, 4), (12, 4), (7, 1), (5, 9), (3, 0)] {
            drop(vec![f32::NAN; len]);
            let got = par_written_chunks(len, chunk, |index, out| {
                out.zeros_until(1);
                // Two values of the index, every second one of four, then one beyond the source.
                out.strided(&[index as f32 + 1.0, 0.5, index as f32 + 1.0, 0.5], 2, 3);
            })
            .unwrap();
            let chunk = chunk.max(1);
            let want: Vec<f32> = (0..len)
                .map(|i| match i % chunk {
                    1 | 2 => (i / chunk) as f32 + 1.0,
                    _ => 0.0,
                })
                .collect();
            assert_eq!(got, want, "len {len} chunk {chunk}");
        }
    }

    #[test]
    fn upsamples_like_candle() {
        let x = Tensor::randn(0f32, 1.0, (2, 3, 5, 7), &Device::Cpu).unwrap();
        let ours = upsample2x(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let theirs = x.upsample_nearest2d(10, 14).unwrap();
        assert_eq!(
            ours,
            theirs.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }
}
