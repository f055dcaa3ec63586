//! What a render holds in memory at its peak, worked out from sizes alone: a render that would
//! not fit in [`MAX_PICTURE_BYTES`] is refused before anything is read or allocated.

use crate::error::{Error, Result};
use crate::gif::GifPalette;
use crate::layout::MAX_PICTURE_BYTES;
use crate::png::PngSpeed;

/// How the drawn pictures are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// One PNG (a grid), or one PNG per frame written one after another.
    Png(PngSpeed),
    /// An animated PNG (every frame lossless).
    Apng(PngSpeed),
    /// An animated GIF; `png_frames` when every frame is also written as a PNG.
    Gif {
        /// Where its colours come from.
        palette: GifPalette,
        /// Whether the frames are also written as PNG stills.
        png_frames: bool,
    },
}

/// The bytes a render holds at its peak: the tensors read, the pictures drawn, and what the
/// encoder works with on top of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenderMemory {
    /// The tensors' elements, read into memory.
    pub input: usize,
    /// The drawn pictures: one grid, or every frame of an animation.
    pub pictures: usize,
    /// The encoder's own buffers at their largest.
    pub encoder: usize,
}

impl RenderMemory {
    /// The peak of drawing `frames` pictures of `width` x `height` from `input` bytes of
    /// tensors and encoding them with `encoding`.
    pub fn new(
        input: usize,
        width: usize,
        height: usize,
        frames: usize,
        encoding: Encoding,
    ) -> Self {
        let pictures = width
            .saturating_mul(height)
            .saturating_mul(3)
            .saturating_mul(frames);
        let png = |speed| crate::png::working_bytes(speed, width, height);
        let encoder = match encoding {
            Encoding::Png(speed) => png(speed),
            Encoding::Apng(speed) => crate::png::apng_working_bytes(speed, width, height, frames),
            Encoding::Gif {
                palette,
                png_frames,
            } => {
                let gif = crate::gif::working_bytes(palette, width, height, frames);
                if png_frames {
                    gif.max(png(PngSpeed::Fast))
                } else {
                    gif
                }
            }
        };
        Self {
            input,
            pictures,
            encoder,
        }
    }

    /// All of it.
    pub fn total(&self) -> usize {
        self.input
            .saturating_add(self.pictures)
            .saturating_add(self.encoder)
    }

    /// Refuses a render whose peak is over [`MAX_PICTURE_BYTES`], saying what takes the room.
    pub fn check(&self) -> Result<()> {
        if self.total() <= MAX_PICTURE_BYTES {
            return Ok(());
        }
        let mib = |b: usize| format!("{:.1} MiB", b as f64 / f64::from(1 << 20));
        Err(Error::MemoryLimit(format!(
            "drawing this would hold {} at its peak ({} of tensors, {} of pictures, {} for the encoder), more than the {} vis allows; draw fewer or smaller tensors (--tensor), fewer frames (a larger --n-skip) or use a smaller padding",
            mib(self.total()),
            mib(self.input),
            mib(self.pictures),
            mib(self.encoder),
            mib(MAX_PICTURE_BYTES)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_part_and_refuses_past_the_cap() {
        let m = RenderMemory::new(1000, 100, 100, 1, Encoding::Png(PngSpeed::Fast));
        assert_eq!(m.pictures, 30_000);
        assert!(m.encoder > 30_000 && m.encoder < 2 << 20, "{m:?}");
        m.check().unwrap();
        // A canvas under the cap whose encoder would push it over.
        let big = RenderMemory::new(0, 18_000, 18_000, 1, Encoding::Png(PngSpeed::Balanced));
        assert!(big.pictures < MAX_PICTURE_BYTES);
        let err = big.check().unwrap_err().to_string();
        assert!(err.contains("for the encoder"), "{err}");
        // Saturating, never overflowing.
        let huge = RenderMemory::new(usize::MAX, usize::MAX, 2, 3, Encoding::Png(PngSpeed::Fast));
        assert_eq!(huge.total(), usize::MAX);
        assert!(huge.check().is_err());
    }
}
