//! Batch normalization, a scale and shift per image and channel, and ReLU or leaky ReLU, as one
//! custom op with its own backward pass. candle-nn 0.11's `BatchNorm` in training is a
//! transposed copy and ten tensor ops, and it returns a transposed view that the next op copies
//! again; candle's backward then allocates a zeroed gradient and adds into it for every op's
//! input. Here the statistics are one op (two passes over each channel), the output one pass,
//! and the backward two passes. The scale and shift are the learned weight and bias, or, for a
//! conditional batch norm, those times and plus a gain and an offset per image and channel.
//! Weights and running statistics have candle-nn's names and starting values (`weight` 1,
//! `bias` 0, `running_mean` 0, `running_var` 1; eps 1e-5, momentum 0.1), so weights saved by
//! either load in the other.

use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Shape, Tensor, Var};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use super::conv::{contiguous_f32, par_zeroed_chunks};
use vis_candle::{Error, Result};

/// What follows the normalization.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `max(z, 0)`.
    Relu,
    /// `z` where positive, `slope * z` elsewhere.
    LeakyRelu(f32),
}

impl Activation {
    /// Leaky ReLU with DCGAN's slope, as the DCGAN's and pix2pix's discriminators use it.
    pub const LEAKY: Activation = Activation::LeakyRelu(super::activation::LEAKY_SLOPE);

    /// The slope below 0.
    fn slope(self) -> f32 {
        match self {
            Activation::Relu => 0.0,
            Activation::LeakyRelu(slope) => slope,
        }
    }
}

/// PyTorch's and candle-nn's defaults.
const EPS: f32 = 1e-5;
const MOMENTUM: f64 = 0.1;

/// Batch normalization (over the images and pixels of each channel: the batch's statistics in
/// training, the running ones otherwise), then a scale and a shift, then an activation.
#[derive(Clone, Debug)]
pub struct BatchNormAct {
    weight: Tensor,
    bias: Tensor,
    running_mean: Var,
    running_var: Var,
    activation: Activation,
}

impl BatchNormAct {
    /// The norm of `channels` channels followed by `activation`, its weights from `vb`.
    pub fn new(channels: usize, activation: Activation, vb: VarBuilder) -> Result<Self> {
        let get = |name: &str, value: f64| {
            vb.get_with_hints(channels, name, candle_nn::Init::Const(value))
        };
        Ok(Self {
            running_mean: Var::from_tensor(&get("running_mean", 0.0)?)?,
            running_var: Var::from_tensor(&get("running_var", 1.0)?)?,
            weight: get("weight", 1.0)?,
            bias: get("bias", 0.0)?,
            activation,
        })
    }

    /// The same norm through which no gradient flows to its weight and bias (see
    /// [`Conv::frozen`](super::conv::Conv::frozen)); the weights and running statistics are
    /// shared with the original.
    pub fn frozen(&self) -> Self {
        Self {
            weight: self.weight.detach(),
            bias: self.bias.detach(),
            ..self.clone()
        }
    }

    /// `activation(gain * (weight * xhat + bias) + offset)` for `x` `[N, C, ...]`, where
    /// `xhat` is `x` normalised per channel and `film` gives the gain and the offset `[N, C]`
    /// (without it, 1 and 0). In training (`train`) the batch's statistics normalise and the
    /// running ones move towards them.
    pub fn forward(
        &self,
        x: &Tensor,
        film: Option<(&Tensor, &Tensor)>,
        train: bool,
    ) -> Result<Tensor> {
        let dims = x.dims();
        let (Some(&n), Some(&c)) = (dims.first(), dims.get(1)) else {
            return Err(Error::Model(format!(
                "a batch norm takes [N, C, ...] tensors, got {dims:?}"
            )));
        };
        if c != self.weight.elem_count() {
            return Err(Error::Model(format!(
                "a batch norm of {} channels got {dims:?}",
                self.weight.elem_count()
            )));
        }
        let x = x.contiguous()?;
        let weight = self.weight.unsqueeze(0)?;
        let bias = self.bias.unsqueeze(0)?;
        let (scale, shift) = match film {
            None => (weight.broadcast_as((n, c))?, bias.broadcast_as((n, c))?),
            Some((gain, offset)) => {
                if gain.dims() != [n, c] || offset.dims() != [n, c] {
                    return Err(Error::Model(format!(
                        "a batch norm of {dims:?} takes a gain and an offset of [{n}, {c}], got \
                         {:?} and {:?}",
                        gain.dims(),
                        offset.dims()
                    )));
                }
                (
                    gain.broadcast_mul(&weight)?,
                    (gain.broadcast_mul(&bias)? + offset)?,
                )
            }
        };
        let params = Tensor::cat(&[&scale, &shift], 1)?;
        let stats = if train {
            let count = x.elem_count() / c.max(1);
            if count < 2 {
                return Err(Error::Model(format!(
                    "a batch norm in training needs more than one value per channel, got {dims:?}"
                )));
            }
            let stats = x.apply_op1_no_bwd(&Moments)?;
            let (mean, var) = (stats.narrow(0, 0, c)?, stats.narrow(0, c, c)?);
            // The running variance is the unbiased one, as in PyTorch and candle-nn.
            let unbiased = count as f64 / (count - 1) as f64;
            self.running_mean.set(
                &((self.running_mean.as_tensor() * (1.0 - MOMENTUM))? + (mean * MOMENTUM)?)?
                    .detach(),
            )?;
            self.running_var.set(
                &((self.running_var.as_tensor() * (1.0 - MOMENTUM))?
                    + (var * (MOMENTUM * unbiased))?)?
                    .detach(),
            )?;
            stats
        } else {
            Tensor::cat(
                &[self.running_mean.as_tensor(), self.running_var.as_tensor()],
                0,
            )?
            .detach()
        };
        Ok(x.apply_op3(
            &stats,
            &params,
            Fused {
                slope: self.activation.slope(),
                batch_stats: train,
            },
        )?)
    }
}

/// Sizes of one call: images, channels, pixels per channel.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    n: usize,
    c: usize,
    plane: usize,
}

impl Sizes {
    fn of(layout: &Layout) -> candle_core::Result<Self> {
        let dims = layout.dims();
        let (Some(&n), Some(&c)) = (dims.first(), dims.get(1)) else {
            candle_core::bail!("the batch norm takes [N, C, ...] tensors, got {dims:?}");
        };
        Ok(Self {
            n,
            c,
            plane: dims.iter().skip(2).product::<usize>(),
        })
    }

    /// The values of channel `c` of every image, image by image.
    fn channel<'a>(&self, x: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> {
        let plane = self.plane;
        (0..self.n)
            .filter_map(move |n| x.get((n * self.c + c) * plane..(n * self.c + c + 1) * plane))
    }
}

/// The per-channel means, then the per-channel biased variances, of `[N, C, ...]` (`[2C]`).
struct Moments;

impl CustomOp1 for Moments {
    fn name(&self) -> &'static str {
        "vis-batch-norm-moments"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let sizes = Sizes::of(layout)?;
        let x = contiguous_f32(storage, layout)?;
        let count = (sizes.n * sizes.plane).max(1) as f64;
        let moments: Vec<(f32, f32)> = (0..sizes.c)
            .into_par_iter()
            .map(|c| {
                let sum: f64 = sizes.channel(x, c).flatten().map(|&v| f64::from(v)).sum();
                let mean = sum / count;
                let squares: f64 = sizes
                    .channel(x, c)
                    .flatten()
                    .map(|&v| (f64::from(v) - mean).powi(2))
                    .sum();
                (mean as f32, (squares / count) as f32)
            })
            .collect();
        let (mut out, vars): (Vec<f32>, Vec<f32>) = moments.into_iter().unzip();
        out.extend(vars);
        Ok((CpuStorage::F32(out), Shape::from(2 * sizes.c)))
    }
}

/// The forward op: `x`, its statistics `[2C]` (means, variances) and the scales and shifts per
/// image `[N, 2C]` (scales, then shifts, of each image).
#[derive(Clone, Copy, Debug)]
struct Fused {
    /// The activation's slope below 0.
    slope: f32,
    /// Whether the statistics are the batch's own (they then depend on `x` in the backward).
    batch_stats: bool,
}

/// What normalises, scales and shifts one plane (image `n`, channel `c`): `z = v * a + b`,
/// with `a = rstd * scale` and `b = shift - mean * a`, and `xhat = (v - mean) * rstd`.
#[derive(Clone, Copy, Debug)]
struct Plane {
    mean: f32,
    rstd: f32,
    scale: f32,
    a: f32,
    b: f32,
}

/// The statistics and the scales and shifts, read from their storages.
struct Params<'a> {
    stats: &'a [f32],
    params: &'a [f32],
    sizes: Sizes,
}

impl<'a> Params<'a> {
    fn new(stats: &'a [f32], params: &'a [f32], sizes: Sizes) -> candle_core::Result<Self> {
        if stats.len() != 2 * sizes.c || params.len() != sizes.n * 2 * sizes.c {
            candle_core::bail!(
                "the batch norm of [{}, {}, ..] needs {} statistics and {} scales and shifts, \
                 got {} and {}",
                sizes.n,
                sizes.c,
                2 * sizes.c,
                sizes.n * 2 * sizes.c,
                stats.len(),
                params.len()
            );
        }
        Ok(Self {
            stats,
            params,
            sizes,
        })
    }

    /// Plane `index` (image `index / C`, channel `index % C`).
    fn plane(&self, index: usize) -> Plane {
        let c = self.sizes.c.max(1);
        let (n, ch) = (index / c, index % c);
        let at = |values: &[f32], i: usize| values.get(i).copied().unwrap_or(0.0);
        let mean = at(self.stats, ch);
        let rstd = 1.0 / (at(self.stats, c + ch) + EPS).sqrt();
        let scale = at(self.params, n * 2 * c + ch);
        let shift = at(self.params, n * 2 * c + c + ch);
        let a = rstd * scale;
        Plane {
            mean,
            rstd,
            scale,
            a,
            b: shift - mean * a,
        }
    }
}

impl CustomOp3 for Fused {
    fn name(&self) -> &'static str {
        "vis-batch-norm-act"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ss: &CpuStorage,
        sl: &Layout,
        ps: &CpuStorage,
        pl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let sizes = Sizes::of(xl)?;
        let x = contiguous_f32(xs, xl)?;
        let params = Params::new(contiguous_f32(ss, sl)?, contiguous_f32(ps, pl)?, sizes)?;
        let plane = sizes.plane.max(1);
        let slope = self.slope;
        let y = par_zeroed_chunks(x.len(), plane, |index, out| {
            let p = params.plane(index);
            let values = x.get(index * plane..).unwrap_or_default();
            for (o, &v) in out.iter_mut().zip(values) {
                let z = v * p.a + p.b;
                *o = if z > 0.0 { z } else { z * slope };
            }
        })?;
        Ok((CpuStorage::F32(y), xl.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        stats: &Tensor,
        params: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let packed = Tensor::cat(&[stats.flatten_all()?, params.flatten_all()?], 0)?;
        let out = x.apply_op3_no_bwd(&packed, &grad.contiguous()?, &Backward(*self))?;
        let len = x.elem_count();
        let dx = out.narrow(0, 0, len)?.reshape(x.shape())?;
        let dparams = match params.track_op() {
            true => Some(
                out.narrow(0, len, params.elem_count())?
                    .reshape(params.shape())?,
            ),
            false => None,
        };
        Ok((Some(dx), None, dparams))
    }
}

/// Plane `index` of `values`, `plane` values long (empty past the end).
fn plane_of(values: &[f32], index: usize, plane: usize) -> &[f32] {
    values
        .get(index * plane..(index + 1) * plane)
        .unwrap_or_default()
}

/// The backward op: `(x, [statistics, scales and shifts], dy)` to `dx` (flat), then the
/// gradients of the scales and shifts (`[N, 2C]`, flat), in one buffer.
struct Backward(Fused);

impl CustomOp3 for Backward {
    fn name(&self) -> &'static str {
        "vis-batch-norm-act-backward"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ps: &CpuStorage,
        pl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let sizes = Sizes::of(xl)?;
        let x = contiguous_f32(xs, xl)?;
        let packed = contiguous_f32(ps, pl)?;
        let (stats, params) = packed.split_at(packed.len().min(2 * sizes.c));
        let params = Params::new(stats, params, sizes)?;
        let dy = contiguous_f32(gs, gl)?;
        if dy.len() != x.len() {
            candle_core::bail!("the batch norm's backward got a gradient of another size");
        }
        let Fused { slope, batch_stats } = self.0;
        let plane = sizes.plane.max(1);
        let planes = sizes.n * sizes.c;
        // dz = dy * act'(z) at each value of a plane.
        let dz = move |p: &Plane, v: f32, dy: f32| {
            if v * p.a + p.b > 0.0 { dy } else { dy * slope }
        };
        // Per plane: the shift's gradient (the sum of dz) and the scale's (of dz * xhat).
        let sums: Vec<(f64, f64)> = (0..planes)
            .into_par_iter()
            .with_min_len((4096 / plane).max(1))
            .map(|index| {
                let p = params.plane(index);
                let (mut shift, mut scale) = (0f64, 0f64);
                for (&v, &dy) in plane_of(x, index, plane)
                    .iter()
                    .zip(plane_of(dy, index, plane))
                {
                    let dz = dz(&p, v, dy);
                    shift += f64::from(dz);
                    scale += f64::from(dz * (v - p.mean) * p.rstd);
                }
                (shift, scale)
            })
            .collect();
        // With the batch's statistics, dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat *
        // xhat)) over each channel, where dxhat = dz * scale.
        let count = (sizes.n * sizes.plane).max(1) as f64;
        let means: Vec<(f32, f32)> = (0..sizes.c)
            .map(|c| {
                if !batch_stats {
                    return (0.0, 0.0);
                }
                let (mut mean, mut mean_xhat) = (0f64, 0f64);
                for n in 0..sizes.n {
                    let index = n * sizes.c + c;
                    let scale = f64::from(params.plane(index).scale);
                    let (shift_sum, scale_sum) = sums.get(index).copied().unwrap_or_default();
                    mean += scale * shift_sum;
                    mean_xhat += scale * scale_sum;
                }
                ((mean / count) as f32, (mean_xhat / count) as f32)
            })
            .collect();
        let mut out = par_zeroed_chunks(x.len(), plane, |index, dx| {
            let p = params.plane(index);
            let (mean, mean_xhat) = means
                .get(index % sizes.c.max(1))
                .copied()
                .unwrap_or_default();
            for ((dx, &v), &dy) in dx
                .iter_mut()
                .zip(plane_of(x, index, plane))
                .zip(plane_of(dy, index, plane))
            {
                let xhat = (v - p.mean) * p.rstd;
                *dx = p.rstd * (dz(&p, v, dy) * p.scale - mean - xhat * mean_xhat);
            }
        })?;
        // The scales' and shifts' gradients, [N, 2C].
        out.reserve(planes * 2);
        for image in sums.chunks(sizes.c.max(1)) {
            out.extend(image.iter().map(|&(_, scale)| scale as f32));
            out.extend(image.iter().map(|&(shift, _)| shift as f32));
        }
        let len = out.len();
        Ok((CpuStorage::F32(out), Shape::from(len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{assert_same_gradients, max_diff, normal_var};
    use candle_core::{DType, Device, ModuleT};
    use candle_nn::VarMap;

    /// candle-nn's batch norm with the gain and offset and the activation after it.
    fn reference(
        bn: &candle_nn::BatchNorm,
        x: &Tensor,
        film: Option<(&Tensor, &Tensor)>,
        activation: Activation,
        train: bool,
    ) -> Tensor {
        let mut y = bn.forward_t(x, train).unwrap();
        if let Some((gain, offset)) = film {
            let (n, c) = gain.dims2().unwrap();
            let mut shape = vec![n, c];
            shape.resize(x.rank(), 1);
            y = y
                .broadcast_mul(&gain.reshape(shape.as_slice()).unwrap())
                .unwrap()
                .broadcast_add(&offset.reshape(shape.as_slice()).unwrap())
                .unwrap();
        }
        match activation {
            Activation::Relu => y.relu().unwrap(),
            Activation::LeakyRelu(slope) => candle_nn::ops::leaky_relu(&y, slope.into()).unwrap(),
        }
    }

    /// Output, running statistics and the gradients of the input, weight, bias, gain and
    /// offset agree with candle-nn's batch norm followed by the gain, the offset and the
    /// activation, in training and in evaluation, for images and for sequences.
    #[test]
    fn agrees_with_candle_nns_batch_norm() {
        let dev = Device::Cpu;
        let rng = &mut vis_candle::SeededRng::new(5);
        for (dims, film, activation) in [
            (vec![4, 8, 4, 4], true, Activation::Relu),
            (vec![3, 6, 5, 3], false, Activation::LeakyRelu(0.2)),
            (vec![2, 16, 7], true, Activation::LeakyRelu(0.2)),
            (vec![5, 4, 1, 1], false, Activation::Relu),
        ] {
            let (n, c) = (dims[0], dims[1]);
            let vars = VarMap::new();
            let ours = BatchNormAct::new(
                c,
                activation,
                VarBuilder::from_varmap(&vars, DType::F32, &dev),
            )
            .unwrap();
            // Weights and running statistics away from their starting values.
            let weight = normal_var(rng, 1.0, 0.5, &[c]);
            let bias = normal_var(rng, 0.0, 0.5, &[c]);
            let (mean, variance) = (
                normal_var(rng, 0.5, 0.3, &[c]),
                normal_var(rng, 2.0, 0.1, &[c]),
            );
            let ours = BatchNormAct {
                weight: weight.as_tensor().clone(),
                bias: bias.as_tensor().clone(),
                running_mean: Var::from_tensor(&mean.as_tensor().copy().unwrap()).unwrap(),
                running_var: Var::from_tensor(&variance.as_tensor().copy().unwrap()).unwrap(),
                ..ours
            };
            let theirs = candle_nn::BatchNorm::new(
                c,
                mean.as_tensor().copy().unwrap(),
                variance.as_tensor().copy().unwrap(),
                weight.as_tensor().clone(),
                bias.as_tensor().clone(),
                1e-5,
            )
            .unwrap();
            let (gain, offset) = (
                normal_var(rng, 1.0, 0.5, &[n, c]),
                normal_var(rng, 0.0, 0.5, &[n, c]),
            );
            let film = film.then_some((gain.as_tensor(), offset.as_tensor()));
            for train in [true, false] {
                let x = normal_var(rng, 0.3, 2.0, &dims);
                let a = ours.forward(x.as_tensor(), film, train).unwrap();
                let b = reference(&theirs, x.as_tensor(), film, activation, train);
                let what = format!("{dims:?} train {train}");
                assert!(max_diff(&a, &b) < 1e-5, "{what}: {}", max_diff(&a, &b));
                for (ours, theirs) in [
                    (&ours.running_mean, theirs.running_mean()),
                    (&ours.running_var, theirs.running_var()),
                ] {
                    assert!(max_diff(ours.as_tensor(), theirs) < 1e-5, "{what}");
                }
                let mut checked = vec![
                    ("x", x.as_tensor()),
                    ("weight", weight.as_tensor()),
                    ("bias", bias.as_tensor()),
                ];
                if film.is_some() {
                    checked.extend([("gain", gain.as_tensor()), ("offset", offset.as_tensor())]);
                }
                assert_same_gradients(rng, &a, &b, &checked, 1e-4, &what);
            }
        }
    }

    /// A frozen norm computes the same output and input gradient as the original, moves the
    /// running statistics they share, and gives its weight and bias no gradient.
    #[test]
    fn a_frozen_norm_passes_gradients_to_its_input_only() {
        let dev = Device::Cpu;
        let rng = &mut vis_candle::SeededRng::new(3);
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &dev);
        let bn = BatchNormAct::new(4, Activation::LeakyRelu(0.2), vb).unwrap();
        let frozen = bn.frozen();
        let x = normal_var(rng, 0.5, 2.0, &[3, 4, 2, 2]);
        let values = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let a = bn.forward(x.as_tensor(), None, true).unwrap();
        let mean_after_one = values(bn.running_mean.as_tensor());
        let b = frozen.forward(x.as_tensor(), None, true).unwrap();
        assert_eq!(values(&a), values(&b));
        assert_ne!(values(bn.running_mean.as_tensor()), mean_after_one);
        let ga = (&a * &a).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = (&b * &b).unwrap().sum_all().unwrap().backward().unwrap();
        assert_eq!(values(ga.get(&x).unwrap()), values(gb.get(&x).unwrap()));
        for weight in [&bn.weight, &bn.bias] {
            assert!(ga.get(weight).is_some() && gb.get(weight).is_none());
        }
    }

    #[test]
    fn wrong_shapes_and_a_single_value_per_channel_are_refused() {
        let dev = Device::Cpu;
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &dev);
        let bn = BatchNormAct::new(4, Activation::Relu, vb).unwrap();
        let x = Tensor::zeros((2, 3, 4, 4), DType::F32, &dev).unwrap();
        let err = bn.forward(&x, None, true).unwrap_err().to_string();
        assert!(err.contains("4 channels"), "{err}");
        let one = Tensor::zeros((1, 4, 1, 1), DType::F32, &dev).unwrap();
        let err = bn.forward(&one, None, true).unwrap_err().to_string();
        assert!(err.contains("more than one value"), "{err}");
        // In evaluation the running statistics normalise a single value.
        assert!(bn.forward(&one, None, false).is_ok());
        let x = Tensor::zeros((2, 4, 3, 3), DType::F32, &dev).unwrap();
        let gain = Tensor::ones((2, 3), DType::F32, &dev).unwrap();
        let err = bn
            .forward(&x, Some((&gain, &gain)), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("[2, 4]"), "{err}");
    }
}
