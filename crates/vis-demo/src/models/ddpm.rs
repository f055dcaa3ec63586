//! A small class-conditional DDPM (Ho et al.) for 16x16 RGB images: the cosine noise schedule
//! (Nichol and Dhariwal) over `steps` steps, a small U-Net that predicts the noise (group norm,
//! SiLU, a sinusoidal time embedding plus an embedding of the shape's label that scale and
//! shift every block's features, self-attention at half resolution, one skip per
//! resolution), the epsilon-MSE loss with one label in ten dropped, a moving average of the
//! weights for sampling, and ancestral sampling with classifier-free guidance (Ho and
//! Salimans) and the predicted clean image clipped to [-1, 1] (as diffusers' `DDPMScheduler`
//! with `clip_sample`). Sampling draws a label per sample from its seed, as the DCGAN's noise
//! does. With `save_intermedia` it returns every step, `[steps + 1, 3, H, W]` per sample, for
//! MMagic's `DDPMDenoising` GIF.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{AdamW, Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use serde_json::Value;
use vis_core::DataSample;

use super::conv::{Conv, upsample2x};
use super::init::{Scheme, initialise};
use super::norm::GroupNormSilu;
use super::{batch_labels, blend, copy_of, load_maps, save_maps, untracked_view, warmed_up_decay};
use vis_candle::Batch;
use vis_candle::bridge::samples_from_batch;
use vis_candle::{Error, Result};
use vis_candle::{GenerativeModel, InputBatch, Inputs};

use crate::datasets::{ShapeLabel, random_labels};
use crate::trainable::{Losses, TrainableModel};
use vis_candle::SeededRng;

/// The fraction of training images shown without their label.
const LABEL_DROPOUT: f32 = 0.1;

/// Images per pass of the network when sampling: the columns of the widest convolution (21 MB
/// at 32 images) stay in this CPU's 32 MB L3. 64 guided samples (128 images) took 4.2-4.5 s in
/// one pass and 3.3-3.9 s in passes of 32 (16 a pass: 3.3-3.6 s).
const SAMPLING_PASS: usize = 32;

/// Sizes, schedule and training settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Side of the images (the dataset's images are average-pooled down to it).
    pub size: usize,
    /// Channels at full resolution (doubled at half resolution).
    pub width: usize,
    /// Diffusion steps.
    pub steps: usize,
    /// Training batch size.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed of the sampling noise, so pictures at different iterations compare.
    pub sample_seed: u64,
    /// Decay of the moving average of the weights that sampling uses (0 samples the trained
    /// weights themselves).
    pub ema_decay: f64,
    /// Classifier-free guidance scale (Ho and Salimans): sampling follows
    /// `eps(x, none) + guidance * (eps(x, label) - eps(x, none))`; 1 samples the conditional
    /// model alone, larger trades variety within a label for crisper shapes.
    pub guidance: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            size: 16,
            width: 24,
            // 25 steps sample as well as 50 did (confident shapes 0.48 against 0.45 on the
            // default run) in half the time: the quality figures at every visualization cost
            // a third of the run at 50.
            steps: 25,
            batch_size: 16,
            // Confident shapes after 1500 iterations, seeds 0 / 1 (128 samples; seed 0 at 1e-3
            // and 1.5e-3 on 64): 1e-3 0.66 / 0.66, 1.5e-3 0.70 / -, 2e-3 0.81 / 0.80, 3e-3
            // 0.78 / -.
            lr: 2e-3,
            sample_seed: 1234,
            // The warm-up's (1 + s) / (10 + s) rules until step 890; after it a window of
            // about 100 steps, where with 0.995 the warm-up would have climbed to 0.994 by
            // step 1500 and lagged behind a model that still improves fast (confident shapes
            // / kind coverage on 256 samples at guidance 5: 0.63 / 0.87 at 0.995, 0.68 / 0.96
            // at 0.99).
            ema_decay: 0.99,
            // Confident shapes / kind coverage on 256 samples of one scratch run's weights
            // (moving average at 0.995):
            // 0.18 / 0.73 at 1, 0.41 / 0.82 at 3, 0.50 / 0.83 at 4, 0.63 / 0.87 at 5.
            guidance: 5.0,
        }
    }
}

impl Config {
    /// The GIF frame step that shows about ten frames of the denoising.
    pub fn gif_n_skip(&self) -> usize {
        (self.steps / 10).max(1)
    }
}

/// Sinusoidal embedding of the time steps `t` (`[N]`, f32) in `dim` channels.
fn time_embedding(t: &Tensor, dim: usize) -> Result<Tensor> {
    let half = dim / 2;
    let freqs: Vec<f32> = (0..half)
        .map(|i| (-(10_000f32).ln() * i as f32 / half as f32).exp())
        .collect();
    let freqs = Tensor::from_vec(freqs, (1, half), t.device())?;
    let args = t.unsqueeze(1)?.broadcast_mul(&freqs)?;
    Ok(Tensor::cat(&[args.sin()?, args.cos()?], 1)?)
}

/// Two 3x3 convolutions with group norm and SiLU, between them the features scaled and shifted
/// per channel by the time and label embedding (FiLM, as the scale-shift norm of Dhariwal and
/// Nichol's ADM; an added embedding alone learnt the shapes' kinds far more slowly),
/// and a residual connection (a 1x1 convolution when the channels change).
struct Block {
    norm1: GroupNormSilu,
    conv1: Conv,
    time: Linear,
    norm2: GroupNormSilu,
    conv2: Conv,
    skip: Option<Conv>,
}

impl Block {
    fn new(cin: usize, cout: usize, tdim: usize, vb: VarBuilder) -> Result<Self> {
        let skip = if cin == cout {
            None
        } else {
            Some(Conv::new(cin, cout, 1, 1, 0, vb.pp("skip"))?)
        };
        Ok(Self {
            norm1: GroupNormSilu::new(groups(cin), cin, 1e-5, vb.pp("norm1"))?,
            conv1: Conv::new(cin, cout, 3, 1, 1, vb.pp("conv1"))?,
            time: candle_nn::linear(tdim, 2 * cout, vb.pp("time"))?,
            norm2: GroupNormSilu::new(groups(cout), cout, 1e-5, vb.pp("norm2"))?,
            conv2: Conv::new(cout, cout, 3, 1, 1, vb.pp("conv2"))?,
            skip,
        })
    }

    fn forward(&self, x: &Tensor, temb: &Tensor) -> Result<Tensor> {
        let h = self.conv1.forward(&self.norm1.forward(x)?)?;
        let t = self.time.forward(temb)?.unsqueeze(2)?.unsqueeze(3)?;
        let c = h.dim(1)?;
        let (scale, shift) = ((t.narrow(1, 0, c)? + 1.0)?, t.narrow(1, c, c)?);
        let h = self
            .norm2
            .forward(&h)?
            .broadcast_mul(&scale)?
            .broadcast_add(&shift)?;
        let h = self.conv2.forward(&h)?;
        let skip = match &self.skip {
            Some(conv) => conv.forward(x)?,
            None => x.clone(),
        };
        Ok((h + skip)?)
    }
}

/// Groups for a group norm over `channels`: 8 when they divide evenly, else 1.
fn groups(channels: usize) -> usize {
    if channels.is_multiple_of(8) { 8 } else { 1 }
}

/// Single-head self-attention over the pixels, with a group norm before and a residual.
struct Attention {
    norm: candle_nn::GroupNorm,
    qkv: Conv,
    proj: Conv,
}

impl Attention {
    fn new(c: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            norm: candle_nn::group_norm(groups(c), c, 1e-5, vb.pp("norm"))?,
            qkv: Conv::new(c, 3 * c, 1, 1, 0, vb.pp("qkv"))?,
            proj: Conv::new(c, c, 1, 1, 0, vb.pp("proj"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let qkv = self
            .qkv
            .forward(&self.norm.forward(x)?)?
            .reshape((n, 3 * c, h * w))?;
        let q = qkv.narrow(1, 0, c)?.transpose(1, 2)?.contiguous()?;
        let k = qkv.narrow(1, c, c)?.contiguous()?;
        let v = qkv.narrow(1, 2 * c, c)?.contiguous()?;
        let weights = (q.matmul(&k)? / (c as f64).sqrt())?;
        let weights = candle_nn::ops::softmax_last_dim(&weights)?;
        // Pixel i of the output: the values of every pixel j, weighted by row i of `weights`.
        let out = v.matmul(&weights.transpose(1, 2)?.contiguous()?)?;
        let out = self.proj.forward(&out.reshape((n, c, h, w))?)?;
        Ok((x + out)?)
    }
}

/// The noise predictor: full and half resolution (with attention), with a skip across.
struct UNet {
    time1: Linear,
    time2: Linear,
    /// The label's embedding, added to the time's; the all-zero label is "no label".
    label: Linear,
    input: Conv,
    down: Block,
    downsample: Conv,
    mid: Block,
    attention: Attention,
    up: Block,
    out_norm: GroupNormSilu,
    output: Conv,
    tdim: usize,
}

impl UNet {
    fn new(w: usize, vb: VarBuilder) -> Result<Self> {
        let tdim = 4 * w;
        Ok(Self {
            time1: candle_nn::linear(w, tdim, vb.pp("time1"))?,
            time2: candle_nn::linear(tdim, tdim, vb.pp("time2"))?,
            label: candle_nn::linear(ShapeLabel::LEN, tdim, vb.pp("label"))?,
            input: Conv::new(3, w, 3, 1, 1, vb.pp("input"))?,
            down: Block::new(w, w, tdim, vb.pp("down"))?,
            downsample: Conv::new(w, 2 * w, 4, 2, 1, vb.pp("downsample"))?,
            mid: Block::new(2 * w, 2 * w, tdim, vb.pp("mid"))?,
            attention: Attention::new(2 * w, vb.pp("attention"))?,
            up: Block::new(3 * w, w, tdim, vb.pp("up"))?,
            out_norm: GroupNormSilu::new(groups(w), w, 1e-5, vb.pp("out_norm"))?,
            output: Conv::new(w, 3, 3, 1, 1, vb.pp("output"))?,
            tdim,
        })
    }

    /// The predicted noise for noisy images `x` at steps `t` (`[N]`, f32) showing `labels`
    /// (`[N, ShapeLabel::LEN]`, rows of zeros for none).
    fn forward(&self, x: &Tensor, t: &Tensor, labels: &Tensor) -> Result<Tensor> {
        let temb = time_embedding(t, self.tdim / 4)?;
        let temb = self
            .time2
            .forward(&candle_nn::ops::silu(&self.time1.forward(&temb)?)?)?;
        let temb = candle_nn::ops::silu(&(temb + self.label.forward(labels)?)?)?;
        let full = self.down.forward(&self.input.forward(x)?, &temb)?;
        let half = self.mid.forward(&self.downsample.forward(&full)?, &temb)?;
        let half = self.attention.forward(&half)?;
        let up = Tensor::cat(&[&upsample2x(&half)?, &full], 1)?;
        let up = self.up.forward(&up, &temb)?;
        Ok(self.output.forward(&self.out_norm.forward(&up)?)?)
    }
}

/// The noise schedule and its derived coefficients, per step.
#[derive(Clone, Debug)]
struct Schedule {
    betas: Vec<f64>,
    alphas_cumprod: Vec<f64>,
}

impl Schedule {
    /// Nichol and Dhariwal's cosine schedule: `alphas_cumprod` follows cos^2 of the step.
    fn cosine(steps: usize) -> Self {
        let offset = 0.008;
        let f = |i: usize| {
            let x = (i as f64 / steps as f64 + offset) / (1.0 + offset);
            (x * std::f64::consts::FRAC_PI_2).cos().powi(2)
        };
        let betas: Vec<f64> = (1..=steps)
            .map(|i| (1.0 - f(i) / f(i - 1)).clamp(0.0, 0.999))
            .collect();
        let alphas_cumprod = betas
            .iter()
            .scan(1.0, |acc, b| {
                *acc *= 1.0 - b;
                Some(*acc)
            })
            .collect();
        Self {
            betas,
            alphas_cumprod,
        }
    }
}

/// A DDPM: the noise predictor, its optimiser and the schedule.
pub struct Ddpm {
    config: Config,
    device: Device,
    vars: VarMap,
    unet: UNet,
    /// The moving average of `vars`, which sampling uses.
    ema_vars: VarMap,
    /// The network over `ema_vars`, read untracked ([`untracked_view`]).
    ema: UNet,
    /// Training steps taken, for the moving average's warm-up.
    steps_taken: u64,
    opt: AdamW,
    schedule: Schedule,
    /// Sampling calls since the last switch to evaluation; the k-th draws its noise from
    /// `sample_seed + k`, so every visualization starts from the same noise.
    sample_calls: u64,
}

impl std::fmt::Debug for Ddpm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ddpm")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Ddpm {
    /// A DDPM with weights drawn from `seed`, on `device`.
    pub fn new(config: Config, seed: u64, device: &Device) -> Result<Self> {
        if config.size < 2
            || !config.size.is_multiple_of(2)
            || config.width < 2
            || config.steps == 0
        {
            return Err(Error::Model(
                "the DDPM needs an even size >= 2, width >= 2 and steps >= 1".into(),
            ));
        }
        if !config.guidance.is_finite() {
            return Err(Error::Model(format!(
                "the DDPM's guidance scale must be a finite number (1 for none), got {}",
                config.guidance
            )));
        }
        let vars = VarMap::new();
        let unet = UNet::new(
            config.width,
            VarBuilder::from_varmap(&vars, DType::F32, device),
        )?;
        initialise(&vars, Scheme::Default, &mut SeededRng::new(seed))?;
        // The moving average starts from the first weights; sampling reads it untracked.
        let ema_vars = copy_of(&vars)?;
        let ema = UNet::new(config.width, untracked_view(&ema_vars, device)?)?;
        let opt = AdamW::new(
            vars.all_vars(),
            ParamsAdamW {
                lr: config.lr,
                weight_decay: 0.0,
                ..ParamsAdamW::default()
            },
        )?;
        let schedule = Schedule::cosine(config.steps);
        Ok(Self {
            config,
            device: device.clone(),
            vars,
            unet,
            ema_vars,
            ema,
            steps_taken: 0,
            opt,
            schedule,
            sample_calls: 0,
        })
    }

    /// Its settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Real images of `batch` (`img`) at the model's size.
    fn images(&self, batch: &Batch) -> Result<Tensor> {
        let img = batch
            .get("img")
            .ok_or_else(|| Error::Model("the DDPM trains on batches with an 'img' key".into()))?
            .to_device(&self.device)?;
        let side = img.dim(2)?;
        if side > self.config.size && side.is_multiple_of(self.config.size) {
            Ok(img.avg_pool2d(side / self.config.size)?)
        } else if side == self.config.size {
            Ok(img)
        } else {
            Err(Error::Model(format!(
                "the DDPM makes {0}x{0} images and cannot train on {side}x{side}",
                self.config.size
            )))
        }
    }

    /// The moving average's noise prediction for `x` at step `t`, guided towards `labels`
    /// by [`Config::guidance`] (one pass over the images with their labels and without).
    fn guided_noise(&self, x: &Tensor, t: usize, labels: &Tensor) -> Result<Tensor> {
        let num = x.dim(0)?;
        let guidance = self.config.guidance;
        if guidance == 1.0 {
            let steps = Tensor::full(t as f32, num, &self.device)?;
            return self.average_noise(x, &steps, labels);
        }
        let steps = Tensor::full(t as f32, 2 * num, &self.device)?;
        let both = Tensor::cat(&[x, x], 0)?;
        let labels = Tensor::cat(&[labels, &labels.zeros_like()?], 0)?;
        let eps = self.average_noise(&both, &steps, &labels)?;
        let (with, without) = (eps.narrow(0, 0, num)?, eps.narrow(0, num, num)?);
        Ok((&without + ((with - &without)? * guidance)?)?)
    }

    /// The moving average's noise prediction, in passes of at most [`SAMPLING_PASS`] images.
    fn average_noise(&self, x: &Tensor, steps: &Tensor, labels: &Tensor) -> Result<Tensor> {
        let num = x.dim(0)?;
        if num <= SAMPLING_PASS {
            return Ok(self.ema.forward(x, steps, labels)?.detach());
        }
        let mut parts = Vec::with_capacity(num.div_ceil(SAMPLING_PASS));
        for start in (0..num).step_by(SAMPLING_PASS) {
            let len = SAMPLING_PASS.min(num - start);
            let part = self.ema.forward(
                &x.narrow(0, start, len)?,
                &steps.narrow(0, start, len)?,
                &labels.narrow(0, start, len)?,
            )?;
            parts.push(part.detach());
        }
        Ok(Tensor::cat(&parts, 0)?)
    }

    /// `num` samples drawn with labels and noise from `rng`: the final images
    /// `[num, 3, H, W]`, and with `trajectory` every step `[num, steps + 1, 3, H, W]` (pure
    /// noise first).
    pub fn sample(&self, num: usize, trajectory: bool, rng: &mut SeededRng) -> Result<Tensor> {
        let size = self.config.size;
        let shape = [num, 3, size, size];
        let labels = random_labels(num, rng, &self.device)?;
        let mut x = rng.normal(&shape, &self.device)?;
        let mut frames = if trajectory {
            vec![x.clone()]
        } else {
            Vec::new()
        };
        let a = &self.schedule.alphas_cumprod;
        for t in (0..self.config.steps).rev() {
            let (Some(&abar), Some(&beta)) = (a.get(t), self.schedule.betas.get(t)) else {
                break;
            };
            let abar_prev = if t == 0 {
                1.0
            } else {
                a.get(t - 1).copied().unwrap_or(1.0)
            };
            let eps = self.guided_noise(&x, t, &labels)?;
            let x0 = ((&x - (eps * (1.0 - abar).sqrt())?)? / abar.sqrt())?.clamp(-1f32, 1f32)?;
            let c0 = abar_prev.sqrt() * beta / (1.0 - abar);
            let ct = (1.0 - beta).sqrt() * (1.0 - abar_prev) / (1.0 - abar);
            // Detached: no step keeps the graph of the steps before it alive.
            x = ((x0 * c0)? + (x * ct)?)?.detach();
            if t > 0 {
                let variance = beta * (1.0 - abar_prev) / (1.0 - abar);
                x = (x + (rng.normal(&shape, &self.device)? * variance.sqrt())?)?;
            }
            if trajectory {
                frames.push(x.clone());
            }
        }
        if trajectory {
            Ok(Tensor::stack(&frames, 1)?)
        } else {
            Ok(x)
        }
    }
}

/// `key` of the `sample_kwargs` table in MMagic's forward kwargs (or at the top level).
fn sample_kwarg<'a>(args: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    args.get("sample_kwargs")
        .and_then(|s| s.get(key))
        .or_else(|| args.get(key))
}

impl GenerativeModel for Ddpm {
    fn device(&self) -> &Device {
        &self.device
    }

    fn noise(&self, num_batches: usize, rng: &mut SeededRng) -> Result<Tensor> {
        let size = self.config.size;
        rng.normal(&[num_batches, 3, size, size], &self.device)
    }

    fn set_train(&mut self, train: bool) {
        if !train {
            self.sample_calls = 0;
        }
    }

    fn val_step(&mut self, inputs: &Inputs) -> Result<Vec<DataSample>> {
        let InputBatch::Arguments(args) = inputs.batch() else {
            return Err(Error::Model(
                "the DDPM samples from arguments: use the DDPMDenoising (Arguments) sampler".into(),
            ));
        };
        let num = args
            .get("num_batches")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                Error::Model("DDPM sampling needs 'num_batches', a whole number >= 1".into())
            })?;
        let trajectory = sample_kwarg(args, "save_intermedia")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let seed = sample_kwarg(args, "seed")
            .and_then(Value::as_u64)
            .unwrap_or(self.config.sample_seed);
        let mut rng = SeededRng::new(seed.wrapping_add(self.sample_calls));
        self.sample_calls += 1;
        let images = self.sample(num, trajectory, &mut rng)?;
        samples_from_batch(&[("fake_img", &images)])
    }
}

impl TrainableModel for Ddpm {
    fn train_step(&mut self, batch: &Batch, rng: &mut SeededRng) -> Result<Losses> {
        let x0 = self.images(batch)?;
        let n = x0.dim(0)?;
        let labels = batch_labels(batch, n, "DDPM", &self.device)?;
        // Some labels are dropped, so the same network also learns the unconditional noise
        // that guidance steers away from.
        let kept: Vec<f32> = (0..n)
            .map(|_| f32::from(u8::from(rng.unit() >= LABEL_DROPOUT)))
            .collect();
        let labels = labels.broadcast_mul(&Tensor::from_vec(kept, (n, 1), &self.device)?)?;
        let steps: Vec<usize> = (0..n).map(|_| rng.below(self.config.steps)).collect();
        let abar: Vec<f32> = steps
            .iter()
            .map(|&t| self.schedule.alphas_cumprod.get(t).copied().unwrap_or(1.0) as f32)
            .collect();
        let signal: Vec<f32> = abar.iter().map(|a| a.sqrt()).collect();
        let noise_level: Vec<f32> = abar.iter().map(|a| (1.0 - a).sqrt()).collect();
        let column = |v: Vec<f32>| Tensor::from_vec(v, (n, 1, 1, 1), &self.device);
        let eps = rng.normal(x0.dims(), &self.device)?;
        let xt =
            (x0.broadcast_mul(&column(signal)?)? + eps.broadcast_mul(&column(noise_level)?)?)?;
        let t = Tensor::from_vec(
            steps.iter().map(|&t| t as f32).collect::<Vec<_>>(),
            n,
            &self.device,
        )?;
        let predicted = self.unet.forward(&xt, &t, &labels)?;
        let loss = (predicted - eps)?.sqr()?.mean_all()?;
        self.opt.backward_step(&loss)?;
        self.steps_taken += 1;
        blend(
            &self.ema_vars,
            &self.vars,
            warmed_up_decay(self.config.ema_decay, self.steps_taken),
        )?;
        Ok(vec![("loss", loss.to_scalar::<f32>()?)])
    }

    fn save(&self, path: &Path) -> Result<()> {
        save_maps(path, &[("unet", &self.vars), ("unet_ema", &self.ema_vars)])
    }

    fn load(&mut self, path: &Path) -> Result<()> {
        load_maps(
            path,
            &[("unet", &self.vars), ("unet_ema", &self.ema_vars)],
            &self.device,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::max_diff;

    /// The embedding sets a factor and an offset per channel: with factors 0 (scales of -1)
    /// and offsets 0.5, the second convolution sees a map of 0.5 whatever the first drew.
    #[test]
    fn a_block_scales_and_shifts_its_features_by_the_embedding() {
        let dev = Device::Cpu;
        let vars = VarMap::new();
        let block = Block::new(4, 4, 6, VarBuilder::from_varmap(&vars, DType::F32, &dev)).unwrap();
        initialise(&vars, Scheme::Default, &mut SeededRng::new(5)).unwrap();
        {
            let data = vars.data().lock().unwrap();
            let weight = &data["time.weight"];
            weight.set(&weight.zeros_like().unwrap()).unwrap();
            let bias = [[-1f32; 4], [0.5; 4]].concat();
            data["time.bias"]
                .set(&Tensor::from_vec(bias, 8, &dev).unwrap())
                .unwrap();
        }
        let x = SeededRng::new(6).normal(&[2, 4, 5, 5], &dev).unwrap();
        let temb = SeededRng::new(7).normal(&[2, 6], &dev).unwrap();
        let got = block.forward(&x, &temb).unwrap();
        let half = Tensor::full(0.5f32, (2, 4, 5, 5), &dev).unwrap();
        let want = (block.conv2.forward(&half).unwrap() + &x).unwrap();
        assert!(max_diff(&got, &want) < 1e-5, "{}", max_diff(&got, &want));
    }

    fn tiny() -> Config {
        Config {
            size: 8,
            width: 8,
            steps: 10,
            batch_size: 2,
            ..Config::default()
        }
    }

    #[test]
    fn attention_matches_a_loop_over_pixels() {
        let dev = Device::Cpu;
        let vars = VarMap::new();
        let attention =
            Attention::new(8, VarBuilder::from_varmap(&vars, DType::F32, &dev)).unwrap();
        initialise(&vars, Scheme::Default, &mut SeededRng::new(3)).unwrap();
        let x = SeededRng::new(4).normal(&[2, 8, 3, 2], &dev).unwrap();
        let got: Vec<f32> = attention
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let qkv = attention
            .qkv
            .forward(&attention.norm.forward(&x).unwrap())
            .unwrap();
        let qkv: Vec<f32> = qkv.flatten_all().unwrap().to_vec1().unwrap();
        let (c, p) = (8, 6);
        let mut mixed = vec![0f32; 2 * c * p];
        for n in 0..2 {
            let at =
                |part: usize, ch: usize, pixel: usize| qkv[((n * 3 + part) * c + ch) * p + pixel];
            for i in 0..p {
                let scores: Vec<f32> = (0..p)
                    .map(|j| {
                        (0..c).map(|ch| at(0, ch, i) * at(1, ch, j)).sum::<f32>()
                            / (c as f32).sqrt()
                    })
                    .collect();
                let top = scores.iter().cloned().fold(f32::MIN, f32::max);
                let total: f32 = scores.iter().map(|s| (s - top).exp()).sum();
                for ch in 0..c {
                    mixed[(n * c + ch) * p + i] = (0..p)
                        .map(|j| (scores[j] - top).exp() / total * at(2, ch, j))
                        .sum();
                }
            }
        }
        let mixed = Tensor::from_vec(mixed, (2, c, 3, 2), &dev).unwrap();
        let want: Vec<f32> = (attention.proj.forward(&mixed).unwrap() + &x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let worst = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "{worst}");
    }

    #[test]
    fn guidance_mixes_the_labelled_and_unlabelled_predictions() {
        let dev = Device::Cpu;
        // 37 images take more than one pass of the network, with guidance and without.
        for n in [3, 37] {
            let x = SeededRng::new(1).normal(&[n, 3, 8, 8], &dev).unwrap();
            let labels = random_labels(n, &mut SeededRng::new(2), &dev).unwrap();
            for guidance in [0.0, 1.0, 3.0] {
                let model = Ddpm::new(Config { guidance, ..tiny() }, 7, &dev).unwrap();
                let steps = Tensor::full(4f32, n, &dev).unwrap();
                let with = model.ema.forward(&x, &steps, &labels).unwrap();
                let without = model
                    .ema
                    .forward(&x, &steps, &labels.zeros_like().unwrap())
                    .unwrap();
                // The labels reach the prediction, so the mix below says something.
                assert!(max_diff(&with, &without) > 1e-4);
                let want = (&without + ((&with - &without).unwrap() * guidance).unwrap()).unwrap();
                let got = model.guided_noise(&x, 4, &labels).unwrap();
                assert_eq!(got.dims(), want.dims());
                let worst = max_diff(&got, &want);
                assert!(worst < 1e-5, "{n} images, guidance {guidance}: {worst}");
            }
        }
        // A scale that would draw NaNs is refused, by name.
        for guidance in [f64::NAN, f64::INFINITY] {
            let refused = Ddpm::new(Config { guidance, ..tiny() }, 7, &dev).unwrap_err();
            assert!(refused.to_string().contains("guidance"), "{refused}");
        }
    }

    #[test]
    fn schedule_ends_near_pure_noise() {
        let s = Schedule::cosine(100);
        let last = *s.alphas_cumprod.last().unwrap();
        assert!(last < 1e-3 && last > 0.0, "{last}");
        // Half the signal's power is left halfway (cos^2 of a quarter turn), not a few percent
        // as with the linear schedule at this resolution.
        let middle = s.alphas_cumprod[49];
        assert!((middle - 0.5).abs() < 0.02, "{middle}");
        assert!(s.betas.iter().all(|b| (0.0..=0.999).contains(b)));
        assert_eq!(
            Config {
                steps: 100,
                ..Config::default()
            }
            .gif_n_skip(),
            10
        );
    }

    #[test]
    fn samples_trajectories_trains_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut model = Ddpm::new(tiny(), 1, &Device::Cpu).unwrap();
        let images = Tensor::zeros((2, 3, 16, 16), DType::F32, &Device::Cpu).unwrap();
        let unlabelled = Batch::from([("img".to_owned(), images.clone())]);
        let refused = model.train_step(&unlabelled, &mut SeededRng::new(0));
        assert!(refused.unwrap_err().to_string().contains("'label'"));
        let narrow = Batch::from([
            ("img".to_owned(), images.clone()),
            (
                "label".to_owned(),
                Tensor::zeros((2, 3), DType::F32, &Device::Cpu).unwrap(),
            ),
        ]);
        let refused = model
            .train_step(&narrow, &mut SeededRng::new(0))
            .unwrap_err();
        assert!(refused.to_string().contains("[2, 9]"), "{refused}");
        let labels = random_labels(2, &mut SeededRng::new(5), &Device::Cpu).unwrap();
        let batch = Batch::from([("img".to_owned(), images), ("label".to_owned(), labels)]);
        let losses = model.train_step(&batch, &mut SeededRng::new(0)).unwrap();
        assert!(losses[0].1.is_finite());
        let mut args = serde_json::Map::new();
        args.insert("num_batches".into(), 3.into());
        args.insert(
            "sample_kwargs".into(),
            serde_json::json!({"save_intermedia": true}),
        );
        model.set_train(false);
        let samples = model.val_step(&Inputs::arguments(args.clone())).unwrap();
        assert_eq!(samples.len(), 3);
        assert_eq!(
            samples[0].vis_tensor("fake_img").unwrap().shape(),
            &[11, 3, 8, 8]
        );
        // Every visualization starts from the same noise; batches within one differ.
        let values = |s: &[DataSample], i: usize| {
            let t = s[i].vis_tensor("fake_img").unwrap();
            let lent = t.lend().unwrap();
            match lent.elements() {
                vis_ops::Elements::F32(v) => v.to_vec(),
                _ => unreachable!(),
            }
        };
        model.set_train(false);
        let first = model.val_step(&Inputs::arguments(args.clone())).unwrap();
        let second = model.val_step(&Inputs::arguments(args.clone())).unwrap();
        model.set_train(false);
        let again = model.val_step(&Inputs::arguments(args.clone())).unwrap();
        assert_eq!(values(&first, 0), values(&again, 0));
        assert_ne!(values(&first, 0), values(&second, 0));
        let vec = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let a = vec(model.sample(2, false, &mut SeededRng::new(9)).unwrap());
        let path = dir.path().join("ddpm.safetensors");
        model.save(&path).unwrap();
        let mut other = Ddpm::new(tiny(), 2, &Device::Cpu).unwrap();
        assert_ne!(
            vec(other.sample(2, false, &mut SeededRng::new(9)).unwrap()),
            a
        );
        other.load(&path).unwrap();
        assert_eq!(
            vec(other.sample(2, false, &mut SeededRng::new(9)).unwrap()),
            a
        );
        let wrong = model.val_step(&Inputs::arguments(serde_json::Map::new()));
        assert!(wrong.unwrap_err().to_string().contains("num_batches"));
    }
}
