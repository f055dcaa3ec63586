//! The one source of randomness: a seeded generator, so noise, data order and weight
//! initialisation are reproducible (Candle's CPU generator cannot be seeded).

use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use crate::error::Result;

/// A seeded random generator producing Candle tensors.
#[derive(Clone, Debug)]
pub struct SeededRng(StdRng);

impl SeededRng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(StdRng::seed_from_u64(seed))
    }

    /// A new generator seeded from this one (for a component that draws on its own).
    pub fn fork(&mut self) -> Self {
        Self::new(self.0.random())
    }

    /// Standard normal f32 values of `shape`.
    pub fn normal(&mut self, shape: &[usize], device: &Device) -> Result<Tensor> {
        let n = shape.iter().product::<usize>();
        let values: Vec<f32> = (0..n).map(|_| StandardNormal.sample(&mut self.0)).collect();
        Ok(Tensor::from_vec(values, shape, device)?)
    }

    /// Normal f32 values of `shape` with `mean` and `std`.
    pub fn normal_with(
        &mut self,
        shape: &[usize],
        mean: f32,
        std: f32,
        device: &Device,
    ) -> Result<Tensor> {
        let n = shape.iter().product::<usize>();
        let values: Vec<f32> = (0..n)
            .map(|_| {
                let z: f32 = StandardNormal.sample(&mut self.0);
                mean + std * z
            })
            .collect();
        Ok(Tensor::from_vec(values, shape, device)?)
    }

    /// Uniform f32 values of `shape` in `[lo, hi)`.
    pub fn uniform(
        &mut self,
        shape: &[usize],
        lo: f32,
        hi: f32,
        device: &Device,
    ) -> Result<Tensor> {
        let n = shape.iter().product::<usize>();
        let values: Vec<f32> = (0..n).map(|_| self.0.random_range(lo..hi)).collect();
        Ok(Tensor::from_vec(values, shape, device)?)
    }

    /// A uniform index below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { self.0.random_range(0..n) }
    }

    /// A uniform f32 in `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        self.0.random()
    }

    /// The generator, for `rand`'s distributions.
    pub fn inner(&mut self) -> &mut StdRng {
        &mut self.0
    }
}
