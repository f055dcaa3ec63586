//! Leaky ReLU as one custom op with its own backward pass. candle-nn 0.11's `leaky_relu` is
//! five tensor ops (zeros, maximum, minimum, scale, sum), each a pass over the activations
//! with a fresh buffer, and its backward about a dozen more (the masks of the maximum and the
//! minimum, their products, and the sums of the gradients); in the DCGAN's discriminator
//! they were a tenth of a training step. Here the forward is one pass and the backward one.
//! Its values and gradients are candle-nn's bit for bit, except the gradient at exactly 0:
//! there candle-nn's maximum and minimum share it (0.6 for slope 0.2), here it is the slope.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};

use super::conv::contiguous_f32;

/// The slope below 0 of the leaky ReLUs of DCGAN (Radford et al.), which pix2pix and the
/// shape classifier keep.
pub const LEAKY_SLOPE: f32 = 0.2;

/// `x` where it is positive, `slope * x` elsewhere, for f32 tensors.
pub fn leaky_relu(x: &Tensor, slope: f32) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(LeakyRelu(slope))
}

/// The forward op, with its slope.
#[derive(Clone, Copy, Debug)]
struct LeakyRelu(f32);

impl CustomOp1 for LeakyRelu {
    fn name(&self) -> &'static str {
        "vis-leaky-relu"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let slope = self.0;
        let x = contiguous_f32(storage, layout)?;
        let y = x
            .iter()
            .map(|&v| if v > 0.0 { v } else { v * slope })
            .collect();
        Ok((CpuStorage::F32(y), layout.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(
            &grad.contiguous()?,
            &LeakyReluGrad(self.0),
        )?))
    }
}

/// The backward op: `(x, dy)` to `dy` where `x` is positive and `slope * dy` elsewhere.
#[derive(Clone, Copy, Debug)]
struct LeakyReluGrad(f32);

impl CustomOp2 for LeakyReluGrad {
    fn name(&self) -> &'static str {
        "vis-leaky-relu-backward"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let slope = self.0;
        let x = contiguous_f32(xs, xl)?;
        let dy = contiguous_f32(gs, gl)?;
        if dy.len() != x.len() {
            candle_core::bail!(
                "the leaky ReLU's backward got a gradient of {} values for {} inputs",
                dy.len(),
                x.len()
            );
        }
        let dx = x
            .iter()
            .zip(dy)
            .map(|(&v, &d)| if v > 0.0 { d } else { d * slope })
            .collect();
        Ok((CpuStorage::F32(dx), xl.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Values and gradients against candle-nn's, bit for bit away from 0.
    #[test]
    fn agrees_with_candle_nn_bit_for_bit() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1., (3, 4, 5, 7), &dev).unwrap()).unwrap();
        // A strided input, as a transposed activation would be.
        let xt = x.t().unwrap();
        let probe = Tensor::randn(0f32, 1., xt.dims(), &dev).unwrap();
        let ours = leaky_relu(&xt, 0.2).unwrap();
        let theirs = candle_nn::ops::leaky_relu(&xt, 0.2).unwrap();
        let bits = |t: &Tensor| -> Vec<u32> {
            let values = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            values.iter().map(|v| v.to_bits()).collect()
        };
        assert_eq!(bits(&ours), bits(&theirs));
        let ga = (&ours * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let gb = (&theirs * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert_eq!(bits(ga.get(&x).unwrap()), bits(gb.get(&x).unwrap()));
    }

    #[test]
    fn the_gradient_at_zero_is_the_slope() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::new(&[0f32, -1.0, 2.0], &dev).unwrap()).unwrap();
        let grads = leaky_relu(&x, 0.25)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let dx = grads.get(&x).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(dx, vec![0.25, 0.25, 1.0]);
    }
}
