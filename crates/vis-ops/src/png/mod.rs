//! PNG encoding through the `png` crate, fast by default for training-time grids.
//!
//! The default ([`PngSpeed::Fast`]) filters rows adaptively and compresses them with our own
//! deflate encoder (zero runs plus a Huffman table per block; see `deflate`), in strips spread
//! over rayon's threads; the `png` crate writes the container (signature, header, IDAT chunks
//! with their CRCs, end). The slower speeds hand the pixels to the `png` crate's own encoder.

mod apng;
mod deflate;
mod filter;

use std::io::Write;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::image::RgbView;
use filter::Filterer;

pub use apng::encode_apng;
pub(crate) use apng::working_bytes as apng_working_bytes;

/// How hard the PNG encoder works: a trade of speed against file size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PngSpeed {
    /// Adaptive filtering and vis's deflate (zero runs, a Huffman table per block), strips
    /// compressed in parallel: about the size of OpenCV's (zlib level 1) files, many times
    /// faster. The default for grids written while a model trains.
    #[default]
    Fast,
    /// The `png` crate's zlib level 6 with adaptive filtering: about 10 % smaller, tens of times
    /// slower.
    Balanced,
    /// The `png` crate's best compression: a little smaller still, far slower; for final
    /// pictures only.
    High,
}

impl PngSpeed {
    fn compression(self) -> png::Compression {
        match self {
            PngSpeed::Fast => png::Compression::Fast,
            PngSpeed::Balanced => png::Compression::Balanced,
            PngSpeed::High => png::Compression::High,
        }
    }
}

/// Filtered bytes per strip: strips compress independently (in parallel when there are
/// threads), each ending with a sync flush.
const STRIP_BYTES: usize = 1 << 18;

/// Strips compressed at once: their output is written before the next ones start, so the
/// encoder's memory does not grow with the picture.
const STRIPS_IN_FLIGHT: usize = 16;

/// The longest IDAT chunk the format allows.
const MAX_IDAT: usize = i32::MAX as usize;

/// Bytes the `Fast` encoder holds at its peak for a `width` x `height` picture, besides the
/// picture itself: the strips in flight (filtered rows, their compressed form, the filter's
/// candidate rows) and a margin for the Huffman tables. The `png` crate's own speeds filter the
/// whole picture first: about twice its size.
pub(crate) fn working_bytes(speed: PngSpeed, width: usize, height: usize) -> usize {
    let row_bytes = width.saturating_mul(3);
    if speed != PngSpeed::Fast {
        return row_bytes
            .saturating_add(1)
            .saturating_mul(height)
            .saturating_mul(2);
    }
    let strip_rows = (STRIP_BYTES / row_bytes.saturating_add(1)).max(1);
    let strip = strip_rows.saturating_mul(row_bytes.saturating_add(1));
    let strips = height.div_ceil(strip_rows).min(STRIPS_IN_FLIGHT);
    let per_strip = strip
        .saturating_mul(2)
        .saturating_add(strip / 8)
        .saturating_add(row_bytes.saturating_mul(7))
        .saturating_add(64 << 10);
    strips.saturating_mul(per_strip)
}

/// Compresses one strip of filtered rows as raw deflate: the last strip ends the stream (a
/// final block), the others end on a byte boundary (a sync flush) so that strips concatenate.
pub type StripDeflate = dyn Fn(&[u8], bool) -> Vec<u8> + Sync;

/// Filters and compresses the image's rows as a zlib stream, handing the pieces to `emit` in
/// order, a few strips at a time.
fn compress_fast(image: RgbView<'_>, emit: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
    compress_strips(image, &deflate::deflate_strip, STRIP_BYTES, emit)
}

/// [`compress_fast`] with another deflate and strip size (`usize::MAX`: one strip).
pub(crate) fn compress_strips(
    image: RgbView<'_>,
    deflate: &StripDeflate,
    strip_bytes: usize,
    mut emit: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let row_bytes = image.width() * 3;
    let height = image.height();
    let pixels = image.as_bytes();
    let row = |r: usize| pixels.get(r * row_bytes..(r + 1) * row_bytes);
    let strip_rows = (strip_bytes / (row_bytes + 1)).max(1);
    let count = height.div_ceil(strip_rows);
    // zlib header (deflate, 32 KiB window, fastest).
    emit(&[0x78, 0x01])?;
    let mut adler = 1u32;
    for group in (0..count).step_by(STRIPS_IN_FLIGHT) {
        let pieces: Vec<(Vec<u8>, u32, usize)> = (group..(group + STRIPS_IN_FLIGHT).min(count))
            .into_par_iter()
            .map(|i| {
                let first = i * strip_rows;
                let last = (first + strip_rows).min(height);
                let mut filterer = Filterer::new(row_bytes);
                let mut filtered = Vec::with_capacity((last - first) * (row_bytes + 1));
                let mut prev = first.checked_sub(1).and_then(row);
                for r in first..last {
                    let Some(this) = row(r) else { break };
                    filterer.filter_row(prev, this, &mut filtered);
                    prev = Some(this);
                }
                let sum = simd_adler32::adler32(&filtered.as_slice());
                (deflate(&filtered, i + 1 == count), sum, filtered.len())
            })
            .collect();
        for (bytes, sum, len) in pieces {
            adler = deflate::adler32_combine(adler, sum, len);
            emit(&bytes)?;
        }
    }
    emit(&adler.to_be_bytes())
}

/// A `png` encoder of 8-bit RGB pictures of `width` x `height` at `speed`, adaptive filters.
fn rgb_encoder<W: Write>(
    out: W,
    width: usize,
    height: usize,
    speed: PngSpeed,
) -> Result<png::Encoder<'static, W>> {
    let too_large = || Error::TooLarge {
        width,
        height,
        limit: "PNG allows at most 2147483647 pixels a side",
    };
    let w = u32::try_from(width).map_err(|_| too_large())?;
    let h = u32::try_from(height).map_err(|_| too_large())?;
    let mut encoder = png::Encoder::new(out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(speed.compression());
    encoder.set_filter(png::Filter::Adaptive);
    Ok(encoder)
}

/// Encodes `image` (an [`RgbImage`](crate::RgbImage), or a frame of
/// [`RgbFrames`](crate::RgbFrames)) as an 8-bit RGB PNG into `out`.
pub fn encode_png<'a, W: Write>(
    image: impl Into<RgbView<'a>>,
    speed: PngSpeed,
    out: W,
) -> Result<()> {
    let image = image.into();
    let encoder = rgb_encoder(out, image.width(), image.height(), speed)?;
    let mut writer = encoder.write_header()?;
    if speed == PngSpeed::Fast {
        write_idat(&mut writer, |emit| compress_fast(image, emit))?;
    } else {
        writer.write_image_data(image.as_bytes())?;
    }
    writer.finish()?;
    Ok(())
}

/// Writes the zlib stream `compress` hands out in pieces as IDAT chunks.
fn write_idat<W: Write>(
    writer: &mut png::Writer<W>,
    compress: impl FnOnce(&mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()>,
) -> Result<()> {
    compress(&mut |piece| {
        for chunk in piece.chunks(MAX_IDAT) {
            writer.write_chunk(png::chunk::IDAT, chunk)?;
        }
        Ok(())
    })
}

/// Internals exposed for `cargo xtask bench` only, which times other deflate encoders behind
/// vis's filters and strips: not part of the API, and may change in any release.
#[doc(hidden)]
pub mod bench {
    use super::*;

    /// Encodes `image` as [`encode_png`] does at [`PngSpeed::Fast`], with `deflate` compressing
    /// each strip of about `strip_bytes` filtered bytes (`usize::MAX`: the whole image at once).
    pub fn encode_png_with<W: Write>(
        image: RgbView<'_>,
        deflate: &StripDeflate,
        strip_bytes: usize,
        out: W,
    ) -> Result<()> {
        let encoder = rgb_encoder(out, image.width(), image.height(), PngSpeed::Fast)?;
        let mut writer = encoder.write_header()?;
        write_idat(&mut writer, |emit| {
            compress_strips(image, deflate, strip_bytes, emit)
        })?;
        writer.finish()?;
        Ok(())
    }

    pub use super::StripDeflate;

    /// The filtered bytes per strip vis compresses at once.
    pub const STRIP_BYTES: usize = super::STRIP_BYTES;
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::RgbImage;

    fn decode(png: &[u8]) -> (usize, usize, Vec<u8>) {
        let mut reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .expect("a valid PNG header");
        let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
        let info = reader.next_frame(&mut buf).expect("valid image data");
        assert_eq!(info.color_type, png::ColorType::Rgb);
        buf.truncate(info.buffer_size());
        (info.width as usize, info.height as usize, buf)
    }

    /// Pixels of several kinds: noise, smooth gradients with grain, flat areas, sparse dots.
    fn content(kind: u8, w: usize, h: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        (0..w * h * 3)
            .map(|i| {
                let (px, c) = (i / 3, i % 3);
                let (col, row) = (px % w, px / w);
                match kind % 4 {
                    0 => next() as u8,
                    1 => ((col * 3 + row * 2 + c * 40) as u64 + next() % 5) as u8,
                    2 => (row / 7 * 60 + c) as u8,
                    _ => {
                        if next() % 97 == 0 {
                            255
                        } else {
                            0
                        }
                    }
                }
            })
            .collect()
    }

    fn round_trip(w: usize, h: usize, data: Vec<u8>, speed: PngSpeed) {
        let image = RgbImage::from_raw(w, h, data).unwrap();
        let mut png = Vec::new();
        encode_png(&image, speed, &mut png).unwrap();
        let (dw, dh, pixels) = decode(&png);
        assert_eq!((dw, dh), (w, h));
        assert!(
            pixels == image.as_bytes(),
            "{w}x{h} {speed:?} pixels differ"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn fast_png_round_trips(w in 1usize..400, h in 1usize..60, kind in 0u8..4, seed in any::<u64>()) {
            round_trip(w, h, content(kind, w, h, seed), PngSpeed::Fast);
        }
    }

    #[test]
    fn round_trips_many_strips_and_long_rows() {
        // 2000 x 300: many strips, several blocks per strip.
        round_trip(2000, 300, content(1, 2000, 300, 7), PngSpeed::Fast);
        // Rows longer than a strip: one row per strip.
        round_trip(100_000, 3, content(1, 100_000, 3, 9), PngSpeed::Fast);
        round_trip(1, 1, vec![1, 2, 3], PngSpeed::Fast);
        round_trip(17, 9, content(0, 17, 9, 3), PngSpeed::Balanced);
    }

    #[test]
    fn fast_files_are_smaller_than_fdeflate_on_smooth_content() {
        let (w, h) = (530, 530);
        let image = RgbImage::from_raw(w, h, content(1, w, h, 5)).unwrap();
        let mut ours = Vec::new();
        encode_png(&image, PngSpeed::Fast, &mut ours).unwrap();
        let mut theirs = Vec::new();
        let mut e = png::Encoder::new(&mut theirs, w as u32, h as u32);
        e.set_color(png::ColorType::Rgb);
        e.set_compression(png::Compression::Fast);
        let mut writer = e.write_header().unwrap();
        writer.write_image_data(image.as_bytes()).unwrap();
        writer.finish().unwrap();
        assert!(
            ours.len() < theirs.len(),
            "{} vs {}",
            ours.len(),
            theirs.len()
        );
    }
}
