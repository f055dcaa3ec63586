//! PNG encoding of [`RgbImage`]s through the `png` crate, fast by default for training-time
//! grids.

use std::io::Write;

use crate::error::{Error, Result};
use crate::image::RgbImage;

/// How hard the PNG encoder works: a trade of speed against file size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PngSpeed {
    /// `fdeflate` with adaptive filtering: within a few percent of the best size, many times
    /// faster than zlib. The default for grids written while a model trains.
    #[default]
    Fast,
    /// zlib-style level 6 with adaptive filtering: smaller, several times slower.
    Balanced,
    /// The smallest files; far slower, for final pictures only.
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

/// Encodes `image` as an 8-bit RGB PNG into `out`.
pub fn encode_png<W: Write>(image: &RgbImage, speed: PngSpeed, out: W) -> Result<()> {
    let too_large = || Error::TooLarge {
        width: image.width(),
        height: image.height(),
        limit: "PNG allows at most 2147483647 pixels a side",
    };
    let width = u32::try_from(image.width()).map_err(|_| too_large())?;
    let height = u32::try_from(image.height()).map_err(|_| too_large())?;
    let mut encoder = png::Encoder::new(out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(speed.compression());
    encoder.set_filter(png::Filter::Adaptive);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(image.as_bytes())?;
    writer.finish()?;
    Ok(())
}
