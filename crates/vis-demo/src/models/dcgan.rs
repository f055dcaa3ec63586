//! A class-conditional DCGAN for the 32x32 shapes: a generator from latent noise and a label
//! (the shape's kind and fill colour, one-hot each) and a discriminator that is told the
//! label too, trained with the non-saturating logistic loss and an auxiliary classifier's,
//! plus an exponential moving average of the generator's weights.
//!
//! - Generator: a linear layer to 4x4, then three nearest-neighbour upsamplings each followed
//!   by a 3x3 convolution (resize-convolution, against the checkerboards of transposed ones;
//!   see [`Conv::forward_upsampled`]). After each batch norm, a scale and a shift per channel
//!   computed from the noise and the label (BigGAN's conditional batch norm with the latent
//!   fed to every block) let every layer see what it is to draw.
//! - Discriminator: strided 4x4 convolutions and a logit per image, plus the inner product of
//!   its features with an embedding of the label (the projection discriminator of Miyato and
//!   Koyama, 2018), so it learns whether an image shows the kind and colour it was given.
//!   Beside the logit, an auxiliary classifier names the label from the same features
//!   (AC-GAN, Odena et al. 2017): it learns from the real images' labels, and the generator
//!   is trained to make it name the label it was asked to draw. In the generator's step the
//!   discriminator is frozen (its weights get no gradient), as MMagic's `BaseGAN` does.
//! - The moving average of the generator's weights (decay 0.995, warmed up as diffusers'
//!   `EMAModel`) is what the pictures show by default, as in MMagic for a GAN that keeps one.
//!
//! The label rides in the noise: [`GenerativeModel::noise`] draws a latent and a random label
//! and returns both, `[N, latent + 9]`, so the hook's fixed inputs fix the labels too.
//! Training batches carry the real images' labels under the key `label` (`[N, 9]`, as
//! [`Shapes`](crate::datasets::Shapes) gives them).
//!
//! `val_step` draws with the generator the inputs' `sample_model` kwarg names, as MMagic's
//! `BaseGAN`: `ema` (the default, as `BaseGAN._get_valid_model` picks for a GAN with a moving
//! average), `orig`, or `ema/orig` for both, as nested samples under the keys `ema` and `orig`
//! (each holding `fake_img`), so that
//! `{type = "GAN", sample_model = "ema/orig", target_keys = ["ema", "orig"]}` draws them side by
//! side.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder, VarMap};
use vis_core::DataSample;

use super::adversarial::Adversaries;
use super::batch_norm::{Activation, BatchNormAct};
use super::conv::Conv;
use super::{batch_labels, blend, copy_of, warmed_up_decay};
use vis_candle::Batch;
use vis_candle::bridge::samples_from_batch;
use vis_candle::{Error, Result};
use vis_candle::{GenerativeModel, InputBatch, Inputs};

use crate::datasets::{COLOURS, KINDS, ShapeLabel, random_labels};
use crate::trainable::{Losses, TrainableModel};
use vis_candle::SeededRng;

/// Sizes and training settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Length of the latent noise vector.
    pub latent: usize,
    /// Channels of the generator's first feature map (halved at the first upsampling, then
    /// kept) and of the discriminator's last.
    pub width: usize,
    /// Training batch size.
    pub batch_size: usize,
    /// Adam learning rate of both networks.
    pub lr: f64,
    /// Weight of the old average at each step of the generator's moving average.
    pub ema_decay: f64,
    /// Adam's first-moment decay for both networks.
    pub beta1: f64,
    /// Weight of the auxiliary classifier's losses (AC-GAN's): the discriminator's on the
    /// real images' labels, the generator's on the labels it was asked to draw.
    pub class_weight: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            latent: 64,
            width: 64,
            batch_size: 32,
            // DCGAN's 2e-4 left the 1000-iteration demo's shapes blobby: 5e-4 gave 3x the
            // confident shapes (0.11 to 0.36); with the moving average drawing, 1e-3 took the
            // average's confident shapes after 1800 iterations on seeds 0 / 1 / 2 from 0.86 /
            // 0.70 / 0.69 to 0.84 / 0.83 / 0.76 (at 900 iterations 3e-4, 1.5e-3 and 2e-3 did
            // no better than 1e-3 on seeds 0 and 1).
            lr: 1e-3,
            // Warmed up as (1 + s) / (10 + s), which rules until step 1790: about 0.99 at
            // step 1000 and 0.995 by the end of the demo. Without the warm-up, 0.995 against
            // 0.99 took the average's confident shapes at 1800 iterations of seeds 1 / 2 from
            // 0.83 / 0.76 to 0.85 / 0.77, but its early pictures were the blurred first weights.
            ema_decay: 0.995,
            // Without momentum (as BigGAN and StyleGAN train) against DCGAN's 0.5: confident
            // shapes 0.36 to 0.43, distance 21.9 to 17.5 on the default run.
            beta1: 0.0,
            // Confident shapes at 1000 / 1125 / 1250 iterations of the seed-0 run: 0.63 / 0.67
            // / 0.72 without the classifier, 0.71 / 0.70 / 0.70 at weight 0.3, 0.70 / 0.74 /
            // 0.79 at 1, 0.69 / 0.75 / 0.82 at 2.
            class_weight: 2.0,
        }
    }
}

fn conv(cin: usize, cout: usize, k: usize, stride: usize, vb: VarBuilder) -> Result<Conv> {
    let padding = if stride == 2 { 1 } else { k / 2 };
    Conv::new(cin, cout, k, stride, padding, vb)
}

/// Length of a label: the one-hot kind, then the one-hot fill colour.
pub const LABEL: usize = ShapeLabel::LEN;

/// The generator.
struct Generator {
    fc: Linear,
    /// The batch norm of the 4x4 map, with the linear map from noise and label to its
    /// channels' scales and shifts.
    first_norm: (BatchNormAct, Linear),
    /// The upsampling convolutions, each with its batch norm and scale-and-shift map.
    convs: Vec<Conv>,
    norms: Vec<(BatchNormAct, Linear)>,
    out: Conv,
    width: usize,
}

impl Generator {
    fn new(c: &Config, vb: VarBuilder) -> Result<Self> {
        let w = c.width;
        let input = c.latent + LABEL;
        let fc = candle_nn::linear(input, w * 16, vb.pp("fc"))?;
        let norm = |i: usize, ch: usize| -> Result<(BatchNormAct, Linear)> {
            Ok((
                BatchNormAct::new(ch, Activation::Relu, vb.pp(format!("bn{i}")))?,
                candle_nn::linear(input, 2 * ch, vb.pp(format!("modulation{i}")))?,
            ))
        };
        let first_norm = norm(0, w)?;
        // 16x16 keeps the 8x8 channels: halving them again left the shapes' edges soft
        // (confident shapes 0.50 halved, 0.67 kept, at 1000 iterations of the seed-0 run).
        let norms = vec![norm(1, w / 2)?, norm(2, w / 2)?];
        let convs = vec![
            conv(w, w / 2, 3, 1, vb.pp("conv1"))?,
            conv(w / 2, w / 2, 3, 1, vb.pp("conv2"))?,
        ];
        let out = conv(w / 2, 3, 3, 1, vb.pp("conv3"))?;
        Ok(Self {
            fc,
            first_norm,
            convs,
            norms,
            out,
            width: w,
        })
    }

    /// Images `[N, 3, 32, 32]` in [-1, 1] from noise and labels `[N, latent + LABEL]`.
    fn forward(&self, z: &Tensor, train: bool) -> Result<Tensor> {
        let n = z.dim(0)?;
        // Batch norm, then the scale (1 + g) and shift b that `z` gives each channel, then ReLU.
        let normalise = |x: &Tensor, (bn, modulation): &(BatchNormAct, Linear)| -> Result<Tensor> {
            let ch = x.dim(1)?;
            let gb = modulation.forward(z)?;
            let g = (gb.narrow(1, 0, ch)? + 1.0)?;
            let b = gb.narrow(1, ch, ch)?;
            bn.forward(x, Some((&g, &b)), train)
        };
        let mut x = self.fc.forward(z)?.reshape((n, self.width, 4, 4))?;
        x = normalise(&x, &self.first_norm)?;
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            x = normalise(&conv.forward_upsampled(&x)?, norm)?;
        }
        Ok(self.out.forward_upsampled(&x)?.tanh()?)
    }
}

/// The discriminator: a logit per image and label.
struct Discriminator {
    convs: Vec<(Conv, Option<BatchNormAct>)>,
    fc: Linear,
    /// The label's embedding, against which the features are projected.
    projection: Linear,
    /// The auxiliary classifier (AC-GAN's, Odena et al. 2017): label logits, the kind's then
    /// the colour's, from the same features.
    to_classes: Linear,
}

impl Discriminator {
    fn new(c: &Config, vb: VarBuilder) -> Result<Self> {
        let w = c.width;
        let convs = vec![
            (conv(3, w / 4, 4, 2, vb.pp("conv1"))?, None),
            (
                conv(w / 4, w / 2, 4, 2, vb.pp("conv2"))?,
                Some(BatchNormAct::new(w / 2, Activation::LEAKY, vb.pp("bn2"))?),
            ),
            (
                conv(w / 2, w, 4, 2, vb.pp("conv3"))?,
                Some(BatchNormAct::new(w, Activation::LEAKY, vb.pp("bn3"))?),
            ),
        ];
        let fc = candle_nn::linear(w * 16, 1, vb.pp("fc"))?;
        let projection = candle_nn::linear_no_bias(LABEL, w * 16, vb.pp("projection"))?;
        let to_classes = candle_nn::linear(w * 16, LABEL, vb.pp("to_classes"))?;
        Ok(Self {
            convs,
            fc,
            projection,
            to_classes,
        })
    }

    /// The same discriminator through which no gradient flows to its weights, for the
    /// generator's step (MMagic's `set_requires_grad(discriminator, False)`): the generator's
    /// backward then skips the discriminator's weight gradients. Weights and batch-norm
    /// statistics are shared with `self`.
    fn frozen(&self) -> Self {
        let frozen_linear =
            |l: &Linear| Linear::new(l.weight().detach(), l.bias().map(Tensor::detach));
        Self {
            convs: self
                .convs
                .iter()
                .map(|(conv, bn)| (conv.frozen(), bn.as_ref().map(BatchNormAct::frozen)))
                .collect(),
            fc: frozen_linear(&self.fc),
            projection: frozen_linear(&self.projection),
            to_classes: frozen_linear(&self.to_classes),
        }
    }

    /// Logits `[N, 1]` for images `[N, 3, 32, 32]` shown with labels `[N, LABEL]`, and the
    /// auxiliary classifier's label logits `[N, LABEL]`.
    fn forward(&self, x: &Tensor, labels: &Tensor, train: bool) -> Result<(Tensor, Tensor)> {
        let mut x = x.clone();
        for (conv, bn) in &self.convs {
            x = x.apply(conv)?;
            x = match bn {
                Some(bn) => bn.forward(&x, None, train)?,
                None => super::activation::leaky_relu(&x, super::activation::LEAKY_SLOPE)?,
            };
        }
        let features = x.flatten_from(1)?;
        let projected = (&features * labels.apply(&self.projection)?)?.sum_keepdim(1)?;
        Ok((
            (features.apply(&self.fc)? + projected)?,
            features.apply(&self.to_classes)?,
        ))
    }
}

/// A DCGAN: generator, discriminator and their optimisers.
pub struct Dcgan {
    config: Config,
    device: Device,
    train: bool,
    adversaries: Adversaries,
    ema_vars: VarMap,
    generator: Generator,
    discriminator: Discriminator,
    /// The discriminator frozen for the generator's step ([`Discriminator::frozen`]).
    frozen_discriminator: Discriminator,
    ema: Generator,
    /// Training steps taken, for the moving average's warm-up.
    steps_taken: u64,
}

impl std::fmt::Debug for Dcgan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dcgan")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Dcgan {
    /// A DCGAN with weights drawn from `seed`, on `device`.
    pub fn new(config: Config, seed: u64, device: &Device) -> Result<Self> {
        if config.width < 4 || config.latent == 0 {
            return Err(Error::Model(
                "the DCGAN needs width >= 4 and latent >= 1".into(),
            ));
        }
        let mut rng = SeededRng::new(seed);
        let gen_vars = VarMap::new();
        let disc_vars = VarMap::new();
        let generator = Generator::new(
            &config,
            VarBuilder::from_varmap(&gen_vars, DType::F32, device),
        )?;
        let discriminator = Discriminator::new(
            &config,
            VarBuilder::from_varmap(&disc_vars, DType::F32, device),
        )?;
        let adversaries = Adversaries::new(gen_vars, disc_vars, config.lr, config.beta1, &mut rng)?;
        // The moving average starts from the generator's first weights.
        // The moving average starts from the generator's first weights.
        let ema_vars = copy_of(&adversaries.gen_vars)?;
        let ema = Generator::new(
            &config,
            VarBuilder::from_varmap(&ema_vars, DType::F32, device),
        )?;
        Ok(Self {
            config,
            device: device.clone(),
            train: true,
            adversaries,
            ema_vars,
            generator,
            frozen_discriminator: discriminator.frozen(),
            discriminator,
            ema,
            steps_taken: 0,
        })
    }

    /// Its settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Images `[N, 3, 32, 32]` for noise and labels `[N, latent + LABEL]` (as
    /// [`GenerativeModel::noise`] draws them), in the current train/eval mode.
    pub fn generate(&self, z: &Tensor) -> Result<Tensor> {
        self.generator.forward(&self.checked(z)?, self.train)
    }

    /// The same from the moving average of the generator's weights.
    pub fn generate_ema(&self, z: &Tensor) -> Result<Tensor> {
        self.ema.forward(&self.checked(z)?, self.train)
    }

    /// `z` detached, once it is known to be `[N, latent + LABEL]`.
    fn checked(&self, z: &Tensor) -> Result<Tensor> {
        let width = self.config.latent + LABEL;
        match z.dims() {
            [_, w] if *w == width => Ok(z.detach()),
            dims => Err(Error::Model(format!(
                "the DCGAN draws from noise and labels [N, {width}] (latent {}, then the one-hot \
                 kind and colour), got {dims:?}; draw them with its noise()",
                self.config.latent
            ))),
        }
    }
}

/// The cross-entropy of label logits `[N, LABEL]` against one-hot labels: the kind's plus the
/// colour's.
fn label_loss(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let part = |start: usize, len: usize| -> Result<Tensor> {
        let target = labels.narrow(1, start, len)?.argmax(1)?;
        Ok(candle_nn::loss::cross_entropy(
            &logits.narrow(1, start, len)?,
            &target,
        )?)
    };
    Ok((part(0, KINDS)? + part(KINDS, COLOURS)?)?)
}

impl GenerativeModel for Dcgan {
    fn device(&self) -> &Device {
        &self.device
    }

    /// Latent noise `[N, latent]` and a label drawn uniformly (kind and colour), side by
    /// side: `[N, latent + LABEL]`.
    fn noise(&self, num_batches: usize, rng: &mut SeededRng) -> Result<Tensor> {
        let z = rng.normal(&[num_batches, self.config.latent], &self.device)?;
        let labels = random_labels(num_batches, rng, &self.device)?;
        Ok(Tensor::cat(&[z, labels], 1)?)
    }

    fn set_train(&mut self, train: bool) {
        self.train = train;
    }

    fn val_step(&mut self, inputs: &Inputs) -> Result<Vec<DataSample>> {
        let InputBatch::Noise(z) = inputs.batch() else {
            return Err(Error::Model(
                "the DCGAN samples from noise: use the GAN (Noise) sampler".into(),
            ));
        };
        // MMagic's default for a GAN with a moving average (`BaseGAN._get_valid_model`).
        match inputs.kwarg_str("sample_model").unwrap_or("ema") {
            "orig" => samples_from_batch(&[("fake_img", &self.generate(z)?)]),
            "ema" => samples_from_batch(&[("fake_img", &self.generate_ema(z)?)]),
            "ema/orig" => {
                let ema = samples_from_batch(&[("fake_img", &self.generate_ema(z)?)])?;
                let orig = samples_from_batch(&[("fake_img", &self.generate(z)?)])?;
                Ok(ema
                    .into_iter()
                    .zip(orig)
                    .map(|(e, o)| DataSample::new().with("ema", e).with("orig", o))
                    .collect())
            }
            other => Err(Error::Model(format!(
                "sample_model '{other}' is not a generator of the DCGAN; use orig, ema or ema/orig"
            ))),
        }
    }
}

impl TrainableModel for Dcgan {
    fn train_step(&mut self, batch: &Batch, rng: &mut SeededRng) -> Result<Losses> {
        let real = batch
            .get("img")
            .ok_or_else(|| Error::Model("the DCGAN trains on batches with an 'img' key".into()))?
            .to_device(&self.device)?;
        let n = real.dim(0)?;
        let real_labels = batch_labels(batch, n, "DCGAN", &self.device)?;
        let z = self.noise(n, rng)?;
        let fake_labels = z.narrow(1, self.config.latent, LABEL)?;
        let fake = self.generator.forward(&z, true)?;
        let weight = self.config.class_weight;
        let (real_logits, real_classes) = self.discriminator.forward(&real, &real_labels, true)?;
        let (fake_logits, _) = self
            .discriminator
            .forward(&fake.detach(), &fake_labels, true)?;
        let loss_disc = Adversaries::discriminator_loss(&real_logits, &fake_logits)?;
        // The auxiliary classifier learns the labels from real images only.
        let loss_disc_class = label_loss(&real_classes, &real_labels)?;
        self.adversaries
            .step_discriminator(&(&loss_disc + (&loss_disc_class * weight)?)?)?;

        let (fake_logits, fake_classes) =
            self.frozen_discriminator
                .forward(&fake, &fake_labels, true)?;
        let loss_gen = Adversaries::generator_loss(&fake_logits)?;
        let loss_gen_class = label_loss(&fake_classes, &fake_labels)?;
        self.adversaries
            .step_generator(&(&loss_gen + (&loss_gen_class * weight)?)?)?;
        self.steps_taken += 1;
        blend(
            &self.ema_vars,
            &self.adversaries.gen_vars,
            warmed_up_decay(self.config.ema_decay, self.steps_taken),
        )?;

        Ok(vec![
            ("loss_disc", loss_disc.to_scalar::<f32>()?),
            ("loss_disc_class", loss_disc_class.to_scalar::<f32>()?),
            ("loss_gen", loss_gen.to_scalar::<f32>()?),
            ("loss_gen_class", loss_gen_class.to_scalar::<f32>()?),
        ])
    }

    fn save(&self, path: &Path) -> Result<()> {
        self.adversaries
            .save(path, &[("generator_ema", &self.ema_vars)])
    }

    fn load(&mut self, path: &Path) -> Result<()> {
        self.adversaries
            .load(path, &[("generator_ema", &self.ema_vars)], &self.device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vis_candle::Dataset;

    fn tiny() -> Config {
        Config {
            latent: 8,
            width: 8,
            batch_size: 4,
            lr: 2e-4,
            ema_decay: 0.5,
            beta1: 0.5,
            class_weight: 1.0,
        }
    }

    /// A training batch of `images` `[4, ...]`, labelled as four shapes of the dataset.
    fn batch_of(images: Tensor) -> Batch {
        let data = crate::datasets::Shapes::new(4, 0);
        let labels: Vec<Tensor> = (0..4)
            .map(|i| data.get(i).unwrap()["label"].clone())
            .collect();
        Batch::from([
            ("img".to_owned(), images),
            ("label".to_owned(), Tensor::stack(&labels, 0).unwrap()),
        ])
    }

    #[test]
    fn noise_carries_one_kind_and_one_colour_and_a_batch_must_carry_labels() {
        let mut rng = SeededRng::new(3);
        let mut model = Dcgan::new(tiny(), 1, &Device::Cpu).unwrap();
        let z = model.noise(64, &mut rng).unwrap();
        assert_eq!(z.dims(), &[64, 8 + LABEL]);
        let labels = z.narrow(1, 8, LABEL).unwrap().to_vec2::<f32>().unwrap();
        let mut kinds = [0; KINDS];
        for row in &labels {
            let (kind, colour) = row.split_at(KINDS);
            assert_eq!(kind.iter().sum::<f32>(), 1.0, "{row:?}");
            assert_eq!(colour.iter().sum::<f32>(), 1.0, "{row:?}");
            kinds[kind.iter().position(|&v| v == 1.0).unwrap()] += 1;
        }
        assert!(kinds.iter().all(|&k| k > 10), "{kinds:?}");
        // Noise without the label is refused by name.
        let bare = rng.normal(&[2, 8], &Device::Cpu).unwrap();
        let err = model.generate(&bare).unwrap_err().to_string();
        assert!(err.contains("[N, 17]") && err.contains("noise()"), "{err}");
        // So is a batch of images without labels, or with labels of another shape.
        let images = Tensor::zeros((4, 3, 32, 32), DType::F32, &Device::Cpu).unwrap();
        let unlabelled = Batch::from([("img".to_owned(), images.clone())]);
        let err = model.train_step(&unlabelled, &mut rng).unwrap_err();
        assert!(err.to_string().contains("'label'"), "{err}");
        let wrong = Batch::from([
            ("img".to_owned(), images),
            (
                "label".to_owned(),
                Tensor::zeros((4, 3), DType::F32, &Device::Cpu).unwrap(),
            ),
        ]);
        let err = model.train_step(&wrong, &mut rng).unwrap_err();
        assert!(err.to_string().contains("[4, 9]"), "{err}");
    }

    #[test]
    fn the_auxiliary_classifier_learns_the_real_labels() {
        let config = Config { lr: 5e-3, ..tiny() };
        let mut model = Dcgan::new(config, 1, &Device::Cpu).unwrap();
        let data = crate::datasets::Shapes::new(4, 0);
        let images: Vec<Tensor> = (0..4)
            .map(|i| data.get(i).unwrap()["img"].clone())
            .collect();
        let batch = batch_of(Tensor::stack(&images, 0).unwrap());
        let mut rng = SeededRng::new(3);
        let class_loss = |losses: &Losses| {
            losses
                .iter()
                .find(|(name, _)| *name == "loss_disc_class")
                .map(|(_, v)| *v)
                .unwrap()
        };
        let first = class_loss(&model.train_step(&batch, &mut rng).unwrap());
        let mut last = first;
        for _ in 0..40 {
            let losses = model.train_step(&batch, &mut rng).unwrap();
            assert!(losses.iter().all(|(_, v)| v.is_finite()), "{losses:?}");
            last = class_loss(&losses);
        }
        // Chance is ln 3 + ln 6 = 2.9; the four shapes' labels are learnt.
        assert!(first > 2.0 && last < 0.5 * first, "{first} -> {last}");
    }

    #[test]
    fn samples_train_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = SeededRng::new(3);
        let mut model = Dcgan::new(tiny(), 1, &Device::Cpu).unwrap();
        let z = model.noise(4, &mut rng).unwrap();
        model.set_train(false);
        let samples = model.val_step(&Inputs::noise(z.clone())).unwrap();
        assert_eq!(samples.len(), 4);
        assert_eq!(
            samples[0].vis_tensor("fake_img").unwrap().shape(),
            &[3, 32, 32]
        );
        let batch = batch_of(Tensor::zeros((4, 3, 32, 32), DType::F32, &Device::Cpu).unwrap());
        model.set_train(true);
        let losses = model.train_step(&batch, &mut rng).unwrap();
        assert!(losses.iter().all(|(_, v)| v.is_finite()));
        model.set_train(false);
        let before = model
            .generate(&z)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let path = dir.path().join("dcgan.safetensors");
        model.save(&path).unwrap();
        let mut other = Dcgan::new(tiny(), 2, &Device::Cpu).unwrap();
        other.set_train(false);
        other.load(&path).unwrap();
        let after = other
            .generate(&z)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(before, after);
    }

    #[test]
    fn sample_model_picks_the_generator_and_the_average_follows_training() {
        let mut rng = SeededRng::new(3);
        let mut model = Dcgan::new(tiny(), 1, &Device::Cpu).unwrap();
        let z = model.noise(2, &mut rng).unwrap();
        let values = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        model.set_train(false);
        // Before any step the average is the generator.
        assert_eq!(
            values(model.generate(&z).unwrap()),
            values(model.generate_ema(&z).unwrap())
        );
        let batch = batch_of(Tensor::ones((4, 3, 32, 32), DType::F32, &Device::Cpu).unwrap());
        model.set_train(true);
        model.train_step(&batch, &mut rng).unwrap();
        model.set_train(false);
        let (orig, ema) = (
            values(model.generate(&z).unwrap()),
            values(model.generate_ema(&z).unwrap()),
        );
        assert_ne!(orig, ema, "the average lags the generator");
        let both = model
            .val_step(
                &Inputs::noise(z.clone()).with_kwargs(
                    serde_json::json!({"sample_model": "ema/orig"})
                        .as_object()
                        .unwrap()
                        .clone(),
                ),
            )
            .unwrap();
        assert_eq!(both.len(), 2);
        let first = |key: &str| {
            both[0]
                .vis_tensor(key)
                .unwrap()
                .lend()
                .unwrap()
                .elements()
                .len()
        };
        assert_eq!((first("ema"), first("orig")), (3 * 32 * 32, 3 * 32 * 32));
        let wrong = model.val_step(
            &Inputs::noise(z).with_kwargs(
                serde_json::json!({"sample_model": "teacher"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        );
        assert!(
            wrong
                .unwrap_err()
                .to_string()
                .contains("orig, ema or ema/orig")
        );
    }
}
