//! The `wide` SIMD kernel: eight pixels per step, the same f32 ops in the same order as the
//! scalar reference (no fused multiply-add), so its bytes are identical. On x86-64 a copy
//! compiled for AVX2 + F16C is picked at run time; half floats are widened in registers.

use bytemuck::cast;
use half::{bf16, f16};
use wide::{f32x8, i32x8, u16x8, u32x8};

use super::scalar;
use crate::batch::Sample;
use crate::pixel::{PixelOp, Transform};

/// How the SIMD kernel loads eight samples of a type as f32 lanes (sealed: the module that
/// declares it is private).
pub trait SimdSample: Sized + Copy {
    /// Eight samples as f32 lanes, in portable code.
    fn load8(src: &[Self; 8]) -> f32x8;

    /// Eight samples as f32 lanes, inlined only into code compiled with AVX2 and F16C.
    #[inline(always)]
    fn load8_f16c(src: &[Self; 8]) -> f32x8 {
        Self::load8(src)
    }
}

impl SimdSample for f32 {
    #[inline(always)]
    fn load8(src: &[f32; 8]) -> f32x8 {
        f32x8::new(*src)
    }
}

impl SimdSample for bf16 {
    #[inline(always)]
    fn load8(src: &[bf16; 8]) -> f32x8 {
        let bits = u32x8::from(u16x8::new(src.map(bf16::to_bits)));
        cast(bits << 16)
    }
}

impl SimdSample for f16 {
    #[inline(always)]
    fn load8(src: &[f16; 8]) -> f32x8 {
        f16x8_to_f32x8(src.map(f16::to_bits))
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn load8_f16c(src: &[f16; 8]) -> f32x8 {
        use core::arch::x86_64::{_mm_loadu_si128, _mm256_cvtph_ps, _mm256_storeu_ps};
        let mut out = [0.0f32; 8];
        // SAFETY: `load8_f16c` is only inlined into `fill_avx2`, which runs after the CPU was
        // found to have F16C; the load reads the 16 bytes of `src` and the store writes the 32
        // bytes of `out`, both unaligned-safe intrinsics.
        unsafe {
            let v = _mm256_cvtph_ps(_mm_loadu_si128(src.as_ptr().cast()));
            _mm256_storeu_ps(out.as_mut_ptr(), v);
        }
        f32x8::new(out)
    }
}

/// Exact IEEE half to single conversion of eight lanes with integer SIMD (F. Giesen's method):
/// normals and infinities/NaN by exponent re-biasing, zeros and subnormals by renormalising
/// through a float subtraction.
#[inline(always)]
fn f16x8_to_f32x8(bits: [u16; 8]) -> f32x8 {
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

/// Eight values in 0..255 space to bytes in the low 8 bits of each lane, NaN to 0.
#[inline(always)]
fn quantize8(v: f32x8, bias: f32x8) -> i32x8 {
    // `fast_max(v, 0)` is `maxps(v, 0)`, which returns its second operand for NaN: NaN -> 0.
    (v + bias)
        .fast_max(f32x8::ZERO)
        .fast_min(f32x8::splat(255.0))
        .fast_trunc_int()
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

/// The kernel body, generic over how eight samples are loaded.
#[inline(always)]
fn fill_with<T: Sample>(
    src: [&[T]; 3],
    dst: &mut [u8],
    op: &PixelOp,
    load: impl Fn(&[T; 8]) -> f32x8,
) {
    let [r, g, b] = src;
    let (r8, r_tail) = r.as_chunks::<8>();
    let (g8, g_tail) = g.as_chunks::<8>();
    let (b8, b_tail) = b.as_chunks::<8>();
    let (d24, d_tail) = dst.as_chunks_mut::<24>();
    let bias = f32x8::splat(op.bias);
    let lanes = d24.iter_mut().zip(r8).zip(g8).zip(b8);
    match op.xf {
        Transform::Affine { scale, offset } => {
            let [s0, s1, s2] = scale.map(f32x8::splat);
            let [o0, o1, o2] = offset.map(f32x8::splat);
            for (((out, r), g), b) in lanes {
                store24(
                    out,
                    quantize8(load(r) * s0 + o0, bias),
                    quantize8(load(g) * s1 + o1, bias),
                    quantize8(load(b) * s2 + o2, bias),
                );
            }
        }
        Transform::Range { lo, hi, d } => {
            let (lo, hi, d) = (f32x8::splat(lo), f32x8::splat(hi), f32x8::splat(d));
            let k255 = f32x8::splat(255.0);
            // `fast_max(x, lo)` gives `lo` for NaN, as the scalar `f32::max` does.
            let value = |x: f32x8| (x.fast_max(lo).fast_min(hi) - lo) / d * k255;
            for (((out, r), g), b) in lanes {
                store24(
                    out,
                    quantize8(value(load(r)), bias),
                    quantize8(value(load(g)), bias),
                    quantize8(value(load(b)), bias),
                );
            }
        }
    }
    scalar::fill([r_tail, g_tail, b_tail], d_tail, op);
}

/// The kernel compiled for AVX2 and F16C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
fn fill_avx2<T: Sample>(src: [&[T]; 3], dst: &mut [u8], op: &PixelOp) {
    fill_with(src, dst, op, T::load8_f16c);
}

/// Fills `dst` (RGB, `3 * w` bytes) from the three channel rows `src` (`w` samples each),
/// using the widest code the CPU runs.
pub(crate) fn fill<T: Sample>(src: [&[T]; 3], dst: &mut [u8], op: &PixelOp) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("f16c") {
        // SAFETY: the CPU has both features `fill_avx2` is compiled for.
        unsafe { fill_avx2(src, dst, op) };
        return;
    }
    fill_with(src, dst, op, T::load8);
}

/// The portable kernel, whatever the CPU (tests compare it with the dispatched one).
#[cfg(test)]
pub(crate) fn fill_portable<T: Sample>(src: [&[T]; 3], dst: &mut [u8], op: &PixelOp) {
    fill_with(src, dst, op, T::load8);
}

#[cfg(test)]
mod tests {
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
    fn bf16_conversion_is_exact() {
        for base in (0..=u16::MAX).step_by(8) {
            let src: [bf16; 8] = std::array::from_fn(|i| bf16::from_bits(base + i as u16));
            let got = bf16::load8(&src).to_array();
            for (s, g) in src.iter().zip(got) {
                assert_eq!(s.to_f32().to_bits(), g.to_bits());
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn f16c_load_matches_portable() {
        if !std::arch::is_x86_feature_detected!("f16c") {
            return;
        }
        for base in (0..=u16::MAX).step_by(8) {
            let src: [f16; 8] = std::array::from_fn(|i| f16::from_bits(base + i as u16));
            let a = f16::load8(&src).to_array();
            let b = f16::load8_f16c(&src).to_array();
            for (x, y) in a.iter().zip(b) {
                assert!(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()));
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
