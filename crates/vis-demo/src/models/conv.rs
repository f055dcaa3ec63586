//! A 2-D convolution as im2col + one matrix product. Candle 0.11's CPU `conv2d` is a direct
//! tiled convolution and its backward pass a direct transposed convolution; on the demo's
//! models a training step spends most of its time there. Here the columns are gathered by a
//! small custom op (whose backward scatters them back), and the product and its gradients are
//! Candle's matrix multiplication on GEMM. Weights have the names and shapes of
//! `candle_nn::Conv2d`. A 3x3 convolution of an image upsampled 2x (the generators'
//! resize-convolution) runs on the small image instead ([`Conv::forward_upsampled`]): a
//! quarter of the columns, no upsampled copy, and the DCGAN's step 1.5x as fast.

use std::mem::MaybeUninit;
use std::ops::Range;

use candle_core::{CpuStorage, CustomOp1, Layout, Module, Shape, Tensor};
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
        let (n, c, h, w) = x.dims4()?;
        let cout = self.weight.dim(0)?;
        let dev = x.device();
        // Rows: the low-resolution tap (offset -1, 0, +1); columns: the kernel tap it sums.
        let even = Tensor::from_vec(vec![1f32, 0., 0., 0., 1., 1., 0., 0., 0.], (3, 3), dev)?;
        let odd = Tensor::from_vec(vec![0f32, 0., 0., 1., 1., 0., 0., 0., 1.], (3, 3), dev)?;
        let taps = self.weight.reshape((cout * c, 3, 3))?;
        let mut kernels = Vec::with_capacity(4);
        for rows in [&even, &odd] {
            for cols in [&even, &odd] {
                let k = rows.broadcast_matmul(&taps)?.broadcast_matmul(&cols.t()?)?;
                kernels.push(k.reshape((cout, c * 9))?);
            }
        }
        let kernels = Tensor::cat(&kernels, 0)?;
        let geometry = Geometry::new(c, h, w, 3, 1, 1)?;
        let columns = x.contiguous()?.apply_op1(Im2Col(geometry))?;
        let bias = self
            .bias
            .reshape((1, cout, 1))?
            .broadcast_as((4, cout, 1))?
            .reshape((4 * cout, 1))?;
        kernels
            .matmul(&columns)?
            .broadcast_add(&bias)?
            .reshape((2, 2, cout, n, h, w))?
            .permute((3, 2, 4, 0, 5, 1))?
            .reshape((n, cout, 2 * h, 2 * w))
    }
}

impl Module for Conv {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let geometry = Geometry::new(c, h, w, self.kernel, self.stride, self.padding)?;
        let (ho, wo) = (geometry.ho, geometry.wo);
        let cout = self.weight.dim(0)?;
        let columns = x.contiguous()?.apply_op1(Im2Col(geometry))?;
        // The bias is added while each channel's outputs are one contiguous row, so its
        // gradient is a sum along rows (a strided sum over images and pixels costs a tenth
        // of a DDPM step).
        self.weight
            .reshape((cout, c * self.kernel * self.kernel))?
            .matmul(&columns)?
            .broadcast_add(&self.bias.reshape((cout, 1))?)?
            .reshape((cout, n, ho, wo))?
            .transpose(0, 1)?
            .contiguous()
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
        for (d, s) in dst.iter_mut().step_by(step).zip(src) {
            *d += *s;
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
struct Im2Col(Geometry);

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "vis-im2col"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.0;
        let x = contiguous_f32(storage, layout)?;
        let plane = (g.h * g.w).max(1);
        let n = x.len() / (g.c * plane).max(1);
        let positions = (g.ho * g.wo).max(1);
        let columns = par_zeroed_chunks(
            g.c * g.k * g.k * n * positions,
            n * positions,
            |row, out| {
                let (ci, ky, kx) = (row / (g.k * g.k), row / g.k % g.k, row % g.k);
                let images = x.chunks(plane).skip(ci).step_by(g.c.max(1));
                for (image, out) in images.zip(out.chunks_mut(positions)) {
                    // Positions whose tap lands outside the image stay 0.
                    for (pixels, taps) in g.spans(ky, kx) {
                        if let (Some(src), Some(dst)) = (image.get(pixels), out.get_mut(taps)) {
                            gather(dst, src, g.s);
                        }
                    }
                }
            },
        )?;
        let shape = Shape::from((g.c * g.k * g.k, n * g.ho * g.wo));
        Ok((CpuStorage::F32(columns), shape))
    }

    fn bwd(&self, x: &Tensor, _: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let n = x.dim(0)?;
        Ok(Some(
            grad.contiguous()?.apply_op1_no_bwd(&Col2Im(self.0, n))?,
        ))
    }
}

/// The adjoint of [`Im2Col`] for `N` images: columns back to `[N, C, H, W]`, summing the
/// taps that read the same pixel.
struct Col2Im(Geometry, usize);

impl CustomOp1 for Col2Im {
    fn name(&self) -> &'static str {
        "vis-col2im"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (g, n) = (self.0, self.1);
        let columns = contiguous_f32(storage, layout)?;
        let plane = (g.h * g.w).max(1);
        let positions = g.ho * g.wo;
        let row_len = n * positions;
        let x = par_zeroed_chunks(n * g.c * g.h * g.w, plane, |index, image| {
            let (ni, ci) = (index / g.c.max(1), index % g.c.max(1));
            for ky in 0..g.k {
                for kx in 0..g.k {
                    let start = ((ci * g.k + ky) * g.k + kx) * row_len + ni * positions;
                    let Some(column) = columns.get(start..start + positions) else {
                        continue;
                    };
                    for (pixels, taps) in g.spans(ky, kx) {
                        if let (Some(src), Some(dst)) = (column.get(taps), image.get_mut(pixels)) {
                            scatter_add(dst, src, g.s);
                        }
                    }
                }
            }
        })?;
        Ok((CpuStorage::F32(x), Shape::from((n, g.c, g.h, g.w))))
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
            let ours = x.apply_op1(Im2Col(g)).unwrap();
            let want = im2col_by_definition(&x.flatten_all().unwrap().to_vec1().unwrap(), 2, g);
            assert_eq!(
                ours.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                want,
                "{g:?}"
            );
        }
    }

    /// Col2Im is the adjoint of Im2Col: <im2col(x), y> = <x, col2im(y)>, also where the
    /// strides do not divide the sizes.
    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        for g in geometries() {
            let (c, h, w) = (g.c, g.h, g.w);
            let x = Tensor::randn(0f32, 1.0, (2, c, h, w), &Device::Cpu).unwrap();
            let columns = x.apply_op1(Im2Col(g)).unwrap();
            let y = Tensor::randn(0f32, 1.0, columns.dims(), &Device::Cpu).unwrap();
            let back = y.apply_op1_no_bwd(&Col2Im(g, 2)).unwrap();
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
