//! The fused per-pixel kernels (map, clamp, quantize, channel order, interleave) and the choice
//! between them: the scalar reference, the SIMD kernels (AVX2 intrinsics on x86-64 CPUs that
//! have it, `wide` everywhere else), and the SIMD kernel spread over rayon's threads.

#[cfg(target_arch = "x86_64")]
mod avx2;
mod scalar;
mod wide;

use half::{bf16, f16};

use crate::batch::{Elements, Sample};
use crate::pixel::PixelOp;

/// Which implementation draws the grid. All give the same bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Kernel {
    /// The scalar reference, one pixel at a time, on the calling thread.
    Scalar,
    /// The fastest SIMD kernel this CPU runs, on the calling thread: AVX2 where the CPU has
    /// it (x86-64), else `Wide`.
    Simd,
    /// The portable SIMD kernel (`wide`: SSE2 on x86-64, NEON on aarch64), on the calling
    /// thread, whatever the CPU. `Simd` uses it where AVX2 is missing.
    Wide,
    /// The SIMD kernel over bands of rows on rayon's current thread pool.
    Parallel,
    /// `Parallel` for canvases of at least [`PARALLEL_MIN_PIXELS`] when the pool has more than
    /// one thread, else `Simd`.
    #[default]
    Auto,
}

/// Canvas size (output pixels) from which [`Kernel::Auto`] spreads work over threads; below it,
/// a grid takes well under a millisecond and threads cost more than they give.
pub const PARALLEL_MIN_PIXELS: usize = 1 << 20;

/// How the SIMD kernels load eight samples of a type as f32 lanes. Sealed: it is declared in a
/// private module, so only the types here implement it.
pub trait SimdSample: Sized + Copy {
    /// Eight samples as `wide` lanes.
    fn load_wide(src: &[Self; 8]) -> ::wide::f32x8;

    /// Eight samples in a 256-bit register.
    ///
    /// # Safety
    /// The CPU must have AVX2 and F16C.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load_avx2(src: &[Self; 8]) -> core::arch::x86_64::__m256;
}

impl SimdSample for f32 {
    #[inline(always)]
    fn load_wide(src: &[f32; 8]) -> ::wide::f32x8 {
        ::wide::f32x8::new(*src)
    }

    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn load_avx2(src: &[f32; 8]) -> core::arch::x86_64::__m256 {
        // SAFETY: reads exactly the 32 bytes of `src`, unaligned.
        unsafe { core::arch::x86_64::_mm256_loadu_ps(src.as_ptr()) }
    }
}

impl SimdSample for u8 {
    #[inline(always)]
    fn load_wide(src: &[u8; 8]) -> ::wide::f32x8 {
        ::wide::f32x8::new(src.map(f32::from))
    }

    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn load_avx2(src: &[u8; 8]) -> core::arch::x86_64::__m256 {
        use core::arch::x86_64::{_mm_loadl_epi64, _mm256_cvtepi32_ps, _mm256_cvtepu8_epi32};
        // SAFETY: reads exactly the 8 bytes of `src`, unaligned.
        let bytes = unsafe { _mm_loadl_epi64(src.as_ptr().cast()) };
        _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes))
    }
}

impl SimdSample for bf16 {
    #[inline(always)]
    fn load_wide(src: &[bf16; 8]) -> ::wide::f32x8 {
        let bits = ::wide::u32x8::from(::wide::u16x8::new(src.map(bf16::to_bits)));
        bytemuck::cast(bits << 16)
    }

    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn load_avx2(src: &[bf16; 8]) -> core::arch::x86_64::__m256 {
        use core::arch::x86_64::{
            _mm_loadu_si128, _mm256_castsi256_ps, _mm256_cvtepu16_epi32, _mm256_slli_epi32,
        };
        // SAFETY: reads exactly the 16 bytes of `src`, unaligned.
        let bits = unsafe { _mm_loadu_si128(src.as_ptr().cast()) };
        _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(bits)))
    }
}

impl SimdSample for f16 {
    #[inline(always)]
    fn load_wide(src: &[f16; 8]) -> ::wide::f32x8 {
        wide::f16x8_to_f32x8(src.map(f16::to_bits))
    }

    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn load_avx2(src: &[f16; 8]) -> core::arch::x86_64::__m256 {
        use core::arch::x86_64::{_mm_loadu_si128, _mm256_cvtph_ps};
        // SAFETY: reads exactly the 16 bytes of `src`, unaligned.
        _mm256_cvtph_ps(unsafe { _mm_loadu_si128(src.as_ptr().cast()) })
    }
}

/// Which per-row code a (resolved) kernel runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RowCode {
    /// The scalar reference.
    Scalar,
    /// The portable `wide` kernel.
    Wide,
    /// The AVX2 kernel; only ever made by [`RowCode::fastest`] after checking the CPU.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl RowCode {
    /// The fastest SIMD code this CPU runs.
    pub(crate) fn fastest() -> Self {
        #[cfg(target_arch = "x86_64")]
        if avx2::available() {
            return RowCode::Avx2;
        }
        RowCode::Wide
    }

    /// Draws `rows` rows of `w` pixels: channel rows are read from `data` at `starts` (one
    /// offset per output channel, rows `w` apart), written to `dst` (from its first byte, rows
    /// `stride` bytes apart).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fill(
        self,
        data: Elements<'_>,
        starts: [usize; 3],
        w: usize,
        rows: usize,
        dst: &mut [u8],
        stride: usize,
        op: &PixelOp,
    ) {
        /// Runs `code` on the three planes of `data` at `starts`, if they exist.
        #[allow(clippy::too_many_arguments)]
        fn run<T: Sample>(
            code: RowCode,
            data: &[T],
            starts: [usize; 3],
            w: usize,
            rows: usize,
            dst: &mut [u8],
            stride: usize,
            op: &PixelOp,
        ) {
            let len = w.saturating_mul(rows);
            let plane = |s: usize| data.get(s..s.checked_add(len)?);
            // The plan computes `starts` from checked dimensions, so the planes always exist;
            // an impossible miss leaves the bytes alone rather than panicking.
            let (Some(r), Some(g), Some(b)) =
                (plane(starts[0]), plane(starts[1]), plane(starts[2]))
            else {
                return;
            };
            let rect = Rect {
                src: [r, g, b],
                w,
                dst,
                stride,
            };
            match code {
                RowCode::Scalar => scalar::fill(rect, op),
                RowCode::Wide => wide::fill(rect, op),
                // SAFETY: `Avx2` is only made by `fastest`, after `avx2::available()`.
                #[cfg(target_arch = "x86_64")]
                RowCode::Avx2 => unsafe { avx2::fill(rect, op) },
            }
        }
        match data {
            Elements::F32(d) => run(self, d, starts, w, rows, dst, stride, op),
            Elements::F16(d) => run(self, d, starts, w, rows, dst, stride, op),
            Elements::Bf16(d) => run(self, d, starts, w, rows, dst, stride, op),
            Elements::U8(d) => run(self, d, starts, w, rows, dst, stride, op),
        }
    }
}

/// A rectangle for a kernel: rows of `w` pixels whose channel rows follow each other in `src`
/// (one slice per output channel, `rows * w` long), drawn into `dst` rows `stride` bytes apart
/// (`dst` starts at the first pixel of the first row).
pub(crate) struct Rect<'s, 'd, T> {
    src: [&'s [T]; 3],
    w: usize,
    dst: &'d mut [u8],
    stride: usize,
}

impl<'s, T> Rect<'s, '_, T> {
    /// Calls `row` with the channel rows and the destination bytes (`3 * w`) of every row.
    #[inline(always)]
    pub(crate) fn for_each_row(self, mut row: impl FnMut([&'s [T]; 3], &mut [u8])) {
        let w = self.w.max(1);
        let [r, g, b] = self.src;
        let dst_rows = self.dst.chunks_mut(self.stride.max(1));
        let src_rows = r
            .chunks_exact(w)
            .zip(g.chunks_exact(w))
            .zip(b.chunks_exact(w));
        for (((r, g), b), dst) in src_rows.zip(dst_rows) {
            if let Some(dst) = dst.get_mut(..3 * w) {
                row([r, g, b], dst);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use half::{bf16, f16};
    use proptest::prelude::*;

    use super::*;
    use crate::pixel::{Rounding, Transform};

    /// Any finite f32 that is not absurd as a map constant.
    fn constant() -> impl Strategy<Value = f32> {
        prop_oneof![
            -300.0f32..300.0,
            Just(0.0),
            Just(255.0),
            Just(127.5),
            Just(1e-5)
        ]
    }

    fn transform() -> impl Strategy<Value = Transform> {
        // Identity- and unit-like maps take the AVX2 kernel's paths without a multiply or add.
        let fixed = |scale: f32, offset: f32| Transform::Affine {
            scale: [scale; 3],
            offset: [offset; 3],
        };
        prop_oneof![
            Just(fixed(1.0, 0.0)),
            Just(fixed(255.0, 0.0)),
            Just(fixed(1.0, 127.5)),
            (
                prop::array::uniform3(constant()),
                prop::array::uniform3(constant())
            )
                .prop_map(|(scale, offset)| Transform::Affine { scale, offset }),
            (constant(), constant()).prop_map(|(a, b)| {
                let (lo, hi) = (a.min(b), a.max(b));
                let d = (f64::from(hi) - f64::from(lo)).max(1e-5) as f32;
                Transform::Range { lo, hi, d }
            }),
        ]
    }

    fn op() -> impl Strategy<Value = PixelOp> {
        let rounding = prop_oneof![
            Just(Rounding::Bias(0.0)),
            Just(Rounding::Bias(0.5)),
            Just(Rounding::NearestEven),
        ];
        (transform(), rounding).prop_map(|(xf, rounding)| PixelOp { xf, rounding })
    }

    /// Fills one row with every row code and checks they agree byte for byte.
    /// Draws the data as `rows` rows into a canvas with a gap after every row, with every row
    /// code, and checks they agree byte for byte (and leave the gaps alone).
    fn agree(data: Elements<'_>, w: usize, op: &PixelOp) -> Result<(), TestCaseError> {
        let rows = if w.is_multiple_of(2) && w > 0 { 2 } else { 1 };
        let (w, len) = (w / rows, w);
        let starts = [0, len, 2 * len];
        let stride = 3 * w + 5;
        let draw = |code: RowCode| {
            let mut canvas = vec![7u8; stride * rows];
            code.fill(data, starts, w, rows, &mut canvas, stride, op);
            canvas
        };
        let want = draw(RowCode::Scalar);
        for row in want.chunks(stride) {
            prop_assert_eq!(&row[3 * w..], &[7u8; 5][..]);
        }
        for code in [RowCode::Wide, RowCode::fastest()] {
            prop_assert_eq!(&draw(code), &want, "{:?} vs scalar, {:?}", code, op);
        }
        Ok(())
    }

    /// The maps the hook and `vis render` use most, with every rounding.
    fn common_ops() -> Vec<PixelOp> {
        let affine = |scale: f32, offset: f32| Transform::Affine {
            scale: [scale; 3],
            offset: [offset; 3],
        };
        let transforms = [
            affine(1.0, 0.0),
            affine(255.0, 0.0),
            affine(127.5, 127.5),
            Transform::Affine {
                scale: [58.395, 57.12, 57.375],
                offset: [123.675, 116.28, 103.53],
            },
            Transform::Range {
                lo: -1.0,
                hi: 1.0,
                d: 2.0,
            },
        ];
        let roundings = [
            Rounding::Bias(0.0),
            Rounding::Bias(0.5),
            Rounding::NearestEven,
        ];
        transforms
            .iter()
            .flat_map(|&xf| roundings.map(|rounding| PixelOp { xf, rounding }))
            .collect()
    }

    /// All 65,536 bit patterns of a 16-bit float type, in every channel position, as rows of
    /// pixels.
    fn every_half<T: Copy>(from_bits: fn(u16) -> T) -> [Vec<T>; 3] {
        // 65,538 values make 21,846 whole pixels; rotating moves each value through R, G, B.
        let values: Vec<T> = (0..=u16::MAX).chain([0, 0]).map(from_bits).collect();
        std::array::from_fn(|shift| {
            let mut rotated = values.clone();
            rotated.rotate_left(shift);
            rotated
        })
    }

    #[test]
    fn every_f16_bit_pattern_agrees_with_the_reference() {
        for data in every_half(f16::from_bits) {
            for op in common_ops() {
                agree(Elements::F16(&data), data.len() / 3, &op).unwrap();
            }
        }
    }

    #[test]
    fn every_bf16_bit_pattern_agrees_with_the_reference() {
        for data in every_half(bf16::from_bits) {
            for op in common_ops() {
                agree(Elements::Bf16(&data), data.len() / 3, &op).unwrap();
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any f32 bit pattern (NaN, infinities, subnormals, boundaries) in rows of any length.
        #[test]
        fn f32_rows_agree_with_the_reference(
            bits in prop::collection::vec(any::<u32>(), 0..3 * 70),
            op in op(),
        ) {
            let w = bits.len() / 3;
            let data: Vec<f32> = bits.iter().map(|&b| f32::from_bits(b)).collect();
            agree(Elements::F32(&data), w, &op)?;
        }

        /// Values near rounding boundaries of the maps, where a fused multiply-add or a folded
        /// constant would change the byte.
        #[test]
        fn boundary_values_agree(
            base in prop::collection::vec(-2.0f32..2.0, 0..3 * 70),
            op in op(),
        ) {
            let w = base.len() / 3;
            let data: Vec<f32> = base.iter().map(|&x| (x * 255.0).round() / 255.0 + x * 1e-7).collect();
            agree(Elements::F32(&data), w, &op)?;
        }

        /// Any half-float bit patterns, under any map.
        #[test]
        fn f16_rows_agree_with_the_reference(
            bits in prop::collection::vec(any::<u16>(), 0..3 * 70),
            op in op(),
        ) {
            let w = bits.len() / 3;
            let data: Vec<f16> = bits.iter().map(|&b| f16::from_bits(b)).collect();
            agree(Elements::F16(&data), w, &op)?;
        }

        /// Every byte.
        #[test]
        fn u8_rows_agree_with_the_reference(
            data in prop::collection::vec(any::<u8>(), 0..3 * 70),
            op in op(),
        ) {
            let w = data.len() / 3;
            agree(Elements::U8(&data), w, &op)?;
        }

        /// Any bfloat16 bit patterns, under any map.
        #[test]
        fn bf16_rows_agree_with_the_reference(
            bits in prop::collection::vec(any::<u16>(), 0..3 * 70),
            op in op(),
        ) {
            let w = bits.len() / 3;
            let data: Vec<bf16> = bits.iter().map(|&b| bf16::from_bits(b)).collect();
            agree(Elements::Bf16(&data), w, &op)?;
        }
    }
}
