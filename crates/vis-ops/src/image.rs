//! The picture types every stage hands on: 8-bit RGB, rows top to bottom, no row padding; one
//! picture ([`RgbImage`]), the frames of an animation in one buffer ([`RgbFrames`]), and a
//! borrowed view of either ([`RgbView`]).

use crate::error::{Error, Result};

/// An 8-bit RGB picture, `width * height * 3` bytes, row-major.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbImage {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl std::fmt::Debug for RgbImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RgbImage({}x{})", self.width, self.height)
    }
}

impl RgbImage {
    /// Wraps `data` as a `width` x `height` RGB picture; the length must be exact.
    pub fn from_raw(width: usize, height: usize, data: Vec<u8>) -> Result<Self> {
        check_len(width, height, 1, data.len())?;
        Ok(Self {
            width,
            height,
            data,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The RGB bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The RGB bytes, taken out.
    pub fn into_bytes(self) -> Vec<u8> {
        self.data
    }

    /// A borrowed view.
    pub fn view(&self) -> RgbView<'_> {
        RgbView {
            width: self.width,
            height: self.height,
            data: &self.data,
        }
    }
}

/// A borrowed 8-bit RGB picture: `width * height * 3` bytes, row-major.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RgbView<'a> {
    width: usize,
    height: usize,
    data: &'a [u8],
}

impl std::fmt::Debug for RgbView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RgbView({}x{})", self.width, self.height)
    }
}

impl<'a> RgbView<'a> {
    /// Views `data` as a `width` x `height` RGB picture; the length must be exact.
    pub fn new(width: usize, height: usize, data: &'a [u8]) -> Result<Self> {
        check_len(width, height, 1, data.len())?;
        Ok(Self {
            width,
            height,
            data,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The RGB bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.data
    }
}

impl<'a> From<&'a RgbImage> for RgbView<'a> {
    fn from(image: &'a RgbImage) -> Self {
        image.view()
    }
}

/// Same-size RGB pictures stored one after another in one buffer: the frames of an animation.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbFrames {
    width: usize,
    height: usize,
    count: usize,
    data: Vec<u8>,
}

impl std::fmt::Debug for RgbFrames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RgbFrames({} x {}x{})",
            self.count, self.width, self.height
        )
    }
}

impl RgbFrames {
    /// Wraps `data` as `count` frames of `width` x `height`; the length must be exact.
    pub fn from_raw(width: usize, height: usize, count: usize, data: Vec<u8>) -> Result<Self> {
        check_len(width, height, count, data.len())?;
        Ok(Self {
            width,
            height,
            count,
            data,
        })
    }

    /// Copies same-size pictures into one buffer.
    pub fn from_images(images: &[RgbImage]) -> Result<Self> {
        let (width, height) = images
            .first()
            .map(|i| (i.width, i.height))
            .ok_or_else(|| Error::Frames("an animation needs at least one frame".into()))?;
        if let Some(bad) = images
            .iter()
            .find(|i| (i.width, i.height) != (width, height))
        {
            return Err(Error::Frames(format!(
                "frames must share one size: the first is {width}x{height}, another is {}x{}",
                bad.width, bad.height
            )));
        }
        let data = images.iter().flat_map(|i| i.data.iter().copied()).collect();
        Self::from_raw(width, height, images.len(), data)
    }

    /// Frame width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Frame height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when there is no frame.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Frame `i`.
    pub fn frame(&self, i: usize) -> Option<RgbView<'_>> {
        let size = self.width * self.height * 3;
        let data = self
            .data
            .get(i.checked_mul(size)?..i.checked_add(1)?.checked_mul(size)?)?;
        Some(RgbView {
            width: self.width,
            height: self.height,
            data,
        })
    }

    /// Every frame in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = RgbView<'_>> + '_ {
        self.data
            .chunks_exact((self.width * self.height * 3).max(1))
            .map(|data| RgbView {
                width: self.width,
                height: self.height,
                data,
            })
    }

    /// All frames' bytes, one after another.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// All frames' bytes, taken out.
    pub fn into_bytes(self) -> Vec<u8> {
        self.data
    }
}

/// Checks that `len` bytes are exactly `count` RGB pictures of `width` x `height`.
fn check_len(width: usize, height: usize, count: usize, len: usize) -> Result<()> {
    let expected = width
        .checked_mul(height)
        .and_then(|p| p.checked_mul(3))
        .and_then(|b| b.checked_mul(count))
        .unwrap_or(usize::MAX);
    if len != expected || width == 0 || height == 0 {
        return Err(Error::ImageBuffer {
            width,
            height,
            expected,
            actual: len,
        });
    }
    Ok(())
}

/// Makes `buf` exactly `bytes` long (its old contents are left for the caller to overwrite),
/// with an error instead of an abort when memory runs out.
pub(crate) fn prepare_canvas(
    buf: &mut Vec<u8>,
    bytes: usize,
    width: usize,
    height: usize,
) -> Result<()> {
    if let Some(more) = bytes.checked_sub(buf.len()).filter(|&m| m > 0) {
        buf.try_reserve_exact(more)
            .map_err(|_| Error::OutOfMemory {
                bytes,
                width,
                height,
            })?;
        buf.resize(bytes, 0);
    } else {
        buf.truncate(bytes);
    }
    Ok(())
}
