//! Borrowed views of float tensors (`[N, C, H, W]` images or `[N, T, C, H, W]` sequences) in
//! f32, f16 or bf16, checked once when they are made.

use half::{bf16, f16};

use crate::error::{Error, Result};

/// The element types the pixel path reads directly (no intermediate f32 copy).
pub trait Sample: Copy + Send + Sync + 'static + crate::kernel::SimdSample {
    /// This type's name in messages.
    const NAME: &'static str;
    /// The value as f32 (exact for every type here).
    fn to_f32(self) -> f32;
}

impl Sample for f32 {
    const NAME: &'static str = "f32";
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}

impl Sample for f16 {
    const NAME: &'static str = "f16";
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
}

impl Sample for bf16 {
    const NAME: &'static str = "bf16";
    #[inline(always)]
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
}

/// A borrowed slice of floats in one of the supported element types.
#[derive(Clone, Copy, Debug)]
pub enum FloatData<'a> {
    /// 32-bit floats.
    F32(&'a [f32]),
    /// IEEE half floats.
    F16(&'a [f16]),
    /// bfloat16.
    Bf16(&'a [bf16]),
}

impl FloatData<'_> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            FloatData::F32(d) => d.len(),
            FloatData::F16(d) => d.len(),
            FloatData::Bf16(d) => d.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type's name (`f32`, `f16`, `bf16`).
    pub fn dtype_name(&self) -> &'static str {
        match self {
            FloatData::F32(_) => f32::NAME,
            FloatData::F16(_) => f16::NAME,
            FloatData::Bf16(_) => bf16::NAME,
        }
    }
}

impl<'a> From<&'a [f32]> for FloatData<'a> {
    fn from(d: &'a [f32]) -> Self {
        FloatData::F32(d)
    }
}

impl<'a> From<&'a [f16]> for FloatData<'a> {
    fn from(d: &'a [f16]) -> Self {
        FloatData::F16(d)
    }
}

impl<'a> From<&'a [bf16]> for FloatData<'a> {
    fn from(d: &'a [bf16]) -> Self {
        FloatData::Bf16(d)
    }
}

/// The dimensions of a batch: `n` images (each a sequence of `t` frames when `t` is some) of
/// `c` channels, `h` rows and `w` columns, stored contiguously in that order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchDims {
    /// Images in the batch.
    pub n: usize,
    /// Timesteps per image for sequences (`[N, T, C, H, W]`), `None` for `[N, C, H, W]`.
    pub t: Option<usize>,
    /// Channels: 1 (gray) or 3.
    pub c: usize,
    /// Rows per image.
    pub h: usize,
    /// Columns per image.
    pub w: usize,
}

impl BatchDims {
    /// Timesteps per image (1 for plain images).
    pub fn steps(&self) -> usize {
        self.t.unwrap_or(1)
    }

    /// Elements in one channel plane (`h * w`); cannot overflow once the view is checked.
    pub(crate) fn plane(&self) -> usize {
        self.h * self.w
    }

    /// Offset of the plane of channel `c` of image `n` at timestep `t`.
    pub(crate) fn plane_offset(&self, n: usize, t: usize, c: usize) -> usize {
        ((n * self.steps() + t) * self.c + c) * self.plane()
    }
}

/// A checked view of one tensor to draw: name, data and dimensions agree.
#[derive(Clone, Debug)]
pub struct ImageBatch<'a> {
    name: String,
    data: FloatData<'a>,
    dims: BatchDims,
}

impl<'a> ImageBatch<'a> {
    /// Views `data` as a tensor of `shape` (`[N, C, H, W]` or `[N, T, C, H, W]`, C in {1, 3}),
    /// named `name` in error messages.
    pub fn new(
        name: impl Into<String>,
        data: impl Into<FloatData<'a>>,
        shape: &[usize],
    ) -> Result<Self> {
        let name = name.into();
        let data = data.into();
        let dims = match *shape {
            [n, c, h, w] => BatchDims {
                n,
                t: None,
                c,
                h,
                w,
            },
            [n, t, c, h, w] => BatchDims {
                n,
                t: Some(t),
                c,
                h,
                w,
            },
            _ => {
                return Err(Error::Rank {
                    key: name,
                    shape: shape.to_vec(),
                });
            }
        };
        if dims.c != 1 && dims.c != 3 {
            return Err(Error::Channels {
                key: name,
                channels: dims.c,
                shape: shape.to_vec(),
            });
        }
        if shape.contains(&0) {
            return Err(Error::EmptyDimension {
                key: name,
                shape: shape.to_vec(),
            });
        }
        let expected = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| Error::ShapeOverflow {
                key: name.clone(),
                shape: shape.to_vec(),
            })?;
        if expected != data.len() {
            return Err(Error::DataLength {
                key: name,
                shape: shape.to_vec(),
                expected,
                actual: data.len(),
            });
        }
        Ok(Self { name, data, dims })
    }

    /// The tensor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tensor's data.
    pub fn data(&self) -> FloatData<'a> {
        self.data
    }

    /// The tensor's dimensions.
    pub fn dims(&self) -> BatchDims {
        self.dims
    }

    /// The tensor's shape as a list (rank 4 or 5).
    pub fn shape(&self) -> Vec<usize> {
        let d = self.dims;
        match d.t {
            Some(t) => vec![d.n, t, d.c, d.h, d.w],
            None => vec![d.n, d.c, d.h, d.w],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_both_ranks() {
        let d = vec![0.0f32; 2 * 3 * 4 * 5];
        let b = ImageBatch::new("x", d.as_slice(), &[2, 3, 4, 5]).unwrap();
        assert_eq!(
            b.dims(),
            BatchDims {
                n: 2,
                t: None,
                c: 3,
                h: 4,
                w: 5
            }
        );
        let s = ImageBatch::new("s", d.as_slice(), &[2, 1, 3, 4, 5]).unwrap();
        assert_eq!(s.dims().steps(), 1);
        assert_eq!(s.shape(), vec![2, 1, 3, 4, 5]);
    }

    #[test]
    fn rejects_bad_shapes_with_the_reason() {
        let d = vec![0.0f32; 24];
        let err = |shape: &[usize]| {
            ImageBatch::new("img", d.as_slice(), shape)
                .unwrap_err()
                .to_string()
        };
        assert!(err(&[24]).contains("rank 1"));
        assert!(err(&[1, 2, 3, 4]).contains("2 channels"));
        assert!(err(&[0, 3, 2, 4]).contains("empty dimension"));
        assert!(err(&[2, 3, 2, 3]).contains("needs 36 elements but its data holds 24"));
        assert!(err(&[usize::MAX, 3, 2, 4]).contains("more elements"));
    }
}
