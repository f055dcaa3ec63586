//! Animated PNG (APNG): every frame kept exactly, one `fcTL` chunk per frame with its delay as a
//! fraction of a second, an endless loop. The `Fast` speed compresses frames as PNG stills are
//! (the same filters and deflate), several frames at once; the slower speeds hand each frame to
//! the `png` crate's own APNG writer.

use std::io::Write;

use rayon::prelude::*;

use super::{MAX_IDAT, PngSpeed, compress_fast, rgb_encoder};
use crate::error::{Error, Result};
use crate::image::{RgbFrames, RgbView};
use crate::spec::FrameDelay;

/// Frames compressed at once before they are written, so the encoder's memory does not grow
/// with the animation.
const FRAMES_IN_FLIGHT: usize = 16;

/// Bytes the encoder holds at its peak for `frames` frames of `width` x `height`, besides the
/// frames themselves: for `Fast`, per frame in flight the still encoder's strips and the
/// compressed frame (at most about its raw size); the slower speeds encode one frame at a time.
pub(crate) fn working_bytes(speed: PngSpeed, width: usize, height: usize, frames: usize) -> usize {
    let still = super::working_bytes(speed, width, height);
    if speed != PngSpeed::Fast {
        return still;
    }
    let compressed = width
        .saturating_mul(3)
        .saturating_add(1)
        .saturating_mul(height)
        .saturating_add(64 << 10);
    frames
        .clamp(1, FRAMES_IN_FLIGHT)
        .saturating_mul(still.saturating_add(compressed))
}

/// Encodes `frames` as an endlessly looping APNG into `out`, each frame shown for `delay`. The
/// first frame is also the still picture that viewers without APNG support show.
pub fn encode_apng<W: Write>(
    frames: &RgbFrames,
    delay: FrameDelay,
    speed: PngSpeed,
    out: W,
) -> Result<()> {
    if frames.is_empty() {
        return Err(Error::Frames("an APNG needs at least one frame".into()));
    }
    let mut encoder = rgb_encoder(out, frames.width(), frames.height(), speed)?;
    // Both fit in u32: `rgb_encoder` checked them.
    let (width, height) = (frames.width() as u32, frames.height() as u32);
    let count = u32::try_from(frames.len()).map_err(|_| {
        Error::Frames(format!(
            "{} frames; APNG holds at most 2^32 - 1",
            frames.len()
        ))
    })?;
    let denominator = delay.denominator.max(1);
    if speed != PngSpeed::Fast {
        encoder.set_animated(count, 0)?;
        encoder.set_frame_delay(delay.numerator, denominator)?;
        let mut writer = encoder.write_header()?;
        for frame in frames.iter() {
            writer.write_image_data(frame.as_bytes())?;
        }
        writer.finish()?;
        return Ok(());
    }
    let mut writer = encoder.write_header()?;
    // num_frames, then num_plays = 0: loop forever.
    let actl = [count.to_be_bytes(), 0u32.to_be_bytes()].concat();
    writer.write_chunk(png::chunk::acTL, &actl)?;
    let mut sequence = 0u32;
    for group in (0..frames.len()).step_by(FRAMES_IN_FLIGHT) {
        let compressed: Vec<Vec<u8>> = (group..(group + FRAMES_IN_FLIGHT).min(frames.len()))
            .into_par_iter()
            .map(|i| frames.frame(i).map_or(Ok(Vec::new()), zlib_stream))
            .collect::<Result<_>>()?;
        for (i, zlib) in (group..).zip(compressed) {
            writer.write_chunk(
                png::chunk::fcTL,
                &frame_control(sequence, width, height, delay.numerator, denominator),
            )?;
            sequence = sequence.wrapping_add(1);
            if i == 0 {
                for chunk in zlib.chunks(MAX_IDAT) {
                    writer.write_chunk(png::chunk::IDAT, chunk)?;
                }
                continue;
            }
            let mut fdat = Vec::new();
            for chunk in zlib.chunks(MAX_IDAT - 4) {
                fdat.clear();
                fdat.extend_from_slice(&sequence.to_be_bytes());
                fdat.extend_from_slice(chunk);
                writer.write_chunk(png::chunk::fdAT, &fdat)?;
                sequence = sequence.wrapping_add(1);
            }
        }
    }
    writer.finish()?;
    Ok(())
}

/// One frame's filtered rows as a whole zlib stream, as a PNG still holds them.
fn zlib_stream(frame: RgbView<'_>) -> Result<Vec<u8>> {
    let mut zlib = Vec::new();
    compress_fast(frame, |piece| {
        zlib.try_reserve(piece.len())
            .map_err(|_| Error::OutOfMemory {
                bytes: zlib.len().saturating_add(piece.len()),
                width: frame.width(),
                height: frame.height(),
            })?;
        zlib.extend_from_slice(piece);
        Ok(())
    })?;
    Ok(zlib)
}

/// An `fcTL` chunk's 26 bytes: a full-size frame at the origin, shown for
/// `numerator / denominator` seconds, nothing disposed, drawn over what was there (every frame
/// is opaque and whole).
fn frame_control(
    sequence: u32,
    width: u32,
    height: u32,
    numerator: u16,
    denominator: u16,
) -> Vec<u8> {
    let mut fctl = Vec::with_capacity(26);
    for field in [sequence, width, height, 0, 0] {
        fctl.extend_from_slice(&field.to_be_bytes());
    }
    fctl.extend_from_slice(&numerator.to_be_bytes());
    fctl.extend_from_slice(&denominator.to_be_bytes());
    // dispose_op = APNG_DISPOSE_OP_NONE, blend_op = APNG_BLEND_OP_SOURCE.
    fctl.extend_from_slice(&[0, 0]);
    fctl
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::spec::FrameSpec;

    /// Each frame's delay (numerator, denominator) and RGB bytes.
    type Frames = Vec<((u16, u16), Vec<u8>)>;

    /// Decodes an APNG: size, plays, and its frames.
    fn decode(apng: &[u8]) -> ((u32, u32), u32, Frames) {
        let mut reader = png::Decoder::new(std::io::Cursor::new(apng))
            .read_info()
            .expect("a valid PNG header");
        let info = reader.info();
        let size = (info.width, info.height);
        let actl = info.animation_control().expect("an acTL chunk");
        let (count, plays) = (actl.num_frames, actl.num_plays);
        let mut out = Vec::new();
        for _ in 0..count {
            let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
            let frame = reader.next_frame(&mut buf).expect("a whole frame");
            assert_eq!(frame.color_type, png::ColorType::Rgb);
            buf.truncate(frame.buffer_size());
            let fctl = reader.info().frame_control().expect("an fcTL chunk");
            assert_eq!(
                (fctl.width, fctl.height, fctl.x_offset, fctl.y_offset),
                (size.0, size.1, 0, 0)
            );
            assert_eq!(fctl.dispose_op, png::DisposeOp::None);
            assert_eq!(fctl.blend_op, png::BlendOp::Source);
            out.push(((fctl.delay_num, fctl.delay_den), buf));
        }
        assert!(
            reader.next_frame(&mut []).is_err(),
            "more frames than acTL says"
        );
        (size, plays, out)
    }

    fn frames(w: usize, h: usize, count: usize, seed: u64) -> RgbFrames {
        let mut x = seed | 1;
        let data = (0..w * h * 3 * count)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Smooth, noisy and flat regions, changing from frame to frame.
                let px = i / 3 % (w * h);
                match (i / (w * h * 3) + px / w) % 3 {
                    0 => (px % w * 5 + i % 3 * 40) as u8,
                    1 => x as u8,
                    _ => 17,
                }
            })
            .collect();
        RgbFrames::from_raw(w, h, count, data).unwrap()
    }

    fn round_trip(frames: &RgbFrames, fps: f64, speed: PngSpeed) {
        let delay = FrameSpec { n_skip: 1, fps }.apng_delay();
        let mut apng = Vec::new();
        encode_apng(frames, delay, speed, &mut apng).unwrap();
        let (size, plays, decoded) = decode(&apng);
        assert_eq!(size, (frames.width() as u32, frames.height() as u32));
        assert_eq!(plays, 0, "loops forever");
        assert_eq!(decoded.len(), frames.len());
        for (i, ((num, den), pixels)) in decoded.iter().enumerate() {
            assert_eq!(
                (*num, *den),
                (delay.numerator, delay.denominator),
                "frame {i}"
            );
            assert!(
                pixels.as_slice() == frames.frame(i).unwrap().as_bytes(),
                "frame {i} differs"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn fast_apng_frames_round_trip(
            w in 1usize..120, h in 1usize..40, count in 1usize..40, seed in any::<u64>(), fps in 0.1f64..200.0,
        ) {
            round_trip(&frames(w, h, count, seed), fps, PngSpeed::Fast);
        }
    }

    #[test]
    fn every_speed_and_many_strips_round_trip() {
        // Frames of several strips, and more frames than are compressed at once.
        round_trip(&frames(700, 200, 3, 1), 10.0, PngSpeed::Fast);
        round_trip(&frames(9, 7, 37, 2), 29.97, PngSpeed::Fast);
        round_trip(&frames(9, 7, 5, 3), 24.0, PngSpeed::Balanced);
        round_trip(&frames(9, 7, 2, 4), 60.0, PngSpeed::High);
        round_trip(&frames(1, 1, 1, 5), 1.0, PngSpeed::Fast);
    }

    #[test]
    fn the_still_is_the_first_frame() {
        let frames = frames(13, 5, 4, 6);
        let mut apng = Vec::new();
        encode_apng(
            &frames,
            FrameSpec::default().apng_delay(),
            PngSpeed::Fast,
            &mut apng,
        )
        .unwrap();
        // A decoder that ignores APNG chunks reads the first frame as the picture.
        let mut reader = png::Decoder::new(std::io::Cursor::new(&apng))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(
            &buf[..info.buffer_size()],
            frames.frame(0).unwrap().as_bytes()
        );
    }

    #[test]
    fn refuses_an_empty_animation() {
        let empty = RgbFrames::from_raw(4, 4, 0, Vec::new()).unwrap();
        let err = encode_apng(
            &empty,
            FrameSpec::default().apng_delay(),
            PngSpeed::Fast,
            Vec::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("at least one frame"), "{err}");
    }
}
