//! The portable SIMD kernel, written with `wide`: eight pixels per step, the same f32 ops in the
//! same order as the scalar reference (no fused multiply-add), so its bytes are identical. It
//! runs where the AVX2 kernel cannot (SSE2-only x86-64, aarch64 NEON, ...); half floats are
//! widened in registers.

use bytemuck::cast;
use wide::{f32x8, i32x8, u16x8, u32x8};

use super::{Rect, scalar};
use crate::batch::Sample;
use crate::pixel::{PixelOp, Rounding, Transform};

/// Exact IEEE half to single conversion of eight lanes with integer SIMD (F. Giesen's method):
/// normals and infinities/NaN by exponent re-biasing, zeros and subnormals by renormalising
/// through a float subtraction.
#[inline(always)]
pub(super) fn f16x8_to_f32x8(bits: [u16; 8]) -> f32x8 {
    const SHIFTED_EXP: u32 = 0x7c00 << 13;
    let h = u32x8::from(u16x8::new(bits));
    let sign: u32x8 = (h & u32x8::splat(0x8000)) << 16;
    let o: u32x8 = (h & u32x8::splat(0x7fff)) << 13;
    let exp: u32x8 = o & u32x8::splat(SHIFTED_EXP);
    let o: u32x8 = o + u32x8::splat((127 - 15) << 23);
    let inf_nan: u32x8 = exp.simd_eq(u32x8::splat(SHIFTED_EXP));
    let small: u32x8 = exp.simd_eq(u32x8::ZERO);
    let o: u32x8 = o + (inf_nan & u32x8::splat((128 - 16) << 23));
    let o: u32x8 = o + (small & u32x8::splat(1 << 23));
    let f: f32x8 = cast(o);
    let renormalised = f - f32x8::splat(f32::from_bits(113 << 23));
    let small_f: f32x8 = cast(small);
    let f = small_f.select(renormalised, f);
    cast(cast::<f32x8, u32x8>(f) | sign)
}

/// Eight values in 0..255 space to bytes in the low 8 bits of each lane, NaN to 0, rounded as
/// `rounding` says.
#[inline(always)]
fn quantize8(v: f32x8, rounding: Rounding) -> i32x8 {
    // `fast_max(v, 0)` is `maxps(v, 0)`, which returns its second operand for NaN: NaN -> 0.
    let clamp = |q: f32x8| q.fast_max(f32x8::ZERO).fast_min(f32x8::splat(255.0));
    match rounding {
        Rounding::Bias(bias) => clamp(v + f32x8::splat(bias)).fast_trunc_int(),
        Rounding::NearestEven => {
            // Adding and taking away 2^23 rounds a float in [0, 2^23) to the nearest integer,
            // ties to even (the default rounding mode), exactly.
            let magic = f32x8::splat(8_388_608.0);
            ((clamp(v) + magic) - magic).fast_trunc_int()
        }
    }
}

/// Interleaves eight R, G and B bytes (one per lane) into 24 bytes RGBRGB...
#[inline(always)]
fn store24(out: &mut [u8; 24], r: i32x8, g: i32x8, b: i32x8) {
    let px: [u32; 8] = cast(r | (g << 8) | (b << 16));
    let p = px.map(u64::from);
    let words = [
        p[0] | p[1] << 24 | p[2] << 48,
        p[2] >> 16 | p[3] << 8 | p[4] << 32 | p[5] << 56,
        p[5] >> 8 | p[6] << 16 | p[7] << 40,
    ];
    *out = cast(words.map(u64::to_le));
}

/// Fills a rectangle of rows (see [`Rect`]).
pub(crate) fn fill<T: Sample>(rect: Rect<'_, '_, T>, op: &PixelOp) {
    let rounding = op.rounding;
    match op.xf {
        Transform::Affine { scale, offset } => {
            let [s0, s1, s2] = scale.map(f32x8::splat);
            let [o0, o1, o2] = offset.map(f32x8::splat);
            rect.for_each_row(|src, dst| {
                for_each_8(src, dst, op, |r, g, b| {
                    [
                        quantize8(r * s0 + o0, rounding),
                        quantize8(g * s1 + o1, rounding),
                        quantize8(b * s2 + o2, rounding),
                    ]
                })
            });
        }
        Transform::Range { lo, hi, d } => {
            let (lo, hi, d) = (f32x8::splat(lo), f32x8::splat(hi), f32x8::splat(d));
            let k255 = f32x8::splat(255.0);
            // `fast_max(x, lo)` gives `lo` for NaN, as the scalar `f32::max` does.
            let value = |x: f32x8| (x.fast_max(lo).fast_min(hi) - lo) / d * k255;
            rect.for_each_row(|src, dst| {
                for_each_8(src, dst, op, |r, g, b| {
                    [
                        quantize8(value(r), rounding),
                        quantize8(value(g), rounding),
                        quantize8(value(b), rounding),
                    ]
                })
            });
        }
    }
}

/// Runs `pixels` on every eight pixels of a row and stores its bytes; the tail goes through the
/// scalar reference.
#[inline(always)]
fn for_each_8<T: Sample>(
    src: [&[T]; 3],
    dst: &mut [u8],
    op: &PixelOp,
    pixels: impl Fn(f32x8, f32x8, f32x8) -> [i32x8; 3],
) {
    let [r, g, b] = src;
    let (r8, r_tail) = r.as_chunks::<8>();
    let (g8, g_tail) = g.as_chunks::<8>();
    let (b8, b_tail) = b.as_chunks::<8>();
    let (d24, d_tail) = dst.as_chunks_mut::<24>();
    for (((out, r), g), b) in d24.iter_mut().zip(r8).zip(g8).zip(b8) {
        let [r, g, b] = pixels(T::load_wide(r), T::load_wide(g), T::load_wide(b));
        store24(out, r, g, b);
    }
    scalar::fill_row([r_tail, g_tail, b_tail], d_tail, op);
}

#[cfg(test)]
mod tests {
    use half::f16;

    use super::*;

    #[test]
    fn half_conversion_is_exact_for_every_bit_pattern() {
        for base in (0..=u16::MAX).step_by(8) {
            let bits: [u16; 8] = std::array::from_fn(|i| base + i as u16);
            let got: [f32; 8] = f16x8_to_f32x8(bits).to_array();
            for (b, g) in bits.iter().zip(got) {
                let want = f16::from_bits(*b).to_f32();
                assert!(
                    want.to_bits() == g.to_bits() || (want.is_nan() && g.is_nan()),
                    "{b:#06x}: {want} vs {g}"
                );
            }
        }
    }

    #[test]
    fn store24_interleaves() {
        let mut out = [0u8; 24];
        let r = i32x8::new([0, 1, 2, 3, 4, 5, 6, 7]);
        let g = r + i32x8::splat(100);
        let b = r + i32x8::splat(200);
        store24(&mut out, r, g, b);
        let want: Vec<u8> = (0..8u8).flat_map(|i| [i, 100 + i, 200 + i]).collect();
        assert_eq!(out.to_vec(), want);
    }
}
