//! The picture type every stage hands on: 8-bit RGB, rows top to bottom, no row padding.

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
        let expected = width
            .checked_mul(height)
            .and_then(|p| p.checked_mul(3))
            .unwrap_or(usize::MAX);
        if data.len() != expected || width == 0 || height == 0 {
            return Err(Error::ImageBuffer {
                width,
                height,
                expected,
                actual: data.len(),
            });
        }
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
