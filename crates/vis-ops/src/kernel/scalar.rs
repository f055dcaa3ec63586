//! The scalar reference kernel: one pixel at a time, written to read like the contract. Every
//! other kernel must give exactly its bytes.

use super::Rect;
use crate::batch::Sample;
use crate::pixel::{PixelOp, Rounding, Transform};

/// One float to its value in 0..255 space for output channel `ch`.
#[inline(always)]
pub(crate) fn value(x: f32, ch: usize, xf: &Transform) -> f32 {
    match *xf {
        Transform::Affine { scale, offset } => {
            let (s, o) = match ch {
                0 => (scale[0], offset[0]),
                1 => (scale[1], offset[1]),
                _ => (scale[2], offset[2]),
            };
            x * s + o
        }
        // `max` first: a NaN input becomes `lo`, which maps to 0 like torch's NaN does.
        Transform::Range { lo, hi, d } => (x.max(lo).min(hi) - lo) / d * 255.0,
    }
}

/// A value in 0..255 space to its byte: `trunc(clamp(v + bias, 0, 255))`, or
/// `round_half_even(clamp(v, 0, 255))`; NaN to 0.
#[inline(always)]
pub(crate) fn quantize(v: f32, rounding: Rounding) -> u8 {
    // `f32::max` returns the other operand for NaN, so NaN becomes 0 here (`clamp` would keep
    // the NaN).
    #[allow(clippy::manual_clamp)]
    match rounding {
        Rounding::Bias(bias) => (v + bias).max(0.0).min(255.0) as u8,
        Rounding::NearestEven => v.max(0.0).min(255.0).round_ties_even() as u8,
    }
}

/// Fills one row: `dst` (RGB, `3 * w` bytes) from the three channel rows `src` (`w` each).
#[inline(always)]
pub(crate) fn fill_row<T: Sample>(src: [&[T]; 3], dst: &mut [u8], op: &PixelOp) {
    let [r, g, b] = src;
    for (((px, &r), &g), &b) in dst.chunks_exact_mut(3).zip(r).zip(g).zip(b) {
        for (ch, (out, x)) in px.iter_mut().zip([r, g, b]).enumerate() {
            *out = quantize(value(x.to_f32(), ch, &op.xf), op.rounding);
        }
    }
}

/// Fills a rectangle of rows (see [`Rect`]).
pub(crate) fn fill<T: Sample>(rect: Rect<'_, '_, T>, op: &PixelOp) {
    rect.for_each_row(|src, dst| fill_row(src, dst, op));
}

#[cfg(test)]
mod tests {
    use super::*;

    const HALF_UP: Rounding = Rounding::Bias(0.5);
    const TRUNC: Rounding = Rounding::Bias(0.0);
    const EVEN: Rounding = Rounding::NearestEven;

    #[test]
    fn quantize_handles_special_values() {
        for r in [HALF_UP, TRUNC, EVEN] {
            assert_eq!(quantize(f32::NAN, r), 0);
            assert_eq!(quantize(f32::INFINITY, r), 255);
            assert_eq!(quantize(f32::NEG_INFINITY, r), 0);
            assert_eq!(quantize(1e30, r), 255);
            assert_eq!(quantize(-0.6, r), 0);
        }
        assert_eq!(quantize(254.5, HALF_UP), 255);
        assert_eq!(quantize(254.49998, HALF_UP), 254);
        assert_eq!(quantize(254.99998, TRUNC), 254);
        assert_eq!(quantize(-0.4, HALF_UP), 0);
        assert_eq!(quantize(2.5, EVEN), 2);
        assert_eq!(quantize(3.5, EVEN), 4);
        assert_eq!(quantize(254.5, EVEN), 254);
        assert_eq!(quantize(255.4, EVEN), 255);
    }

    #[test]
    fn range_maps_nan_to_zero_and_clamps() {
        let xf = Transform::Range {
            lo: -1.0,
            hi: 1.0,
            d: 2.0,
        };
        assert_eq!(quantize(value(f32::NAN, 0, &xf), HALF_UP), 0);
        assert_eq!(quantize(value(5.0, 0, &xf), HALF_UP), 255);
        assert_eq!(quantize(value(0.0, 0, &xf), HALF_UP), 128);
    }
}
