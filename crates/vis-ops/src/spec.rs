//! What to draw: how floats become bytes ([`PixelMap`], [`Quantize`], [`ChannelOrder`]), how
//! images are tiled ([`GridSpec`]) and how sequences become animations ([`FrameSpec`]).

use crate::error::{Error, Result};

/// How an input float `x` becomes a value `v` in 0..255 space (float32, op by op, no fused
/// multiply-add).
#[derive(Clone, Debug, PartialEq, Default)]
pub enum PixelMap {
    /// `v = x * 255`: floats in [0, 1] (torchvision `save_image`).
    #[default]
    Unit,
    /// `v = x`: floats already in 0..255.
    Identity,
    /// `v = x * std[c] + mean[c]`, per INPUT channel `c` (MMagic's de-normalisation; GAN outputs
    /// in [-1, 1] use mean = std = 127.5). One value serves every channel.
    Denorm {
        /// Per-channel mean (1 or 3 values), rounded to f32 once.
        mean: Vec<f64>,
        /// Per-channel standard deviation (1 or 3 values), rounded to f32 once.
        std: Vec<f64>,
    },
    /// Linear map of [lo, hi] to [0, 255] (torchvision `normalize=True, value_range`):
    /// `t = clamp(x, lo, hi)`, `t = (t - lo) / max(hi - lo, 1e-5)`, `v = t * 255`.
    Range {
        /// Lower end; `None` takes the minimum of the data.
        lo: Option<f64>,
        /// Upper end; `None` takes the maximum of the data.
        hi: Option<f64>,
        /// Take missing ends per image instead of over the whole batch of a tensor.
        scale_each: bool,
    },
}

impl PixelMap {
    /// GAN outputs in [-1, 1] (mean = std = 127.5), MMagic's usual de-normalisation.
    pub fn gan() -> Self {
        PixelMap::Denorm {
            mean: vec![127.5],
            std: vec![127.5],
        }
    }

    /// Checks the parameters: finite values, 1 or 3 per-channel values, `lo <= hi`.
    pub fn validate(&self) -> Result<()> {
        match self {
            PixelMap::Unit | PixelMap::Identity => Ok(()),
            PixelMap::Denorm { mean, std } => {
                for (what, list) in [("mean", mean), ("std", std)] {
                    if list.len() != 1 && list.len() != 3 {
                        return Err(Error::ChannelList {
                            what,
                            len: list.len(),
                        });
                    }
                    if let Some(bad) = list.iter().find(|v| !v.is_finite()) {
                        return Err(Error::BadMapParameter(format!(
                            "{what} holds {bad}; every value must be finite"
                        )));
                    }
                }
                Ok(())
            }
            PixelMap::Range { lo, hi, .. } => {
                for (what, v) in [("lo", lo), ("hi", hi)] {
                    if let Some(v) = v
                        && !v.is_finite()
                    {
                        return Err(Error::BadMapParameter(format!(
                            "range {what} is {v}; it must be finite"
                        )));
                    }
                }
                if let (Some(lo), Some(hi)) = (lo, hi)
                    && lo > hi
                {
                    return Err(Error::BadMapParameter(format!(
                        "range lo = {lo} is above hi = {hi}; give lo <= hi"
                    )));
                }
                Ok(())
            }
        }
    }
}

/// How a value `v` in 0..255 space becomes a byte. NaN gives 0, +Inf 255, -Inf 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Quantize {
    /// `trunc(clamp(v + 0.5, 0, 255))`: torchvision `save_image`.
    #[default]
    RoundHalfUp,
    /// `trunc(clamp(v, 0, 255))`: MMagic's `.astype(np.uint8)` after its clamp.
    Truncate,
    /// `round_half_even(clamp(v, 0, 255))`: numpy's `.clip(0, 255).round()`, as MMagic's
    /// `ConcatImageVisualizer` draws.
    RoundHalfEven,
}

/// The channel order of 3-channel input. The output is always RGB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ChannelOrder {
    /// Red, green, blue.
    #[default]
    Rgb,
    /// Blue, green, red (OpenCV and MMagic's convention).
    Bgr,
}

impl ChannelOrder {
    /// The input channel that feeds output channel `out` (0 = R, 1 = G, 2 = B).
    pub(crate) fn input_channel(self, out: usize) -> usize {
        match self {
            ChannelOrder::Rgb => out,
            ChannelOrder::Bgr => 2 - out,
        }
    }
}

/// How images are tiled (torchvision `make_grid`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridSpec {
    /// Images per row; `None` means `ceil(sqrt(N))` (MMagic's default).
    pub nrow: Option<usize>,
    /// Pixels of border around every cell, shared between neighbours.
    pub padding: usize,
    /// The byte (all three channels) of borders and empty cells.
    pub pad_byte: u8,
    /// Every key fills whole rows of `nrow` cells, even a key with fewer images: MMagic's
    /// visualizer pads each key's batch to a multiple of `nrow` before `make_grid`. Without it
    /// a grid has `min(nrow, N)` columns, as torchvision's `make_grid`.
    pub pad_to_nrow: bool,
}

impl Default for GridSpec {
    fn default() -> Self {
        Self {
            nrow: None,
            padding: 2,
            pad_byte: 0,
            pad_to_nrow: false,
        }
    }
}

/// Everything that decides the bytes of a grid.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RenderSpec {
    /// Floats to 0..255 space.
    pub map: PixelMap,
    /// 0..255 space to bytes.
    pub quantize: Quantize,
    /// Channel order of the input.
    pub order: ChannelOrder,
    /// Tiling.
    pub grid: GridSpec,
}

/// The animation formats vis writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnimationFormat {
    /// GIF: delays in whole centiseconds, 2 to 65535.
    Gif,
    /// APNG: delays as fractions of 16-bit integers, up to 65535 s.
    Apng,
}

impl AnimationFormat {
    /// The longest frame it can hold, in seconds.
    pub fn longest_frame_seconds(self) -> f64 {
        match self {
            AnimationFormat::Gif => f64::from(u16::MAX) / 100.0,
            AnimationFormat::Apng => f64::from(u16::MAX),
        }
    }
}

/// Which timesteps of a sequence become frames, and how fast they play.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameSpec {
    /// Every `n_skip`-th timestep is a frame (the last timestep always is).
    pub n_skip: usize,
    /// Frames per second of the animation.
    pub fps: f64,
}

impl Default for FrameSpec {
    fn default() -> Self {
        Self {
            n_skip: 1,
            fps: 10.0,
        }
    }
}

impl FrameSpec {
    /// Checks `n_skip >= 1` and a positive finite `fps`.
    pub fn validate(&self) -> Result<()> {
        if self.n_skip == 0 {
            return Err(Error::ZeroSkip);
        }
        if !(self.fps.is_finite() && self.fps > 0.0) {
            return Err(Error::BadFps(self.fps));
        }
        Ok(())
    }

    /// Checks that `format` can hold frames of `1 / fps` seconds (an error for slower `fps`,
    /// where the delay would be cut short).
    pub fn check_fits(&self, format: AnimationFormat) -> Result<()> {
        let longest = format.longest_frame_seconds();
        if 1.0 / self.fps > longest {
            return Err(Error::FrameTooLong {
                fps: self.fps,
                format: match format {
                    AnimationFormat::Gif => "a GIF",
                    AnimationFormat::Apng => "an APNG",
                },
                longest,
            });
        }
        Ok(())
    }

    /// Timesteps `0, n_skip, 2 n_skip, ...` of `steps`, plus the last when it is not among them.
    pub fn frame_indices(&self, steps: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..steps).step_by(self.n_skip.max(1)).collect();
        if let Some(last) = steps.checked_sub(1)
            && idx.last() != Some(&last)
        {
            idx.push(last);
        }
        idx
    }

    /// How many frames [`frame_indices`](Self::frame_indices) gives for `steps`, without
    /// listing them.
    pub fn frame_count(&self, steps: usize) -> usize {
        let every = steps.div_ceil(self.n_skip.max(1));
        let last_included = steps > 0 && (steps - 1).is_multiple_of(self.n_skip.max(1));
        every + usize::from(steps > 0 && !last_included)
    }

    /// APNG frame delay: the fraction nearest `1 / fps` whose numerator and denominator fit
    /// in 16 bits (exactly `1 / fps` for every whole `fps` up to 65535, `100 / 2997` for 29.97),
    /// the smallest denominator among equals. Delays beyond the range saturate at 1/65535 s and
    /// 65535 s.
    pub fn apng_delay(&self) -> FrameDelay {
        let seconds = 1.0 / self.fps;
        let max = f64::from(u16::MAX);
        if !seconds.is_finite() || seconds >= max {
            return FrameDelay {
                numerator: u16::MAX,
                denominator: 1,
            };
        }
        let mut best = FrameDelay {
            numerator: 1,
            denominator: u16::MAX,
        };
        let mut best_error = f64::INFINITY;
        for denominator in 1..=u16::MAX {
            let numerator = (seconds * f64::from(denominator)).round().clamp(1.0, max);
            let error = (numerator / f64::from(denominator) - seconds).abs();
            if error < best_error {
                best_error = error;
                // In 1..=65535 after the clamp.
                best = FrameDelay {
                    numerator: numerator as u16,
                    denominator,
                };
                if error == 0.0 {
                    break;
                }
            }
        }
        best
    }

    /// GIF frame delay in centiseconds: `max(2, round(100 / fps))`, rounding half to even as
    /// Python does, and never under 2 (browsers slow shorter delays to 10 cs).
    pub fn gif_delay_cs(&self) -> u16 {
        let cs = (100.0 / self.fps).round_ties_even();
        if cs.is_nan() || cs < 2.0 {
            2
        } else if cs > f64::from(u16::MAX) {
            u16::MAX
        } else {
            cs as u16
        }
    }
}

/// How long an APNG frame is shown: `numerator / denominator` seconds, as its `fcTL` chunk
/// stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameDelay {
    /// Seconds times `denominator`.
    pub numerator: u16,
    /// The fraction's denominator (never 0, which APNG reads as 100).
    pub denominator: u16,
}

impl FrameDelay {
    /// The delay in seconds.
    pub fn seconds(self) -> f64 {
        f64::from(self.numerator) / f64::from(self.denominator.max(1))
    }

    /// Whether browsers show the frame longer than it asks: Chromium and Firefox play frames of
    /// 10 ms or less for 100 ms (an old guard against ads that flash).
    pub fn slowed_by_browsers(self) -> bool {
        u32::from(self.numerator) * 100 <= u32::from(self.denominator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_count_is_the_length_of_frame_indices() {
        for n_skip in 1..12 {
            for steps in 0..40 {
                let spec = FrameSpec { n_skip, fps: 10.0 };
                assert_eq!(spec.frame_count(steps), spec.frame_indices(steps).len());
            }
        }
    }

    #[test]
    fn frames_follow_n_skip_and_add_the_last() {
        let f = |n_skip, steps| FrameSpec { n_skip, fps: 10.0 }.frame_indices(steps);
        assert_eq!(f(2, 5), vec![0, 2, 4]);
        assert_eq!(f(4, 6), vec![0, 4, 5]);
        assert_eq!(f(3, 7), vec![0, 3, 6]);
        assert_eq!(f(1, 3), vec![0, 1, 2]);
        assert_eq!(f(100, 1), vec![0]);
        assert_eq!(f(100, 1000).len(), 11);
    }

    #[test]
    fn gif_delay_has_a_two_centisecond_floor() {
        let d = |fps| FrameSpec { n_skip: 1, fps }.gif_delay_cs();
        assert_eq!(d(10.0), 10);
        assert_eq!(d(25.0), 4);
        assert_eq!(d(60.0), 2);
        assert_eq!(d(1000.0), 2);
        assert_eq!(d(40.0), 2); // 2.5 rounds half to even
        assert_eq!(d(0.001), u16::MAX);
    }

    #[test]
    fn apng_delay_is_the_nearest_16_bit_fraction() {
        let d = |fps| {
            let FrameDelay {
                numerator,
                denominator,
            } = FrameSpec { n_skip: 1, fps }.apng_delay();
            (numerator, denominator)
        };
        assert_eq!(d(10.0), (1, 10));
        assert_eq!(d(60.0), (1, 60));
        assert_eq!(d(24.0), (1, 24));
        assert_eq!(d(29.97), (100, 2997));
        assert_eq!(d(0.5), (2, 1));
        assert_eq!(d(0.75), (4, 3));
        assert_eq!(d(3.0), (1, 3));
        assert_eq!(d(65535.0), (1, 65535));
        assert_eq!(d(1e9), (1, 65535));
        assert_eq!(d(1e-9), (65535, 1));
        // Irrational: the best approximation with a denominator up to 65535 (Python's
        // `Fraction(1 / math.pi).limit_denominator(65535)`).
        assert_eq!(d(std::f64::consts::PI), (20785, 65298));
        for fps in 1..=2000u16 {
            assert_eq!(d(f64::from(fps)), (1, fps));
        }
    }

    #[test]
    fn frames_longer_than_the_format_holds_are_refused() {
        let fits = |fps, format| FrameSpec { n_skip: 1, fps }.check_fits(format);
        assert!(fits(1.0 / 65535.0, AnimationFormat::Apng).is_ok());
        assert!(fits(100.0 / 65535.0, AnimationFormat::Gif).is_ok());
        let err = fits(1e-5, AnimationFormat::Apng).unwrap_err().to_string();
        assert_eq!(
            err,
            "fps = 0.00001 asks for frames of 100000 s, longer than the 65535 s an APNG frame can last; give fps = 0.00001526 or more"
        );
        let err = fits(1e-3, AnimationFormat::Gif).unwrap_err().to_string();
        assert_eq!(
            err,
            "fps = 0.001 asks for frames of 1000 s, longer than the 655.35 s a GIF frame can last; give fps = 0.001526 or more"
        );
        // The fps the message gives fits.
        assert!(fits(0.00001526, AnimationFormat::Apng).is_ok());
        assert!(fits(0.001526, AnimationFormat::Gif).is_ok());
    }

    #[test]
    fn browsers_slow_frames_of_ten_ms_or_less() {
        let slowed = |fps| {
            FrameSpec { n_skip: 1, fps }
                .apng_delay()
                .slowed_by_browsers()
        };
        assert!(slowed(100.0));
        assert!(slowed(240.0));
        assert!(!slowed(99.0));
        assert!(!slowed(60.0));
    }

    #[test]
    fn map_validation_names_the_problem() {
        let bad = PixelMap::Denorm {
            mean: vec![1.0, 2.0],
            std: vec![1.0],
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("mean has 2")
        );
        let rev = PixelMap::Range {
            lo: Some(1.0),
            hi: Some(-1.0),
            scale_each: false,
        };
        assert!(rev.validate().unwrap_err().to_string().contains("above hi"));
        let nan = PixelMap::Denorm {
            mean: vec![f64::NAN],
            std: vec![1.0],
        };
        assert!(nan.validate().is_err());
        assert!(PixelMap::gan().validate().is_ok());
    }
}
