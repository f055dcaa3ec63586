//! Borrowed views of tensors (`[N, C, H, W]` images or `[N, T, C, H, W]` sequences) in f32,
//! f16, bf16 or u8, checked once when they are made: one slice for the whole batch, or one per
//! image (samples that live apart are drawn without being stacked first).

use half::{bf16, f16};

use crate::error::{Error, Result};

/// The element types the pixel path reads directly (no intermediate f32 copy). Bytes (`u8`)
/// are pixels already: they are drawn as they are, whatever the [`PixelMap`](crate::PixelMap)
/// (which is for floats); only the channel order applies to them.
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

impl Sample for u8 {
    const NAME: &'static str = "u8";
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
}

impl Sample for bf16 {
    const NAME: &'static str = "bf16";
    #[inline(always)]
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
}

/// A borrowed slice of elements in one of the supported types.
#[derive(Clone, Copy, Debug)]
pub enum Elements<'a> {
    /// 32-bit floats.
    F32(&'a [f32]),
    /// IEEE half floats.
    F16(&'a [f16]),
    /// bfloat16.
    Bf16(&'a [bf16]),
    /// Bytes.
    U8(&'a [u8]),
}

impl<'a> Elements<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Elements::F32(d) => d.len(),
            Elements::F16(d) => d.len(),
            Elements::Bf16(d) => d.len(),
            Elements::U8(d) => d.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type's name (`f32`, `f16`, `bf16`, `u8`).
    pub fn dtype_name(&self) -> &'static str {
        match self {
            Elements::F32(_) => f32::NAME,
            Elements::F16(_) => f16::NAME,
            Elements::Bf16(_) => bf16::NAME,
            Elements::U8(_) => u8::NAME,
        }
    }

    /// The elements in `range`, or `None` when it is out of bounds.
    pub fn get(&self, range: std::ops::Range<usize>) -> Option<Elements<'a>> {
        Some(match *self {
            Elements::F32(d) => Elements::F32(d.get(range)?),
            Elements::F16(d) => Elements::F16(d.get(range)?),
            Elements::Bf16(d) => Elements::Bf16(d.get(range)?),
            Elements::U8(d) => Elements::U8(d.get(range)?),
        })
    }
}

impl<'a> From<&'a [f32]> for Elements<'a> {
    fn from(d: &'a [f32]) -> Self {
        Elements::F32(d)
    }
}

impl<'a> From<&'a [f16]> for Elements<'a> {
    fn from(d: &'a [f16]) -> Self {
        Elements::F16(d)
    }
}

impl<'a> From<&'a [u8]> for Elements<'a> {
    fn from(d: &'a [u8]) -> Self {
        Elements::U8(d)
    }
}

impl<'a> From<&'a [bf16]> for Elements<'a> {
    fn from(d: &'a [bf16]) -> Self {
        Elements::Bf16(d)
    }
}

/// The dimensions of a batch: `n` images (each a sequence of `t` frames when `t` is some) of
/// `c` channels (1 grey; 3 or more colour, of which the first three are drawn), `h` rows and `w`
/// columns, stored contiguously in that order.
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

    /// Elements of one image (all its timesteps and channels).
    pub(crate) fn image_len(&self) -> usize {
        self.steps() * self.c * self.plane()
    }

    /// Offset of the plane of channel `c` at timestep `t` within one image.
    pub(crate) fn plane_offset(&self, t: usize, c: usize) -> usize {
        (t * self.c + c) * self.plane()
    }
}

/// Where a batch's elements are.
#[derive(Clone, Debug)]
enum Storage<'a> {
    /// All images one after another.
    Whole(Elements<'a>),
    /// One slice per image.
    PerImage(Vec<Elements<'a>>),
}

/// A checked view of one tensor to draw: name, data and dimensions agree.
#[derive(Clone, Debug)]
pub struct ImageBatch<'a> {
    name: String,
    storage: Storage<'a>,
    dims: BatchDims,
}

/// Checks `shape` (rank 4 or 5, C in {1, 3}, no zero) and returns its dimensions and element
/// count.
pub(crate) fn check_shape(name: &str, shape: &[usize]) -> Result<(BatchDims, usize)> {
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
                key: name.to_owned(),
                shape: shape.to_vec(),
            });
        }
    };
    // More than three channels: the first three are drawn, as MMagic's visualizer keeps
    // channels [2, 1, 0] of whatever it is given. Two cannot be read as grey or colour.
    if dims.c == 2 {
        return Err(Error::Channels {
            key: name.to_owned(),
            channels: dims.c,
            shape: shape.to_vec(),
        });
    }
    if shape.contains(&0) {
        return Err(Error::EmptyDimension {
            key: name.to_owned(),
            shape: shape.to_vec(),
        });
    }
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::ShapeOverflow {
            key: name.to_owned(),
            shape: shape.to_vec(),
        })?;
    Ok((dims, count))
}

impl<'a> ImageBatch<'a> {
    /// Views `data` as a tensor of `shape` (`[N, C, H, W]` or `[N, T, C, H, W]`, C in {1, 3}),
    /// named `name` in error messages.
    pub fn new(
        name: impl Into<String>,
        data: impl Into<Elements<'a>>,
        shape: &[usize],
    ) -> Result<Self> {
        let name = name.into();
        let data = data.into();
        let (dims, expected) = check_shape(&name, shape)?;
        if expected != data.len() {
            return Err(Error::DataLength {
                key: name,
                shape: shape.to_vec(),
                expected,
                actual: data.len(),
            });
        }
        Ok(Self {
            name,
            storage: Storage::Whole(data),
            dims,
        })
    }

    /// Views separate images as one batch: each of `images` holds one image of
    /// `image_shape` (`[C, H, W]`, or `[T, C, H, W]` for sequences), in any element type.
    pub fn from_images(
        name: impl Into<String>,
        images: Vec<Elements<'a>>,
        image_shape: &[usize],
    ) -> Result<Self> {
        let name = name.into();
        let mut shape = Vec::with_capacity(image_shape.len() + 1);
        shape.push(images.len());
        shape.extend_from_slice(image_shape);
        let (dims, _) = check_shape(&name, &shape)?;
        let per_image = dims.image_len();
        if let Some(bad) = images.iter().find(|i| i.len() != per_image) {
            return Err(Error::DataLength {
                key: name,
                shape: image_shape.to_vec(),
                expected: per_image,
                actual: bad.len(),
            });
        }
        Ok(Self {
            name,
            storage: Storage::PerImage(images),
            dims,
        })
    }

    /// The tensor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The elements of image `n` and the offset at which they start.
    pub(crate) fn image(&self, n: usize) -> Option<(Elements<'a>, usize)> {
        match &self.storage {
            Storage::Whole(data) => Some((*data, n.checked_mul(self.dims.image_len())?)),
            Storage::PerImage(images) => Some((*images.get(n)?, 0)),
        }
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
    fn separate_images_make_one_batch() {
        let a = vec![0.0f32; 3 * 4 * 5];
        let b = vec![0u8; 3 * 4 * 5];
        let batch = ImageBatch::from_images(
            "x",
            vec![a.as_slice().into(), b.as_slice().into()],
            &[3, 4, 5],
        )
        .unwrap();
        assert_eq!(batch.shape(), vec![2, 3, 4, 5]);
        let short = vec![0.0f32; 7];
        let err = ImageBatch::from_images("x", vec![short.as_slice().into()], &[3, 4, 5]);
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("needs 60 elements but its data holds 7")
        );
        assert!(ImageBatch::from_images("x", vec![], &[3, 4, 5]).is_err());
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
