//! What the two GANs of the demo (the DCGAN and pix2pix) share: a generator's and a
//! discriminator's weights, their Adam optimisers (beta2 0.999, beta1 the model's), the
//! discriminator's logistic loss and the generator's non-saturating one.

use std::path::Path;

use candle_core::Tensor;
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap};
use vis_candle::{Result, SeededRng};

use super::init::{Scheme, initialise};
use super::{load_maps, save_maps};

/// A generator and a discriminator trained against each other.
pub(crate) struct Adversaries {
    /// The generator's weights.
    pub(crate) gen_vars: VarMap,
    /// The discriminator's weights.
    pub(crate) disc_vars: VarMap,
    gen_opt: AdamW,
    disc_opt: AdamW,
}

/// The logistic loss of `logits` against all-`target` labels (1 real, 0 generated).
fn logistic(logits: &Tensor, target: f64) -> Result<Tensor> {
    let labels = (logits.ones_like()? * target)?;
    Ok(candle_nn::loss::binary_cross_entropy_with_logit(
        logits, &labels,
    )?)
}

impl Adversaries {
    /// Initialises the weights of both networks (already built on `gen_vars` and `disc_vars`)
    /// from `rng` and makes their optimisers, each with learning rate `lr` and Adam's `beta1`.
    pub(crate) fn new(
        gen_vars: VarMap,
        disc_vars: VarMap,
        lr: f64,
        beta1: f64,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        initialise(&gen_vars, Scheme::Gan, rng)?;
        initialise(&disc_vars, Scheme::Gan, rng)?;
        let params = ParamsAdamW {
            lr,
            beta1,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        };
        let gen_opt = AdamW::new(gen_vars.all_vars(), params.clone())?;
        let disc_opt = AdamW::new(disc_vars.all_vars(), params)?;
        Ok(Self {
            gen_vars,
            disc_vars,
            gen_opt,
            disc_opt,
        })
    }

    /// The discriminator's loss on its logits for real and for generated images (the latter
    /// computed on detached images): the mean of the two logistic losses.
    pub(crate) fn discriminator_loss(real_logits: &Tensor, fake_logits: &Tensor) -> Result<Tensor> {
        Ok(((logistic(real_logits, 1.0)? + logistic(fake_logits, 0.0)?)? * 0.5)?)
    }

    /// One step of the discriminator on `loss`.
    pub(crate) fn step_discriminator(&mut self, loss: &Tensor) -> Result<()> {
        Ok(self.disc_opt.backward_step(loss)?)
    }

    /// The generator's non-saturating loss on the discriminator's logits for its images.
    pub(crate) fn generator_loss(fake_logits: &Tensor) -> Result<Tensor> {
        logistic(fake_logits, 1.0)
    }

    /// One step of the generator on `loss`.
    pub(crate) fn step_generator(&mut self, loss: &Tensor) -> Result<()> {
        Ok(self.gen_opt.backward_step(loss)?)
    }

    /// Saves both networks' weights, and `more` maps beside them, to `path`.
    pub(crate) fn save(&self, path: &Path, more: &[(&str, &VarMap)]) -> Result<()> {
        save_maps(path, &self.maps(more))
    }

    /// Loads weights saved by [`save`](Self::save).
    pub(crate) fn load(
        &self,
        path: &Path,
        more: &[(&str, &VarMap)],
        device: &candle_core::Device,
    ) -> Result<()> {
        load_maps(path, &self.maps(more), device)
    }

    fn maps<'a>(&'a self, more: &[(&'a str, &'a VarMap)]) -> Vec<(&'a str, &'a VarMap)> {
        let mut maps = vec![
            ("generator", &self.gen_vars),
            ("discriminator", &self.disc_vars),
        ];
        maps.extend_from_slice(more);
        maps
    }
}
