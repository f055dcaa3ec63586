//! Group normalization followed by SiLU as one custom op with its own backward pass. Candle
//! 0.11's `GroupNorm` is seven tensor ops and SiLU an eighth, each a pass over the activations
//! with a fresh buffer, and their backward about twenty more; in the DDPM they took 30 % of a
//! training step. Here the forward is three passes over each group (mean,
//! variance, output) and the backward four (the same two, the sums, the input gradient).
//! Weights have the names and shapes of `candle_nn::GroupNorm` (`weight`, `bias`, `[C]`).

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use super::conv::{contiguous_f32, par_zeroed_chunks};
use vis_candle::{Error, Result};

/// `silu(group_norm(x))` over `groups` groups of channels, with a learned scale and shift.
#[derive(Clone, Debug)]
pub struct GroupNormSilu {
    weight: Tensor,
    bias: Tensor,
    groups: usize,
    eps: f32,
}

impl GroupNormSilu {
    /// Scale (`weight`, ones) and shift (`bias`, zeros) for `channels` channels from `vb`.
    pub fn new(groups: usize, channels: usize, eps: f32, vb: VarBuilder) -> Result<Self> {
        if groups == 0 || !channels.is_multiple_of(groups) {
            return Err(Error::Model(format!(
                "a group norm of {channels} channels needs a number of groups dividing them, got {groups}"
            )));
        }
        let weight = vb.get_with_hints(channels, "weight", candle_nn::Init::Const(1.))?;
        let bias = vb.get_with_hints(channels, "bias", candle_nn::Init::Const(0.))?;
        Ok(Self {
            weight,
            bias,
            groups,
            eps,
        })
    }

    /// `silu(group_norm(x))` for `x` `[N, C, ...]`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let params = Tensor::cat(&[&self.weight, &self.bias], 0)?;
        x.contiguous()?.apply_op2(
            &params,
            Fused {
                groups: self.groups,
                eps: self.eps,
            },
        )
    }
}

/// The forward op: `x` and the scale and shift concatenated (`[2C]`).
#[derive(Clone, Copy, Debug)]
struct Fused {
    groups: usize,
    eps: f32,
}

/// Sizes of one call: images, channels, pixels per channel, groups.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    n: usize,
    c: usize,
    plane: usize,
    groups: usize,
}

impl Sizes {
    fn of(layout: &Layout, groups: usize) -> candle_core::Result<Self> {
        let dims = layout.dims();
        let (Some(&n), Some(&c)) = (dims.first(), dims.get(1)) else {
            candle_core::bail!("the group norm takes [N, C, ...] tensors, got {dims:?}");
        };
        if groups == 0 || !c.is_multiple_of(groups) {
            candle_core::bail!("{groups} groups do not divide {c} channels");
        }
        let plane = dims.iter().skip(2).product::<usize>();
        Ok(Self {
            n,
            c,
            plane,
            groups,
        })
    }

    /// Elements in one group of one image.
    fn group_len(&self) -> usize {
        self.c / self.groups * self.plane
    }
}

/// The mean and reciprocal standard deviation of `values`, in f64 sums.
fn moments(values: &[f32], eps: f32) -> (f32, f32) {
    let len = values.len().max(1) as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / len;
    let var = values
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / len;
    (mean as f32, (1.0 / (var + f64::from(eps)).sqrt()) as f32)
}

/// The scales and shifts of `c` channels, concatenated in `storage`.
fn scale_and_shift<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    c: usize,
) -> candle_core::Result<(&'a [f32], &'a [f32])> {
    let params = contiguous_f32(storage, layout)?;
    match (params.get(..c), params.get(c..)) {
        (Some(scale), Some(shift)) if shift.len() == c => Ok((scale, shift)),
        _ => candle_core::bail!("the group norm needs {c} scales and {c} shifts"),
    }
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

impl CustomOp2 for Fused {
    fn name(&self) -> &'static str {
        "vis-group-norm-silu"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ps: &CpuStorage,
        pl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let sizes = Sizes::of(xl, self.groups)?;
        let x = contiguous_f32(xs, xl)?;
        let (scale, shift) = scale_and_shift(ps, pl, sizes.c)?;
        let per_group = sizes.c / sizes.groups;
        let group_len = sizes.group_len().max(1);
        let y = par_zeroed_chunks(x.len(), group_len, |index, out| {
            let values = x.get(index * group_len..).unwrap_or_default();
            let values = values.get(..out.len()).unwrap_or(values);
            let (mean, rstd) = moments(values, self.eps);
            let first = index % sizes.groups * per_group;
            for (i, (o, v)) in out
                .chunks_mut(sizes.plane.max(1))
                .zip(values.chunks(sizes.plane.max(1)))
                .enumerate()
            {
                let (g, b) = (
                    scale.get(first + i).copied().unwrap_or(1.0) * rstd,
                    shift.get(first + i).copied().unwrap_or(0.0),
                );
                for (o, &v) in o.iter_mut().zip(v) {
                    let z = (v - mean) * g + b;
                    *o = z * sigmoid(z);
                }
            }
        })?;
        Ok((CpuStorage::F32(y), xl.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        params: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let packed = x.apply_op3_no_bwd(params, &grad.contiguous()?, &Backward(*self))?;
        let len = x.elem_count();
        let c = params.elem_count() / 2;
        let dx = packed.narrow(0, 0, len)?.reshape(x.shape())?;
        // The per-image partial sums of the scale and shift gradients, summed over images.
        let n = x.dim(0)?;
        let dparams = packed
            .narrow(0, len, n * 2 * c)?
            .reshape((n, 2 * c))?
            .sum(0)?;
        Ok((Some(dx), Some(dparams)))
    }
}

/// The backward op: `(x, params, dy)` to `dx` (flat), then for each image the partial
/// gradients of the scales and shifts (`[N, 2C]`, flat), all in one buffer.
struct Backward(Fused);

impl CustomOp3 for Backward {
    fn name(&self) -> &'static str {
        "vis-group-norm-silu-backward"
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
        let Fused { groups, eps } = self.0;
        let sizes = Sizes::of(xl, groups)?;
        let x = contiguous_f32(xs, xl)?;
        let (scale, shift) = scale_and_shift(ps, pl, sizes.c)?;
        let dy = contiguous_f32(gs, gl)?;
        if dy.len() != x.len() {
            candle_core::bail!("the group norm's backward got a gradient of another size");
        }
        let per_group = sizes.c / sizes.groups;
        let group_len = sizes.group_len().max(1);
        let plane = sizes.plane.max(1);
        let mut dx = vec![0f32; x.len()];
        // Per group: the scale and shift gradients of its channels (2 * per_group).
        let mut partial = vec![0f32; sizes.n * sizes.groups * 2 * per_group];
        dx.par_chunks_mut(group_len)
            .zip(partial.par_chunks_mut((2 * per_group).max(1)))
            .enumerate()
            .for_each(|(index, (dx, partial))| {
                let start = index * group_len;
                let (Some(values), Some(dy)) = (
                    x.get(start..start + group_len),
                    dy.get(start..start + group_len),
                ) else {
                    return;
                };
                let (mean, rstd) = moments(values, eps);
                let first = index % sizes.groups * per_group;
                let (dscale, dshift) = partial.split_at_mut(per_group);
                // dz = dy * silu'(z); dxhat = dz * scale; the sums of dxhat and dxhat * xhat.
                let (mut sum, mut sum_xhat) = (0f64, 0f64);
                for (i, ((dx, v), dy)) in dx
                    .chunks_mut(plane)
                    .zip(values.chunks(plane))
                    .zip(dy.chunks(plane))
                    .enumerate()
                {
                    let g = scale.get(first + i).copied().unwrap_or(1.0);
                    let b = shift.get(first + i).copied().unwrap_or(0.0);
                    let (mut ds, mut db) = (0f64, 0f64);
                    for ((dx, &v), &dy) in dx.iter_mut().zip(v).zip(dy) {
                        let xhat = (v - mean) * rstd;
                        let z = xhat * g + b;
                        let s = sigmoid(z);
                        let dz = dy * (s + z * s * (1.0 - s));
                        ds += f64::from(dz * xhat);
                        db += f64::from(dz);
                        let dxhat = dz * g;
                        sum += f64::from(dxhat);
                        sum_xhat += f64::from(dxhat * xhat);
                        *dx = dxhat;
                    }
                    if let (Some(s), Some(d)) = (dscale.get_mut(i), dshift.get_mut(i)) {
                        *s = ds as f32;
                        *d = db as f32;
                    }
                }
                let len = group_len as f64;
                let (mean_d, mean_dx) = ((sum / len) as f32, (sum_xhat / len) as f32);
                for (dx, &v) in dx.iter_mut().zip(values) {
                    let xhat = (v - mean) * rstd;
                    *dx = rstd * (*dx - mean_d - xhat * mean_dx);
                }
            });
        // Regroup the partials per image as [scales of all channels, shifts of all channels].
        let mut out = dx;
        out.reserve(sizes.n * 2 * sizes.c);
        for image in partial.chunks(sizes.groups * 2 * per_group) {
            for half in 0..2 {
                for group in image.chunks(2 * per_group) {
                    out.extend(group.iter().skip(half * per_group).take(per_group));
                }
            }
        }
        let len = out.len();
        Ok((CpuStorage::F32(out), Shape::from(len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{assert_same_gradients, max_diff, normal_var};
    use candle_core::{DType, Device, Module};
    use candle_nn::VarMap;

    /// Output and gradients (of the input, scale and shift) agree with candle-nn's group norm
    /// followed by SiLU, for images and for sequences, with one group and with several.
    #[test]
    fn agrees_with_candle_nns_group_norm_and_silu() {
        let dev = Device::Cpu;
        let mut rng = vis_candle::SeededRng::new(7);
        for (dims, groups) in [
            (vec![2, 8, 4, 4], 4),
            (vec![3, 6, 5, 3], 1),
            (vec![2, 16, 7], 8),
            (vec![1, 4, 1, 1], 2),
        ] {
            let c = dims[1];
            let vars = VarMap::new();
            let vb = VarBuilder::from_varmap(&vars, DType::F32, &dev);
            let ours = GroupNormSilu::new(groups, c, 1e-5, vb).unwrap();
            // Scales and shifts away from their starting ones and zeros.
            let weight = normal_var(&mut rng, 1.0, 0.5, &[c]);
            let bias = normal_var(&mut rng, 0.0, 0.5, &[c]);
            let ours = GroupNormSilu {
                weight: weight.as_tensor().clone(),
                bias: bias.as_tensor().clone(),
                ..ours
            };
            let theirs = candle_nn::GroupNorm::new(
                weight.as_tensor().clone(),
                bias.as_tensor().clone(),
                c,
                groups,
                1e-5,
            )
            .unwrap();
            let x = normal_var(&mut rng, 0.3, 2.0, &dims);
            let a = ours.forward(x.as_tensor()).unwrap();
            let b = candle_nn::ops::silu(&theirs.forward(x.as_tensor()).unwrap()).unwrap();
            assert!(max_diff(&a, &b) < 1e-5, "{dims:?}: {}", max_diff(&a, &b));
            assert_same_gradients(
                &mut rng,
                &a,
                &b,
                &[
                    ("x", x.as_tensor()),
                    ("weight", weight.as_tensor()),
                    ("bias", bias.as_tensor()),
                ],
                1e-4,
                &format!("{dims:?}"),
            );
        }
    }

    #[test]
    fn groups_that_do_not_divide_the_channels_are_refused() {
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
        let err = GroupNormSilu::new(4, 6, 1e-5, vb).unwrap_err();
        assert!(err.to_string().contains("6 channels"), "{err}");
    }
}
