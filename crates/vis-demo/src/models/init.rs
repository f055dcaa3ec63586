//! Seeded weight initialisation: candle-nn creates variables with its own (unseedable)
//! generator; these functions overwrite them, in sorted name order, from a [`SeededRng`].

use candle_nn::VarMap;

use vis_candle::SeededRng;
use vis_candle::{Error, Result};

/// How weights are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// DCGAN / pix2pix: convolution and linear weights N(0, 0.02), batch-norm scales
    /// N(1, 0.02), biases 0.
    Gan,
    /// PyTorch's default: weights and biases uniform in ±1/sqrt(fan_in); norm scales 1.
    Default,
}

/// Overwrites every trainable variable of `map` following `scheme`, from `rng`. Batch-norm
/// running statistics are left as created (mean 0, variance 1).
pub fn initialise(map: &VarMap, scheme: Scheme, rng: &mut SeededRng) -> Result<()> {
    let data = map
        .data()
        .lock()
        .map_err(|_| Error::Model("a weight map's lock was poisoned".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let Some(var) = data.get(name) else { continue };
        if name.ends_with("running_mean") || name.ends_with("running_var") {
            continue;
        }
        let dims = var.dims().to_vec();
        let device = var.device().clone();
        let is_norm = name.contains("bn") || name.contains("norm");
        let value = if dims.len() >= 2 {
            let fan_in: usize = dims.iter().skip(1).product();
            match scheme {
                Scheme::Gan => rng.normal_with(&dims, 0.0, 0.02, &device)?,
                Scheme::Default => {
                    let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
                    rng.uniform(&dims, -bound, bound, &device)?
                }
            }
        } else if is_norm && name.ends_with("weight") {
            match scheme {
                Scheme::Gan => rng.normal_with(&dims, 1.0, 0.02, &device)?,
                Scheme::Default => {
                    candle_core::Tensor::ones(dims.as_slice(), var.dtype(), &device)?
                }
            }
        } else {
            candle_core::Tensor::zeros(dims.as_slice(), var.dtype(), &device)?
        };
        var.set(&value)?;
    }
    Ok(())
}
