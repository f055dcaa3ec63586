//! The per-image recipe the kernels follow: a [`PixelMap`] resolved against the data (range
//! ends taken from the data where absent) into f32 constants, in the contract's op order.

use crate::batch::{Elements, Sample};
use crate::spec::{ChannelOrder, PixelMap, Quantize};

/// How one image's floats become values in 0..255 space, constants already rounded to f32.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Transform {
    /// `v = x * scale[ch] + offset[ch]`, indexed by OUTPUT channel (R, G, B).
    Affine { scale: [f32; 3], offset: [f32; 3] },
    /// `t = clamp(x, lo, hi)`, `v = (t - lo) / d * 255`.
    Range { lo: f32, hi: f32, d: f32 },
}

/// How a value in 0..255 space becomes a byte.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Rounding {
    /// `trunc(clamp(v + bias, 0, 255))`: 0.5 rounds half up, 0 truncates.
    Bias(f32),
    /// `round_half_even(clamp(v, 0, 255))`.
    NearestEven,
}

impl From<Quantize> for Rounding {
    fn from(q: Quantize) -> Self {
        match q {
            Quantize::RoundHalfUp => Rounding::Bias(0.5),
            Quantize::Truncate => Rounding::Bias(0.0),
            Quantize::RoundHalfEven => Rounding::NearestEven,
        }
    }
}

/// A transform plus its rounding.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct PixelOp {
    pub(crate) xf: Transform,
    pub(crate) rounding: Rounding,
}

/// Resolves `map` for one image (or batch) whose finite values span `data_range`.
pub(crate) fn pixel_op(
    map: &PixelMap,
    quantize: Quantize,
    order: ChannelOrder,
    data_range: impl FnOnce() -> (f32, f32),
) -> PixelOp {
    let per_out_channel = |list: &[f64], out: usize| -> f32 {
        let v = match list {
            [one] => *one,
            _ => list
                .get(order.input_channel(out))
                .copied()
                .unwrap_or(f64::NAN),
        };
        v as f32
    };
    let xf = match map {
        PixelMap::Unit => Transform::Affine {
            scale: [255.0; 3],
            offset: [0.0; 3],
        },
        PixelMap::Identity => Transform::Affine {
            scale: [1.0; 3],
            offset: [0.0; 3],
        },
        PixelMap::Denorm { mean, std } => Transform::Affine {
            scale: std::array::from_fn(|out| per_out_channel(std, out)),
            offset: std::array::from_fn(|out| per_out_channel(mean, out)),
        },
        PixelMap::Range { lo, hi, .. } => {
            let (lo, hi) = match (lo, hi) {
                (Some(lo), Some(hi)) => (*lo, *hi),
                _ => {
                    let (dlo, dhi) = data_range();
                    (lo.unwrap_or(f64::from(dlo)), hi.unwrap_or(f64::from(dhi)))
                }
            };
            Transform::Range {
                lo: lo as f32,
                hi: hi as f32,
                d: (hi - lo).max(1e-5) as f32,
            }
        }
    };
    PixelOp {
        xf,
        rounding: quantize.into(),
    }
}

/// Whether `map` needs the data's range (a `Range` with an end missing).
pub(crate) fn needs_data_range(map: &PixelMap) -> bool {
    matches!(map, PixelMap::Range { lo, hi, .. } if lo.is_none() || hi.is_none())
}

/// Minimum and maximum over the finite values of `parts` (elements and the range of them to
/// scan), `(0, 0)` when none is finite. NaN and infinities are left out so one bad pixel cannot
/// blank a whole grid.
pub(crate) fn finite_range<'a>(
    parts: impl Iterator<Item = (Elements<'a>, std::ops::Range<usize>)>,
) -> (f32, f32) {
    fn scan<T: Sample>(data: &[T], lo: &mut f32, hi: &mut f32) {
        for &x in data {
            let x = x.to_f32();
            if x.is_finite() {
                *lo = lo.min(x);
                *hi = hi.max(x);
            }
        }
    }
    let mut lo = f32::INFINITY;
    let mut hi = f32::NEG_INFINITY;
    for (data, range) in parts {
        match data.get(range) {
            Some(Elements::F32(d)) => scan(d, &mut lo, &mut hi),
            Some(Elements::F16(d)) => scan(d, &mut lo, &mut hi),
            Some(Elements::Bf16(d)) => scan(d, &mut lo, &mut hi),
            Some(Elements::U8(d)) => scan(d, &mut lo, &mut hi),
            None => {}
        }
    }
    if lo <= hi { (lo, hi) } else { (0.0, 0.0) }
}
