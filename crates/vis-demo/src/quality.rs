//! The shape demos' quality figures, in words a person can check: a small classifier, trained
//! on the real shapes (and on what is not a shape: noise, blocky blobs, blurred shapes and two
//! shapes blended), says what it sees in the generated ones. The fraction of samples it gives
//! a shape kind with at least 90 % probability (a toy precision: are these crisp shapes at
//! all?) and how evenly the samples it sees as shapes spread over the kinds and the fill
//! colours against the data's even spread (a toy recall: does the model draw every kind and
//! colour, or collapse onto a few?).

use candle_core::{D, DType, Device, Tensor};
use candle_nn::{AdamW, Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap};

use vis_candle::{Dataset, Error, Result, SeededRng};

use crate::datasets::{COLOURS, KINDS, Shapes};
use crate::models::conv::Conv;
use crate::models::init::{Scheme, initialise};

/// Probability at which a prediction counts as confident.
pub const CONFIDENT: f32 = 0.9;

/// Training steps of the classifier, on batches of [`BATCH`] real images.
pub const STEPS: usize = 3000;

/// Real examples the classifier trains on.
pub const TRAIN_EXAMPLES: usize = 8192;

/// The shipped weights (see [`ShapeClassifier::shipped`]).
const SHIPPED: &[u8] = include_bytes!("../assets/shape_classifier.safetensors");

/// Images per training batch.
const BATCH: usize = 64;

/// What the classifier makes of a batch of images.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShapeScores {
    /// The fraction of images given a shape kind with probability at least [`CONFIDENT`].
    pub confident: f32,
    /// The entropy of the predicted kinds over that of the data's kinds: 1 when the images
    /// spread over the kinds as evenly as the data, 0 when they are all one kind.
    pub kind_coverage: f32,
    /// The same over the six fill colours.
    pub colour_coverage: f32,
}

/// A classifier of 32x32 shapes: three strided convolutions, then one head for the kind and
/// one for the fill colour.
pub struct ShapeClassifier {
    convs: Vec<Conv>,
    kind: Linear,
    colour: Linear,
}

impl std::fmt::Debug for ShapeClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShapeClassifier").finish_non_exhaustive()
    }
}

impl ShapeClassifier {
    fn new(vb: &VarBuilder) -> Result<Self> {
        let convs = vec![
            Conv::new(3, 16, 4, 2, 1, vb.pp("conv1"))?,
            Conv::new(16, 32, 4, 2, 1, vb.pp("conv2"))?,
            Conv::new(32, 64, 4, 2, 1, vb.pp("conv3"))?,
        ];
        Ok(Self {
            convs,
            kind: candle_nn::linear(64 * 16, KINDS + 1, vb.pp("kind"))?,
            colour: candle_nn::linear(64 * 16, COLOURS, vb.pp("colour"))?,
        })
    }

    /// Logits of the kind `[N, 4]` (circle, square, triangle, not a shape) and of the colour
    /// `[N, 6]` of images `[N, 3, 32, 32]`.
    fn forward(&self, images: &Tensor) -> Result<(Tensor, Tensor)> {
        let mut x = images.clone();
        for conv in &self.convs {
            x = crate::models::activation::leaky_relu(
                &x.apply(conv)?,
                crate::models::activation::LEAKY_SLOPE,
            )?;
        }
        let x = x.flatten_from(1)?;
        Ok((x.apply(&self.kind)?, x.apply(&self.colour)?))
    }

    /// Trains a classifier on [`TRAIN_EXAMPLES`] examples of `data` (rendered once), in
    /// [`STEPS`] steps of batches drawn from `seed`: deterministic for a seed on one machine.
    /// `cargo xtask train-classifier` runs it and ships the weights ([`ShapeClassifier::shipped`]).
    pub fn train(data: &Shapes, seed: u64, device: &Device) -> Result<(Self, VarMap)> {
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, device);
        let model = Self::new(&vb)?;
        let mut rng = SeededRng::new(seed ^ 0xC1A5_51F1);
        initialise(&vars, Scheme::Default, &mut rng)?;
        let mut opt = AdamW::new(
            vars.all_vars(),
            ParamsAdamW {
                lr: 2e-3,
                weight_decay: 0.0,
                ..ParamsAdamW::default()
            },
        )?;
        let all: Vec<usize> = (0..TRAIN_EXAMPLES.min(data.len())).collect();
        let (images, kinds, colours) = labelled(data, &all, device)?;
        let none = Tensor::full(KINDS as u32, NEGATIVES, device)?;
        let mut noise_rng = SeededRng::new(seed ^ 0x0BAD_5EED);
        for _ in 0..STEPS {
            let mut pick = |n: usize| -> Result<Tensor> {
                let picked: Vec<u32> = (0..n).map(|_| rng.below(all.len()) as u32).collect();
                Ok(Tensor::from_vec(picked, n, device)?)
            };
            let real = pick(BATCH - NEGATIVES)?;
            let (a, b) = (pick(NEGATIVES)?, pick(NEGATIVES)?);
            let negatives = not_shapes(&images, &a, &b, &mut noise_rng)?;
            let batch = Tensor::cat(&[images.index_select(&real, 0)?, negatives], 0)?;
            let (kind_logits, colour_logits) = model.forward(&batch)?;
            let kind_labels = Tensor::cat(&[kinds.index_select(&real, 0)?, none.clone()], 0)?;
            // The colour is learnt on the real shapes only.
            let colour_logits = colour_logits.narrow(0, 0, BATCH - NEGATIVES)?;
            let colour_labels = colours.index_select(&real, 0)?;
            let loss = (candle_nn::loss::cross_entropy(&kind_logits, &kind_labels)?
                + candle_nn::loss::cross_entropy(&colour_logits, &colour_labels)?)?;
            opt.backward_step(&loss)?;
        }
        Ok((model, vars))
    }

    /// The classifier `vis demo` uses: trained by `cargo xtask train-classifier` on the shapes
    /// of seed 0 and shipped with the crate (`assets/shape_classifier.safetensors`, about
    /// 200 KB), so that a run pays nothing to judge its samples, as FID ships its Inception.
    pub fn shipped(device: &Device) -> Result<Self> {
        Self::from_bytes(SHIPPED, device)
    }

    /// A classifier from weights saved by [`ShapeClassifier::train`]'s caller.
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Self> {
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, device);
        let model = Self::new(&vb)?;
        let loaded = candle_core::safetensors::load_buffer(bytes, device)?;
        let data = vars
            .data()
            .lock()
            .map_err(|_| Error::Model("a weight map's lock was poisoned".into()))?;
        for (name, var) in data.iter() {
            let value = loaded.get(name).ok_or_else(|| {
                Error::Model(format!(
                    "the shape classifier's weights have no '{name}'; run cargo xtask train-classifier"
                ))
            })?;
            var.set(value)?;
        }
        Ok(model)
    }

    /// The scores of `images` `[N, 3, S, S]` in [-1, 1], `S` 32 or a divisor of it (the
    /// DDPM's 16x16 images are scaled up pixel for pixel).
    pub fn score(&self, images: &Tensor) -> Result<ShapeScores> {
        let side = images.dim(2)?;
        let images = if side < Shapes::SIZE && Shapes::SIZE.is_multiple_of(side) {
            images.upsample_nearest2d(Shapes::SIZE, Shapes::SIZE)?
        } else {
            images.clone()
        };
        let (kind_logits, colour_logits) = self.forward(&images.detach())?;
        let kind = candle_nn::ops::softmax(&kind_logits, D::Minus1)?.to_vec2::<f32>()?;
        let colour = colour_logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
        let n = kind.len().max(1) as f32;
        // A shape kind, not "not a shape", with at least CONFIDENT probability.
        let confident = kind
            .iter()
            .filter(|p| {
                let k = argmax(p);
                k < KINDS && p.get(k).is_some_and(|&v| v >= CONFIDENT)
            })
            .count() as f32
            / n;
        // The spread of what it sees as shapes.
        let (kinds, colours): (Vec<usize>, Vec<usize>) = kind
            .iter()
            .zip(&colour)
            .map(|(p, &c)| (argmax(p), c as usize))
            .filter(|&(k, _)| k < KINDS)
            .unzip();
        Ok(ShapeScores {
            confident,
            kind_coverage: entropy(&kinds, KINDS) / (KINDS as f32).ln(),
            colour_coverage: entropy(&colours, COLOURS) / (COLOURS as f32).ln(),
        })
    }

    /// The fraction of `indices` of `data` whose kind and colour it names right.
    pub fn accuracy(
        &self,
        data: &Shapes,
        indices: &[usize],
        device: &Device,
    ) -> Result<(f32, f32)> {
        let (images, kinds, colours) = labelled(data, indices, device)?;
        let (kind_logits, colour_logits) = self.forward(&images)?;
        let kind_logits = kind_logits.narrow(1, 0, KINDS)?;
        let right = |logits: &Tensor, labels: &Tensor| -> Result<f32> {
            let hits = logits
                .argmax(D::Minus1)?
                .eq(labels)?
                .to_dtype(DType::F32)?
                .mean_all()?;
            Ok(hits.to_scalar::<f32>()?)
        };
        Ok((
            right(&kind_logits, &kinds)?,
            right(&colour_logits, &colours)?,
        ))
    }
}

/// Images per training batch that are not shapes.
const NEGATIVES: usize = 16;

/// [`NEGATIVES`] images that are not shapes, a quarter of each kind: noise; blocky blobs of
/// colour (noise at 4x4, scaled up); shapes of `images` (rows `a`) blurred, averaged over 8x8
/// blocks and scaled back up; and two shapes (rows `a` and `b`) blended half and half.
fn not_shapes(images: &Tensor, a: &Tensor, b: &Tensor, rng: &mut SeededRng) -> Result<Tensor> {
    let q = NEGATIVES / 4;
    let device = images.device();
    let size = Shapes::SIZE;
    let noise = rng
        .normal(&[q, 3, size, size], device)?
        .clamp(-1f32, 1f32)?;
    let blobs = rng
        .normal(&[q, 3, 4, 4], device)?
        .clamp(-1f32, 1f32)?
        .upsample_nearest2d(size, size)?;
    let first = images.index_select(a, 0)?;
    let second = images.index_select(b, 0)?;
    let blurred = first
        .narrow(0, 0, q)?
        .avg_pool2d(8)?
        .upsample_nearest2d(size, size)?;
    let rest = NEGATIVES - 3 * q;
    let blended = ((first.narrow(0, q, rest)? + second.narrow(0, q, rest)?)? * 0.5)?;
    Ok(Tensor::cat(&[noise, blobs, blurred, blended], 0)?)
}

/// Images `[N, 3, 32, 32]` and their kind and colour labels `[N]` (u32) for `indices`.
fn labelled(data: &Shapes, indices: &[usize], device: &Device) -> Result<(Tensor, Tensor, Tensor)> {
    let mut images = Vec::with_capacity(indices.len());
    let (mut kinds, mut colours) = (Vec::new(), Vec::new());
    for &i in indices {
        let example = data.get(i)?;
        let image = example
            .get("img")
            .ok_or_else(|| Error::Model("a shapes example without 'img'".into()))?;
        images.push(image.unsqueeze(0)?);
        let label = data.label(i);
        kinds.push(label.kind as u32);
        colours.push(label.colour as u32);
    }
    let n = indices.len();
    Ok((
        Tensor::cat(&images, 0)?.to_device(device)?,
        Tensor::from_vec(kinds, n, device)?,
        Tensor::from_vec(colours, n, device)?,
    ))
}

/// The index of the largest value.
fn argmax(p: &[f32]) -> usize {
    p.iter()
        .enumerate()
        .fold(
            (0, f32::MIN),
            |best, (i, &v)| if v > best.1 { (i, v) } else { best },
        )
        .0
}

/// The entropy (nats) of the classes `labels` fall in, out of `classes`.
fn entropy(labels: &[usize], classes: usize) -> f32 {
    let mut counts = vec![0usize; classes];
    for &l in labels {
        if let Some(c) = counts.get_mut(l) {
            *c += 1;
        }
    }
    let n = labels.len().max(1) as f32;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f32 / n;
            -p * p.ln()
        })
        .sum::<f32>()
        // One class gives -0.0.
        .max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_is_zero_for_one_class_and_log_n_for_even_ones() {
        assert_eq!(entropy(&[1, 1, 1], 3), 0.0);
        assert!((entropy(&[0, 1, 2], 3) - 3f32.ln()).abs() < 1e-6);
        assert!((entropy(&[0, 1, 2, 3, 4, 5], 6) - 6f32.ln()).abs() < 1e-6);
    }

    #[test]
    fn the_shipped_classifier_knows_the_shapes_and_is_not_fooled_by_noise() {
        let device = Device::Cpu;
        let classifier = ShapeClassifier::shipped(&device).unwrap();
        // Another seed than the one it trained on.
        let held_out = Shapes::new(1024, 99);
        let indices: Vec<usize> = (0..1024).collect();
        let (kind, colour) = classifier.accuracy(&held_out, &indices, &device).unwrap();
        // Colours next to a sector boundary look alike, so some colour answers are a coin toss.
        assert!(kind > 0.97 && colour > 0.93, "kind {kind}, colour {colour}");
        let (images, _, _) = labelled(&held_out, &indices, &device).unwrap();
        let real = classifier.score(&images).unwrap();
        assert!(real.confident > 0.9, "{real:?}");
        assert!(
            real.kind_coverage > 0.98 && real.colour_coverage > 0.98,
            "{real:?}"
        );
        // One flat colour repeated covers one kind and one colour at most.
        let flat = Tensor::full(0.3f32, (256, 3, 32, 32), &device).unwrap();
        let flat = classifier.score(&flat).unwrap();
        assert_eq!(
            (flat.kind_coverage, flat.colour_coverage),
            (0.0, 0.0),
            "{flat:?}"
        );
        // Noise is not confidently a shape.
        let noise = SeededRng::new(5)
            .normal(&[256, 3, 32, 32], &device)
            .unwrap()
            .clamp(-1f32, 1f32)
            .unwrap();
        let noise = classifier.score(&noise).unwrap();
        assert!(noise.confident < 0.05, "{noise:?}");
        // The DDPM's real images (16x16, averaged from 32x32), scaled back up.
        let small = images.avg_pool2d(2).unwrap();
        let small = classifier.score(&small).unwrap();
        assert!(small.confident > 0.8, "{small:?}");
        // Nor are the real shapes blurred into blobs.
        let blurred = images
            .avg_pool2d(4)
            .unwrap()
            .upsample_nearest2d(32, 32)
            .unwrap();
        let blurred = classifier.score(&blurred).unwrap();
        assert!(blurred.confident < 0.2, "{blurred:?}");
    }
}
