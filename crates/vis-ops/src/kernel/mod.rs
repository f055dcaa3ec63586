//! The fused per-pixel kernels (map, clamp, quantize, channel order, interleave) and the choice
//! between them: the scalar reference, the `wide` SIMD kernel, and the SIMD kernel spread over
//! rayon's threads.

mod scalar;
mod simd;

// Public only so `Sample` can name it; the module is private, so nobody else can implement it.
#[allow(unreachable_pub)]
pub use simd::SimdSample;

use crate::batch::{FloatData, Sample};
use crate::pixel::PixelOp;

/// Which implementation draws the grid. All give the same bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Kernel {
    /// The scalar reference, one pixel at a time, on the calling thread.
    Scalar,
    /// The SIMD kernel on the calling thread.
    Simd,
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

/// Which per-row code a (resolved) kernel runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RowCode {
    /// The scalar reference.
    Scalar,
    /// The dispatched SIMD kernel.
    Simd,
    /// The SIMD kernel without run-time dispatch (portable lanes only).
    #[cfg(test)]
    SimdPortable,
}

impl RowCode {
    /// Fills `dst` (RGB, `3 * w` bytes) from rows of `data` starting at `starts` (`w` each).
    pub(crate) fn fill(
        self,
        data: FloatData<'_>,
        starts: [usize; 3],
        dst: &mut [u8],
        op: &PixelOp,
    ) {
        fn rows<T>(data: &[T], starts: [usize; 3], w: usize) -> Option<[&[T]; 3]> {
            let row = |s: usize| data.get(s..s.checked_add(w)?);
            Some([row(starts[0])?, row(starts[1])?, row(starts[2])?])
        }
        fn run<T: Sample>(code: RowCode, src: [&[T]; 3], dst: &mut [u8], op: &PixelOp) {
            match code {
                RowCode::Scalar => scalar::fill(src, dst, op),
                RowCode::Simd => simd::fill(src, dst, op),
                #[cfg(test)]
                RowCode::SimdPortable => simd::fill_portable(src, dst, op),
            }
        }
        let w = dst.len() / 3;
        // The plan computes `starts` from checked dimensions, so the rows always exist; an
        // impossible miss leaves the (pre-filled) bytes alone rather than panicking.
        match data {
            FloatData::F32(d) => rows(d, starts, w).map(|s| run(self, s, dst, op)),
            FloatData::F16(d) => rows(d, starts, w).map(|s| run(self, s, dst, op)),
            FloatData::Bf16(d) => rows(d, starts, w).map(|s| run(self, s, dst, op)),
        };
    }
}
