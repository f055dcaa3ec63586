//! pix2pix for 64x64 paired images: a U-Net generator (strided 4x4 convolutions down,
//! nearest-neighbour upsampling + 3x3 convolutions up, skip connections by concatenation) and
//! a PatchGAN discriminator that judges 8x8 patches of the (source, target) pair, trained with
//! the logistic GAN loss plus 100 x L1, as in Isola et al. The source key is `img_outline`,
//! the target `img_shape`, the output `fake_shape` (MMagic's `img_{domain}` / `fake_{domain}`).

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{VarBuilder, VarMap};
use vis_core::DataSample;

use super::adversarial::Adversaries;
use super::batch_norm::{Activation, BatchNormAct};
use super::conv::Conv;
use vis_candle::Batch;
use vis_candle::bridge::samples_from_batch;
use vis_candle::{Error, Result};
use vis_candle::{GenerativeModel, InputBatch, Inputs};

use crate::trainable::{Losses, TrainableModel};
use vis_candle::SeededRng;

/// The source domain's key.
pub const SOURCE_KEY: &str = "img_outline";
/// The target domain's key.
pub const TARGET_KEY: &str = "img_shape";
/// The key of the generated target.
pub const FAKE_KEY: &str = "fake_shape";

/// Sizes and training settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Channels of the generator's and discriminator's first layer (doubled going down).
    pub width: usize,
    /// Training batch size.
    pub batch_size: usize,
    /// Adam learning rate of both networks.
    pub lr: f64,
    /// Weight of the L1 loss against the GAN loss.
    pub l1_weight: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            width: 16,
            batch_size: 16,
            lr: 2e-4,
            l1_weight: 100.0,
        }
    }
}

/// A strided 4x4 convolution halving the size, with an optional batch norm.
struct Down {
    conv: Conv,
    bn: Option<BatchNormAct>,
}

impl Down {
    fn new(cin: usize, cout: usize, norm: bool, vb: VarBuilder) -> Result<Self> {
        let bn = if norm {
            Some(BatchNormAct::new(cout, Activation::LEAKY, vb.pp("bn"))?)
        } else {
            None
        };
        Ok(Self {
            conv: Conv::new(cin, cout, 4, 2, 1, vb.pp("conv"))?,
            bn,
        })
    }

    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let x = self.conv.forward(x)?;
        match &self.bn {
            Some(bn) => bn.forward(&x, None, train),
            None => Ok(super::activation::leaky_relu(
                &x,
                super::activation::LEAKY_SLOPE,
            )?),
        }
    }
}

/// Upsampling by 2 then a 3x3 convolution, batch norm and ReLU.
struct Up {
    conv: Conv,
    bn: BatchNormAct,
}

impl Up {
    fn new(cin: usize, cout: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            conv: Conv::new(cin, cout, 3, 1, 1, vb.pp("conv"))?,
            bn: BatchNormAct::new(cout, Activation::Relu, vb.pp("bn"))?,
        })
    }

    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.bn
            .forward(&self.conv.forward_upsampled(x)?, None, train)
    }
}

/// The U-Net: 64 -> 32 -> 16 -> 8 -> 4 and back, with skips at 32, 16 and 8.
struct Generator {
    downs: [Down; 4],
    ups: [Up; 3],
    out: Conv,
}

impl Generator {
    fn new(w: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            downs: [
                Down::new(3, w, false, vb.pp("down1"))?,
                Down::new(w, 2 * w, true, vb.pp("down2"))?,
                Down::new(2 * w, 4 * w, true, vb.pp("down3"))?,
                Down::new(4 * w, 4 * w, false, vb.pp("down4"))?,
            ],
            ups: [
                Up::new(4 * w, 4 * w, vb.pp("up1"))?,
                Up::new(8 * w, 2 * w, vb.pp("up2"))?,
                Up::new(4 * w, w, vb.pp("up3"))?,
            ],
            out: Conv::new(2 * w, 3, 3, 1, 1, vb.pp("out"))?,
        })
    }

    /// Targets `[N, 3, 64, 64]` in [-1, 1] from sources of the same shape.
    fn forward(&self, source: &Tensor, train: bool) -> Result<Tensor> {
        let [d1, d2, d3, d4] = &self.downs;
        let x1 = d1.forward(source, train)?;
        let x2 = d2.forward(&x1, train)?;
        let x3 = d3.forward(&x2, train)?;
        let x4 = d4.forward(&x3, train)?;
        let [u1, u2, u3] = &self.ups;
        let y = Tensor::cat(&[&u1.forward(&x4, train)?, &x3], 1)?;
        let y = Tensor::cat(&[&u2.forward(&y, train)?, &x2], 1)?;
        let y = Tensor::cat(&[&u3.forward(&y, train)?, &x1], 1)?;
        Ok(self.out.forward_upsampled(&y)?.tanh()?)
    }
}

/// The PatchGAN: one logit per 8x8-pixel patch of a (source, target) pair.
struct Discriminator {
    downs: [Down; 3],
    out: Conv,
}

impl Discriminator {
    fn new(w: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            downs: [
                Down::new(6, w, false, vb.pp("down1"))?,
                Down::new(w, 2 * w, true, vb.pp("down2"))?,
                Down::new(2 * w, 4 * w, true, vb.pp("down3"))?,
            ],
            out: Conv::new(4 * w, 1, 3, 1, 1, vb.pp("out"))?,
        })
    }

    fn forward(&self, source: &Tensor, target: &Tensor, train: bool) -> Result<Tensor> {
        let mut x = Tensor::cat(&[source, target], 1)?;
        for down in &self.downs {
            x = down.forward(&x, train)?;
        }
        Ok(self.out.forward(&x)?)
    }
}

/// pix2pix: generator, discriminator and their optimisers.
pub struct Pix2Pix {
    config: Config,
    device: Device,
    train: bool,
    adversaries: Adversaries,
    generator: Generator,
    discriminator: Discriminator,
}

impl std::fmt::Debug for Pix2Pix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pix2Pix")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// `key` of `batch` on `device`, or an error naming the key.
fn batch_key(batch: &Batch, key: &str, device: &Device) -> Result<Tensor> {
    let tensor = batch.get(key).ok_or_else(|| {
        Error::Model(format!(
            "pix2pix needs batches with '{SOURCE_KEY}' and '{TARGET_KEY}'; '{key}' is missing"
        ))
    })?;
    Ok(tensor.to_device(device)?)
}

impl Pix2Pix {
    /// A pix2pix model with weights drawn from `seed`, on `device`.
    pub fn new(config: Config, seed: u64, device: &Device) -> Result<Self> {
        if config.width == 0 {
            return Err(Error::Model("pix2pix needs width >= 1".into()));
        }
        let mut rng = SeededRng::new(seed);
        let gen_vars = VarMap::new();
        let disc_vars = VarMap::new();
        let generator = Generator::new(
            config.width,
            VarBuilder::from_varmap(&gen_vars, DType::F32, device),
        )?;
        let discriminator = Discriminator::new(
            config.width,
            VarBuilder::from_varmap(&disc_vars, DType::F32, device),
        )?;
        let adversaries = Adversaries::new(gen_vars, disc_vars, config.lr, 0.5, &mut rng)?;
        Ok(Self {
            config,
            device: device.clone(),
            train: true,
            adversaries,
            generator,
            discriminator,
        })
    }

    /// Its settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Translates sources `[N, 3, 64, 64]`, in the current train/eval mode.
    pub fn translate(&self, source: &Tensor) -> Result<Tensor> {
        self.generator.forward(&source.detach(), self.train)
    }

    /// The mean absolute difference between translated sources and targets of `batch`, in
    /// the [-1, 1] range of the data (the validation figure of the demo).
    pub fn l1_on(&mut self, batch: &Batch) -> Result<f32> {
        let source = batch_key(batch, SOURCE_KEY, &self.device)?;
        let target = batch_key(batch, TARGET_KEY, &self.device)?;
        let fake = self.translate(&source)?;
        Ok((fake - target)?.abs()?.mean_all()?.to_scalar::<f32>()?)
    }
}

impl GenerativeModel for Pix2Pix {
    fn device(&self) -> &Device {
        &self.device
    }

    fn noise(&self, num_batches: usize, rng: &mut SeededRng) -> Result<Tensor> {
        rng.normal(&[num_batches, 3, 64, 64], &self.device)
    }

    fn set_train(&mut self, train: bool) {
        self.train = train;
    }

    fn val_step(&mut self, inputs: &Inputs) -> Result<Vec<DataSample>> {
        let InputBatch::Data(batch) = inputs.batch() else {
            return Err(Error::Model(
                "pix2pix translates data: use a Translation / Data sampler".into(),
            ));
        };
        let source = batch_key(batch, SOURCE_KEY, &self.device)?;
        let target = batch_key(batch, TARGET_KEY, &self.device)?;
        let fake = self.translate(&source)?;
        samples_from_batch(&[
            (SOURCE_KEY, &source),
            (FAKE_KEY, &fake),
            (TARGET_KEY, &target),
        ])
    }
}

impl TrainableModel for Pix2Pix {
    fn train_step(&mut self, batch: &Batch, _rng: &mut SeededRng) -> Result<Losses> {
        let source = batch_key(batch, SOURCE_KEY, &self.device)?;
        let target = batch_key(batch, TARGET_KEY, &self.device)?;
        let fake = self.generator.forward(&source, true)?;
        let real_logits = self.discriminator.forward(&source, &target, true)?;
        let fake_logits = self.discriminator.forward(&source, &fake.detach(), true)?;
        let loss_disc = Adversaries::discriminator_loss(&real_logits, &fake_logits)?;
        self.adversaries.step_discriminator(&loss_disc)?;

        let fake_logits = self.discriminator.forward(&source, &fake, true)?;
        let loss_gan = Adversaries::generator_loss(&fake_logits)?;
        let loss_l1 = (&fake - &target)?.abs()?.mean_all()?;
        let loss_gen = (&loss_gan + (&loss_l1 * self.config.l1_weight)?)?;
        self.adversaries.step_generator(&loss_gen)?;

        Ok(vec![
            ("loss_disc", loss_disc.to_scalar::<f32>()?),
            ("loss_gan", loss_gan.to_scalar::<f32>()?),
            ("loss_l1", loss_l1.to_scalar::<f32>()?),
        ])
    }

    fn save(&self, path: &Path) -> Result<()> {
        self.adversaries.save(path, &[])
    }

    fn load(&mut self, path: &Path) -> Result<()> {
        self.adversaries.load(path, &[], &self.device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::PairedShapes;
    use std::sync::Arc;
    use vis_candle::{Dataset, Loader};

    fn tiny() -> Config {
        Config {
            width: 4,
            batch_size: 2,
            ..Config::default()
        }
    }

    #[test]
    fn translates_trains_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let data: Arc<dyn Dataset> = Arc::new(PairedShapes::new(4, 0));
        let batch = Loader::new(data, 2, None).unwrap().next_batch().unwrap();
        let mut rng = SeededRng::new(0);
        let mut model = Pix2Pix::new(tiny(), 1, &Device::Cpu).unwrap();
        let losses = model.train_step(&batch, &mut rng).unwrap();
        assert_eq!(losses.len(), 3);
        assert!(losses.iter().all(|(_, v)| v.is_finite()));
        model.set_train(false);
        let samples = model.val_step(&Inputs::data(batch.clone())).unwrap();
        assert_eq!(samples.len(), 2);
        for key in [SOURCE_KEY, FAKE_KEY, TARGET_KEY] {
            assert_eq!(samples[0].vis_tensor(key).unwrap().shape(), &[3, 64, 64]);
        }
        let before = model.l1_on(&batch).unwrap();
        let path = dir.path().join("pix2pix.safetensors");
        model.save(&path).unwrap();
        let mut other = Pix2Pix::new(tiny(), 2, &Device::Cpu).unwrap();
        other.set_train(false);
        assert_ne!(other.l1_on(&batch).unwrap(), before);
        other.load(&path).unwrap();
        assert_eq!(other.l1_on(&batch).unwrap(), before);
        let err = model.val_step(&Inputs::noise(
            Tensor::zeros(1, DType::F32, &Device::Cpu).unwrap(),
        ));
        assert!(err.unwrap_err().to_string().contains("Translation"));
    }
}
