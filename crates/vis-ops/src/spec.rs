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
