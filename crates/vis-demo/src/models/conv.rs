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
    /// Weights `[cout, cin, k, k]` and bias `[cout]` from `vb` (`weight`, `bias`).
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
        // One product maps every 3x3 kernel to its four summed ones: a batch of 3x3 products
        // per channel pair cost the DCGAN's generator a third of its forward pass.
        let taps = Tensor::from_slice(&UPSAMPLED_TAPS, (9, 36), x.device())?;
        let kernels = self
            .weight
            .reshape((cout * c, 9))?
            .matmul(&taps)?
            .reshape((cout, c, 4, 9))?
            .permute((2, 0, 1, 3))?
            .contiguous()?
            .reshape((4 * cout, c * 9))?;
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
/// (rows), for an output pixel at an even and at an odd position of the upsampled image.
const EVEN: [[f32; 3]; 3] = [[1., 0., 0.], [0., 1., 1.], [0., 0., 0.]];
const ODD: [[f32; 3]; 3] = [[0., 0., 0.], [1., 1., 0.], [0., 0., 1.]];

/// The linear map `[9, 36]` from a 3x3 kernel's taps `(i, j)` to the four kernels, one per
/// output pixel `(dy, dx)` of a 2x2 block, over the small image's taps `(a, b)`: column
/// `(2 dy + dx) * 9 + 3 a + b` sums the taps `(i, j)` with `rows[a][i] * cols[b][j]`.
// Evaluated at compile time, where an index out of range fails the build instead of panicking.
#[allow(clippy::indexing_slicing)]
const UPSAMPLED_TAPS: [f32; 324] = {
    let mut map = [0f32; 324];
    let parities = [EVEN, ODD];
    let mut q = 0;
    while q < 4 {
        let (rows, cols) = (parities[q / 2], parities[q % 2]);
        let mut tap = 0;
        while tap < 81 {
            let (i, j, a, b) = (tap / 27, tap / 9 % 3, tap / 3 % 3, tap % 3);
            map[(i * 3 + j) * 36 + q * 9 + a * 3 + b] = rows[a][i] * cols[b][j];
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
        if h + 2 * p < k || w + 2 * p < k || k == 0 {
            candle_core::bail!(
                "a {k}x{k} convolution needs an input of at least {k}x{k}, got {h}x{w}"
            );
        }
        let (ho, wo) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
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

/// `dst[i] = src[i * step]` for every `i` that both hold.
#[inline(always)]
fn gather(dst: &mut [f32], src: &[f32], step: usize) {
    if step == 1 {
        let n = dst.len().min(src.len());
        if let (Some(d), Some(s)) = (dst.get_mut(..n), src.get(..n)) {
            d.copy_from_slice(s);
        }
    } else {
        for (d, s) in dst.iter_mut().zip(src.iter().step_by(step)) {
            *d = *s;
        }
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
    let mut buffer: Vec<f32> = Vec::with_capacity(len);
    let Some(spare) = buffer.spare_capacity_mut().get_mut(..len) else {
        candle_core::bail!("could not allocate a buffer of {len} values");
    };
    spare
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .for_each(|(index, part)| {
            for value in part.iter_mut() {
                value.write(0.0);
            }
            // SAFETY: every element of `part` was initialised just above, and
            // `MaybeUninit<f32>` has the size, alignment and validity of `f32`.
            let part = unsafe { &mut *(part as *mut [MaybeUninit<f32>] as *mut [f32]) };
            fill(index, part);
        });
    // SAFETY: the chunks above cover the first `len` elements, each initialised to 0 before
    // `fill` wrote to it.
    unsafe { buffer.set_len(len) };
    Ok(buffer)
}

pub(crate) fn contiguous_f32<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(values), Some((start, end))) => values
            .get(start..end)
            .ok_or_else(|| candle_core::Error::Msg("tensor storage out of range".into())),
        _ => candle_core::bail!("the convolution takes contiguous f32 tensors"),
    }
}

/// `[N, C, H, W]` to columns `[C * K * K, N * Ho * Wo]`: row `(c, ky, kx)` holds, for every
/// image and output position, the input pixel under kernel tap `(ky, kx)` (zero outside).
fn im2col(x: &[f32], n: usize, g: Geometry) -> candle_core::Result<Vec<f32>> {
    let plane = (g.h * g.w).max(1);
    let positions = (g.ho * g.wo).max(1);
    let spans = g.all_spans();
    par_zeroed_chunks(
        g.c * g.k * g.k * n * positions,
        n * positions,
        |row, out| {
            let (ci, tap) = (row / (g.k * g.k), row % (g.k * g.k));
            let Some(spans) = spans.get(tap) else {
                return;
            };
            let images = x.chunks(plane).skip(ci).step_by(g.c.max(1));
            for (image, out) in images.zip(out.chunks_mut(positions)) {
                // Positions whose tap lands outside the image stay 0.
                for (pixels, taps) in spans {
                    if let (Some(src), Some(dst)) =
                        (image.get(pixels.clone()), out.get_mut(taps.clone()))
                    {
                        gather(dst, src, g.s);
                    }
                }
            }
        },
    )
}

/// The adjoint of [`im2col`] for `n` images: columns back to `[N, C, H, W]`, summing the taps
/// that read the same pixel.
fn col2im(columns: &[f32], n: usize, g: Geometry) -> candle_core::Result<Vec<f32>> {
    let plane = (g.h * g.w).max(1);
    let positions = g.ho * g.wo;
    let row_len = n * positions;
    let spans = g.all_spans();
    par_zeroed_chunks(n * g.c * g.h * g.w, plane, |index, image| {
        let (ni, ci) = (index / g.c.max(1), index % g.c.max(1));
        for (tap, spans) in spans.iter().enumerate() {
            let start = (ci * g.k * g.k + tap) * row_len + ni * positions;
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

    /// Whether every element lies inside `values`.
    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride
                < self.values.len()
    }
}

/// `a b` as a new row-major matrix, on GEMM (the crate behind Candle's `matmul`) with rayon's
/// threads.
fn matmul(a: Matrix<'_>, b: Matrix<'_>) -> candle_core::Result<Vec<f32>> {
    if a.cols != b.rows || !a.fits() || !b.fits() {
        candle_core::bail!(
            "a product of a {}x{} and a {}x{} matrix, or a matrix outside its values",
            a.rows,
            a.cols,
            b.rows,
            b.cols
        );
    }
    let mut dst = vec![0f32; a.rows * b.cols];
    if dst.is_empty() || a.cols == 0 {
        return Ok(dst);
    }
    let threads = rayon::current_num_threads();
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let stride = |s: usize| s as isize;
    // SAFETY: `dst` holds `a.rows x b.cols` row-major values, written and not read
    // (`read_dst` false); `fits` checked above that every element `a` and `b` address lies in
    // their slices, which outlive the call and do not overlap `dst`.
    unsafe {
        gemm::gemm(
            a.rows,
            b.cols,
            a.cols,
            dst.as_mut_ptr(),
            1,
            stride(b.cols),
            false,
            a.values.as_ptr(),
            stride(a.col_stride),
            stride(a.row_stride),
            b.values.as_ptr(),
            stride(b.col_stride),
            stride(b.row_stride),
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
    Ok(dst)
}

/// The convolution op: `(x [N, C, H, W], kernels [M, C * K * K], bias [M])` to the output,
/// where the product's rows are the output channels (`M = Cout`), or with `upsampled` the
/// four kernels of each output channel on the image upsampled 2x (`M = 4 Cout`, row
/// `(2 dy + dx) * Cout + co` for the output pixel `(2 oy + dy, 2 ox + dx)`).
#[derive(Clone, Copy, Debug)]
struct ConvOp {
    geometry: Geometry,
    upsampled: bool,
}

/// Where the product's values go in the output: sizes of one call.
#[derive(Clone, Copy, Debug)]
struct Product {
    /// Images.
    n: usize,
    /// Rows of the product (kernels).
    m: usize,
    /// Output channels.
    cout: usize,
    /// Output positions of the convolution on one image (`Ho * Wo`).
    positions: usize,
    geometry: Geometry,
    upsampled: bool,
}

impl Product {
    fn new(op: ConvOp, x_len: usize, m: usize) -> candle_core::Result<Self> {
        let g = op.geometry;
        let n = x_len / (g.c * g.h * g.w).max(1);
        let cout = if op.upsampled { m / 4 } else { m };
        if n * g.c * g.h * g.w != x_len || (op.upsampled && !m.is_multiple_of(4)) {
            candle_core::bail!("the convolution's input or kernels do not fit its geometry");
        }
        Ok(Self {
            n,
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
                    gather(out, src, 1);
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
        let taps = g.c * g.k * g.k;
        let m = kernels.len() / taps.max(1);
        let sizes = Product::new(*self, x.len(), m)?;
        if m * taps != kernels.len() || bias.len() != m {
            candle_core::bail!(
                "the convolution needs kernels [M, {taps}] and a bias [M], got {} and {} values",
                kernels.len(),
                bias.len()
            );
        }
        let columns = im2col(x, sizes.n, g)?;
        let row_len = sizes.n * sizes.positions;
        let product = matmul(
            Matrix::row_major(kernels, m, taps),
            Matrix::row_major(&columns, taps, row_len),
        )?;
        drop(columns);
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
        let backward = ConvBackward {
            op: *self,
            input_grad,
        };
        let packed = x.apply_op3_no_bwd(kernels, &grad.contiguous()?, &backward)?;
        let len = if input_grad { x.elem_count() } else { 0 };
        let (k_len, b_len) = (kernels.elem_count(), bias.elem_count());
        let dx = match input_grad {
            true => Some(packed.narrow(0, 0, len)?.reshape(x.shape())?),
            false => None,
        };
        let dkernels = packed.narrow(0, len, k_len)?.reshape(kernels.shape())?;
        let dbias = packed
            .narrow(0, len + k_len, b_len)?
            .reshape(bias.shape())?;
        Ok((dx, Some(dkernels), Some(dbias)))
    }
}

/// The convolution's backward: `(x, kernels, dy)` to the gradients of the input (when
/// `input_grad`), the kernels and the bias, flat and in that order in one buffer.
struct ConvBackward {
    op: ConvOp,
    input_grad: bool,
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
        let g = self.op.geometry;
        let x = contiguous_f32(xs, xl)?;
        let kernels = contiguous_f32(ks, kl)?;
        let dy = contiguous_f32(gs, gl)?;
        let taps = g.c * g.k * g.k;
        let m = kernels.len() / taps.max(1);
        let sizes = Product::new(self.op, x.len(), m)?;
        if dy.len() != sizes.shape().elem_count() {
            candle_core::bail!("the convolution's backward got a gradient of another size");
        }
        let row_len = sizes.n * sizes.positions;
        let dproduct = sizes.product_gradient(dy)?;
        let dproduct = Matrix::row_major(&dproduct, m, row_len);
        let dbias: Vec<f32> = dproduct
            .values
            .par_chunks(row_len.max(1))
            .map(|row| row.iter().map(|&v| f64::from(v)).sum::<f64>() as f32)
            .collect();
        let columns = im2col(x, sizes.n, g)?;
        let dkernels = matmul(dproduct, Matrix::row_major(&columns, taps, row_len).t())?;
        drop(columns);
        let mut out = if self.input_grad {
            let dcolumns = matmul(Matrix::row_major(kernels, m, taps).t(), dproduct)?;
            col2im(&dcolumns, sizes.n, g)?
        } else {
            Vec::with_capacity(dkernels.len() + dbias.len())
        };
        out.extend_from_slice(&dkernels);
        out.extend_from_slice(&dbias);
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
    use crate::models::max_diff;
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
        let probe = Tensor::randn(0f32, 1., direct.dims(), &dev).unwrap();
        let gd = (&direct * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let gf = (&fused * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in vars.all_vars().iter().chain([&x]) {
            let (a, b) = (gd.get(v).unwrap(), gf.get(v).unwrap());
            assert!(max_diff(a, b) < 1e-4, "{}", max_diff(a, b));
        }
    }

    #[test]
    fn output_and_gradients_agree_with_candles_conv2d() {
        let dev = Device::Cpu;
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
            let mix = Tensor::randn(0f32, 1.0, ours.dims(), &dev).unwrap();
            let ours = (ours * &mix)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let theirs = (theirs * &mix)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for (name, t) in [
                ("x", x.as_tensor()),
                ("weight", &conv.weight),
                ("bias", &conv.bias),
            ] {
                let (a, b) = (ours.get(t).unwrap(), theirs.get(t).unwrap());
                assert_eq!(a.dims(), b.dims(), "{name} k {k} s {s}");
                assert!(
                    max_diff(a, b) < 1e-3,
                    "{name} k {k} s {s}: {}",
                    max_diff(a, b)
                );
            }
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
            let ours = im2col(&values, 2, g).unwrap();
            assert_eq!(ours, im2col_by_definition(&values, 2, g), "{g:?}");
        }
    }

    /// Col2Im is the adjoint of Im2Col: <im2col(x), y> = <x, col2im(y)>, also where the
    /// strides do not divide the sizes.
    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        for g in geometries() {
            let (c, h, w) = (g.c, g.h, g.w);
            let x = Tensor::randn(0f32, 1.0, (2, c, h, w), &Device::Cpu).unwrap();
            let values = x.flatten_all().unwrap().to_vec1().unwrap();
            let columns = im2col(&values, 2, g).unwrap();
            let columns =
                Tensor::from_vec(columns, (g.c * g.k * g.k, 2 * g.ho * g.wo), &Device::Cpu)
                    .unwrap();
            let y = Tensor::randn(0f32, 1.0, columns.dims(), &Device::Cpu).unwrap();
            let back = col2im(&y.flatten_all().unwrap().to_vec1().unwrap(), 2, g).unwrap();
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
