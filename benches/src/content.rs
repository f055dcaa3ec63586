//! Smooth, GAN-like test content like the Python peer's `smooth_batch`: low-resolution noise
//! upsampled bilinearly, a little grain, clamped to [-1.05, 1.05].

/// A small deterministic generator (splitmix64).
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Roughly normal (sum of four uniforms, scaled to unit variance).
    pub(crate) fn normal(&mut self) -> f32 {
        let s: f32 = (0..4).map(|_| self.uniform()).sum();
        (s - 2.0) * 1.732_050_8
    }
}

/// `planes` planes of `h` x `w` smooth values in [-1.05, 1.05].
pub(crate) fn smooth(seed: u64, planes: usize, h: usize, w: usize) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let (lh, lw) = ((h / 8).max(2), (w / 8).max(2));
    let mut out = Vec::with_capacity(planes * h * w);
    for _ in 0..planes {
        let low: Vec<f32> = (0..lh * lw).map(|_| rng.uniform() * 2.0 - 1.0).collect();
        for y in 0..h {
            // Bilinear, align_corners = false, as torch's interpolate.
            let sy = ((y as f32 + 0.5) * lh as f32 / h as f32 - 0.5).clamp(0.0, (lh - 1) as f32);
            let (y0, fy) = (sy.floor() as usize, sy.fract());
            let y1 = (y0 + 1).min(lh - 1);
            for x in 0..w {
                let sx =
                    ((x as f32 + 0.5) * lw as f32 / w as f32 - 0.5).clamp(0.0, (lw - 1) as f32);
                let (x0, fx) = (sx.floor() as usize, sx.fract());
                let x1 = (x0 + 1).min(lw - 1);
                let top = low[y0 * lw + x0] * (1.0 - fx) + low[y0 * lw + x1] * fx;
                let bottom = low[y1 * lw + x0] * (1.0 - fx) + low[y1 * lw + x1] * fx;
                let v = top * (1.0 - fy) + bottom * fy + 0.05 * rng.normal();
                out.push(v.clamp(-1.05, 1.05));
            }
        }
    }
    out
}
