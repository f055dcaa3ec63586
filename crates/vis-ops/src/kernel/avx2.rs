//! The x86-64 AVX2 kernel: eight pixels per step in 256-bit registers, half floats widened by
//! F16C, bytes interleaved with one shuffle and one permute. The same f32 ops in the same order
//! as the scalar reference (no FMA is enabled or called), so its bytes are identical.
//!
//! `wide` picks its vector width when the crate is compiled, so on the default x86-64 target its
//! `f32x8` is two SSE halves even inside an AVX2 function; this kernel is the run-time-dispatched
//! fast path, and `wide` remains the portable one.

use core::arch::x86_64::{
    __m256, __m256i, _MM_FROUND_NO_EXC, _MM_FROUND_TO_NEAREST_INT, _mm_storel_epi64,
    _mm_storeu_si128, _mm256_add_ps, _mm256_castsi256_si128, _mm256_cvttps_epi32, _mm256_div_ps,
    _mm256_extracti128_si256, _mm256_max_ps, _mm256_min_ps, _mm256_mul_ps, _mm256_packs_epi32,
    _mm256_packus_epi16, _mm256_permutevar8x32_epi32, _mm256_round_ps, _mm256_set1_ps,
    _mm256_setr_epi8, _mm256_setr_epi32, _mm256_shuffle_epi8, _mm256_sub_ps,
};

use super::{Rect, scalar};
use crate::batch::Sample;
use crate::pixel::{PixelOp, Rounding, Transform};

/// Rounding rules as const parameters: truncate, add a bias then truncate, nearest-even.
const TRUNC: u8 = 0;
const BIASED: u8 = 1;
const EVEN: u8 = 2;

/// The const form of `rounding`.
fn rounding_mode(rounding: Rounding) -> (u8, f32) {
    match rounding {
        Rounding::Bias(b) if b != 0.0 => (BIASED, b),
        Rounding::Bias(_) => (TRUNC, 0.0),
        Rounding::NearestEven => (EVEN, 0.0),
    }
}

/// Whether this CPU runs the kernel (AVX2 for the arithmetic, F16C to widen half floats).
pub(crate) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("f16c")
}

/// Eight values in 0..255 space to i32 lanes of at most 255, NaN and everything below 0 to a
/// negative number or 0, which the saturating packs of [`store24`] turn into 0: with rule `Q`,
/// `trunc(min(v, 255))`, `trunc(min(v + bias, 255))` or `round_half_even(min(v, 255))`.
///
/// This is the scalar `trunc(clamp(v + bias, 0, 255))` (or its nearest-even twin) with NaN to
/// 0: `vminps(255, q)` returns its second operand, the NaN, when `q` is NaN; rounding keeps NaN;
/// `vcvttps2dq` turns NaN, -Inf and anything below -2^31 into -2^31; +Inf became 255 in the min.
#[inline]
#[target_feature(enable = "avx2")]
fn quantize8<const Q: u8>(v: __m256, bias: __m256, top: __m256) -> __m256i {
    match Q {
        BIASED => _mm256_cvttps_epi32(_mm256_min_ps(top, _mm256_add_ps(v, bias))),
        EVEN => _mm256_cvttps_epi32(_mm256_round_ps::<
            { _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC },
        >(_mm256_min_ps(top, v))),
        _ => _mm256_cvttps_epi32(_mm256_min_ps(top, v)),
    }
}

/// Interleaves eight R, G and B values (i32 lanes, at most 255, negatives meaning 0) into 24
/// bytes RGBRGB...
#[inline]
#[target_feature(enable = "avx2")]
fn store24(out: &mut [u8; 24], r: __m256i, g: __m256i, b: __m256i) {
    // Saturating packs clamp negatives to 0. Per 128-bit half (pixels 0-3, then 4-7):
    // r0 r1 r2 r3 g0 g1 g2 g3 b0 b1 b2 b3 b0 b1 b2 b3.
    let bytes = _mm256_packus_epi16(_mm256_packs_epi32(r, g), _mm256_packs_epi32(b, b));
    let interleave = _mm256_setr_epi8(
        0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, -1, -1, -1, -1, //
        0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, -1, -1, -1, -1,
    );
    let rgb = _mm256_shuffle_epi8(bytes, interleave);
    // The six used dwords (12 bytes from each half) moved together.
    let rgb = _mm256_permutevar8x32_epi32(rgb, _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7));
    let low = _mm256_castsi256_si128(rgb);
    let high = _mm256_extracti128_si256::<1>(rgb);
    let p = out.as_mut_ptr();
    // SAFETY: `out` is 24 bytes: the first store writes bytes 0..16, the second 16..24; both
    // are unaligned stores.
    unsafe {
        _mm_storeu_si128(p.cast(), low);
        _mm_storel_epi64(p.add(16).cast(), high);
    }
}

/// Runs `pixels` on every eight pixels of every row of `rect` and stores their bytes; each
/// row's tail goes through the scalar reference.
///
/// Cells are often narrow (64 pixels: eight steps a row), so the loop walks raw pointers with
/// one bounds check per rectangle rather than setting up slice iterators per row.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn for_each_8<T: Sample>(
    rect: Rect<'_, '_, T>,
    op: &PixelOp,
    pixels: impl Fn(__m256, __m256, __m256) -> [__m256i; 3],
) {
    let Rect {
        src: [r, g, b],
        w,
        dst,
        stride,
    } = rect;
    let rows = r.len().checked_div(w).unwrap_or(0);
    // The layout the loop below relies on: three planes of `rows` rows of `w` samples, and
    // destination rows `stride >= 3 w` bytes apart, the last one complete.
    let plane = rows.checked_mul(w);
    let needed = rows
        .checked_sub(1)
        .and_then(|full| full.checked_mul(stride))
        .and_then(|b| b.checked_add(3 * w));
    let fits = w > 0
        && stride >= 3 * w
        && [r.len(), g.len(), b.len()]
            .iter()
            .all(|&l| Some(l) == plane)
        && needed.is_some_and(|n| n <= dst.len());
    if !fits {
        return;
    }
    let load = |x: &[T; 8]| {
        // SAFETY: this function is compiled for, and only runs on, CPUs with AVX2 and F16C.
        unsafe { T::load_avx2(x) }
    };
    let (steps, tail) = (w / 8, w % 8);
    let (rp, gp, bp) = (r.as_ptr(), g.as_ptr(), b.as_ptr());
    // Every write below goes through `dp`; `dst` is not touched again.
    let dp = dst.as_mut_ptr();
    for row in 0..rows {
        let (s, d) = (row * w, row * stride);
        for step in 0..steps {
            let (si, di) = (s + step * 8, d + step * 24);
            // SAFETY: `si + 8 <= s + w <= rows * w`, the length of each plane, and
            // `di + 24 <= d + 3 w <= (rows - 1) * stride + 3 w <= dst.len()`, as checked above;
            // `[T; 8]` and `[u8; 24]` have alignment 1 or that of `T`, which the planes have.
            let (x, y, z, out) = unsafe {
                (
                    &*rp.add(si).cast::<[T; 8]>(),
                    &*gp.add(si).cast::<[T; 8]>(),
                    &*bp.add(si).cast::<[T; 8]>(),
                    &mut *dp.add(di).cast::<[u8; 24]>(),
                )
            };
            let [x, y, z] = pixels(load(x), load(y), load(z));
            store24(out, x, y, z);
        }
        if tail > 0 {
            let (si, di) = (s + steps * 8, d + steps * 24);
            // SAFETY: the row's last `tail` samples and `3 tail` bytes, in bounds as above.
            let (x, y, z, out) = unsafe {
                (
                    std::slice::from_raw_parts(rp.add(si), tail),
                    std::slice::from_raw_parts(gp.add(si), tail),
                    std::slice::from_raw_parts(bp.add(si), tail),
                    std::slice::from_raw_parts_mut(dp.add(di), 3 * tail),
                )
            };
            scalar::fill_row([x, y, z], out, op);
        }
    }
}

/// The affine map `x * scale + offset`, with the multiply and the add compiled in only where
/// they change something, and rounding rule `Q`.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn affine<T: Sample, const MUL: bool, const ADD: bool, const Q: u8>(
    rect: Rect<'_, '_, T>,
    op: &PixelOp,
    scale: [f32; 3],
    offset: [f32; 3],
    bias: f32,
) {
    let bias = _mm256_set1_ps(bias);
    let top = _mm256_set1_ps(255.0);
    let [s0, s1, s2] = scale.map(|s| _mm256_set1_ps(s));
    let [o0, o1, o2] = offset.map(|o| _mm256_set1_ps(o));
    let value = |x, s, o| {
        let v = if MUL { _mm256_mul_ps(x, s) } else { x };
        let v = if ADD { _mm256_add_ps(v, o) } else { v };
        quantize8::<Q>(v, bias, top)
    };
    for_each_8(rect, op, |r, g, b| {
        [value(r, s0, o0), value(g, s1, o1), value(b, s2, o2)]
    });
}

/// The range map `(clamp(x, lo, hi) - lo) / d * 255` with rounding rule `Q`.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn range<T: Sample, const Q: u8>(rect: Rect<'_, '_, T>, op: &PixelOp, lhd: [f32; 3], bias: f32) {
    let bias = _mm256_set1_ps(bias);
    let top = _mm256_set1_ps(255.0);
    let [lo, hi, d] = lhd.map(|v| _mm256_set1_ps(v));
    // `vmaxps(x, lo)` gives `lo` for NaN, as the scalar `f32::max` does.
    let value = |x| {
        let t = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
        quantize8::<Q>(
            _mm256_mul_ps(_mm256_div_ps(_mm256_sub_ps(t, lo), d), top),
            bias,
            top,
        )
    };
    for_each_8(rect, op, |r, g, b| [value(r), value(g), value(b)]);
}

/// Fills a rectangle of rows (see [`Rect`]).
///
/// # Safety
/// The CPU must have AVX2 and F16C ([`available`]).
#[target_feature(enable = "avx2,f16c")]
pub(crate) unsafe fn fill<T: Sample>(rect: Rect<'_, '_, T>, op: &PixelOp) {
    let (q, bias) = rounding_mode(op.rounding);
    match op.xf {
        Transform::Affine { scale, offset } => {
            // `x * 1` is exactly `x`, and adding 0 changes at most the sign of a zero, which
            // draws as 0 either way: skipping those ops keeps every byte.
            let mul = scale != [1.0; 3];
            let add = offset != [0.0; 3];
            macro_rules! dispatch {
                ($(($m:literal, $a:literal, $q:ident)),* $(,)?) => {
                    match (mul, add, q) {
                        $(($m, $a, $q) => affine::<T, $m, $a, $q>(rect, op, scale, offset, bias),)*
                        _ => affine::<T, true, true, TRUNC>(rect, op, scale, offset, bias),
                    }
                };
            }
            dispatch!(
                (true, true, TRUNC),
                (true, true, BIASED),
                (true, true, EVEN),
                (true, false, TRUNC),
                (true, false, BIASED),
                (true, false, EVEN),
                (false, true, TRUNC),
                (false, true, BIASED),
                (false, true, EVEN),
                (false, false, TRUNC),
                (false, false, BIASED),
                (false, false, EVEN),
            );
        }
        Transform::Range { lo, hi, d } => match q {
            BIASED => range::<T, BIASED>(rect, op, [lo, hi, d], bias),
            EVEN => range::<T, EVEN>(rect, op, [lo, hi, d], bias),
            _ => range::<T, TRUNC>(rect, op, [lo, hi, d], bias),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::arch::x86_64::_mm256_setr_epi32;

    #[test]
    fn store24_interleaves() {
        if !available() {
            return;
        }
        // SAFETY: the CPU has AVX2 (checked above).
        unsafe {
            let mut out = [0u8; 24];
            let r = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            let g = _mm256_setr_epi32(100, 101, 102, 103, 104, 105, 106, 107);
            let b = _mm256_setr_epi32(200, 201, 202, 203, 204, 205, 206, 207);
            store24(&mut out, r, g, b);
            let want: Vec<u8> = (0..8u8).flat_map(|i| [i, 100 + i, 200 + i]).collect();
            assert_eq!(out.to_vec(), want);
        }
    }
}
