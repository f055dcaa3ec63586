//! A model of your own with the hook: an MLP VAE on generated strokes, drawn every 500 iterations
//! as samples from noise and as reconstructions beside their inputs. `cargo run --release -p
//! vis-candle --example vae`, then open `work_dirs/vae/vis_data/index.html`.
use std::sync::Arc;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, Optimizer, VarBuilder, VarMap, linear};
use vis_candle::prelude::*;

/// 16x16 grey images of one straight stroke each, in [-1, 1].
struct Strokes;

impl Dataset for Strokes {
    fn len(&self) -> usize {
        4096
    }
    fn get(&self, i: usize) -> vis_candle::Result<Example> {
        let mut rng = SeededRng::new(i as u64);
        let [a, b, c, d] = [0; 4].map(|_| rng.below(16) as f32);
        let pixels = (0..256).map(|k| {
            let (x, y, dx, dy) = ((k % 16) as f32 - a, (k / 16) as f32 - b, c - a, d - b);
            let t = ((x * dx + y * dy) / (dx * dx + dy * dy).max(1.0)).clamp(0.0, 1.0);
            if (x - t * dx).hypot(y - t * dy) < 1.0 {
                1f32
            } else {
                -1.0
            }
        });
        let img = Tensor::from_iter(pixels, &Device::Cpu)?.reshape((1, 16, 16))?;
        Ok(Example::from([("img".into(), img)]))
    }
}

/// Encoder 256 -> 256 -> (mean, log-variance) of 16 and decoder 16 -> 256 -> 256: five layers.
struct Vae(Vec<Linear>, Device);

impl Vae {
    fn encode(&self, x: &Tensor) -> vis_candle::Result<(Tensor, Tensor)> {
        let h = self.0[0].forward(&x.flatten_from(1)?)?.relu()?;
        Ok((self.0[1].forward(&h)?, self.0[2].forward(&h)?))
    }
    fn decode(&self, z: &Tensor) -> vis_candle::Result<Tensor> {
        let h = self.0[3].forward(z)?.relu()?;
        Ok(self.0[4].forward(&h)?.tanh()?.reshape(((), 1, 16, 16))?)
    }
}

impl GenerativeModel for Vae {
    fn device(&self) -> &Device {
        &self.1
    }
    fn noise(&self, n: usize, rng: &mut SeededRng) -> vis_candle::Result<Tensor> {
        rng.normal(&[n, 16], &self.1)
    }
    fn set_train(&mut self, _train: bool) {}
    fn val_step(&mut self, inputs: &Inputs) -> vis_candle::Result<Vec<DataSample>> {
        match inputs.batch() {
            InputBatch::Noise(z) => samples_from_batch(&[("fake_img", &self.decode(z)?)]),
            InputBatch::Data(batch) => {
                let (mean, _) = self.encode(&batch["img"])?;
                samples_from_batch(&[("img", &batch["img"]), ("recon", &self.decode(&mean)?)])
            }
            InputBatch::Arguments(_) => Err(vis_candle::Error::Model("no arguments".into())),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (device, vars) = (Device::Cpu, VarMap::new());
    let vb = VarBuilder::from_varmap(&vars, DType::F32, &device);
    let sizes = [(256, 256), (256, 16), (256, 16), (16, 256), (256, 256)].into_iter();
    let layers = sizes
        .enumerate()
        .map(|(k, (i, o))| linear(i, o, vb.pp(k.to_string())));
    let model = Vae(layers.collect::<Result<_, _>>()?, device.clone());
    let mut opt = candle_nn::AdamW::new_lr(vars.all_vars(), 2e-3)?;
    let data: Arc<dyn Dataset> = Arc::new(Strokes);
    let mut loader = Loader::new(Arc::clone(&data), 64, Some(SeededRng::new(1)))?;
    let mut engine = CandleEngine::new(model, 64, 0).with_train_data(data);
    let config = HookConfig::from_toml(
        r#"interval = 500
        vis_kwargs_list = [{ type = "Noise", name = "samples" },
                           { type = "Translation", name = "recon", n_samples = 16, target_keys = ["img", "recon"] }]"#,
    )?;
    let mut hook = VisualizationHook::new(config, Visualizer::local("work_dirs/vae")?)?;
    let mut rng = SeededRng::new(2);
    for iter in 0..3000 {
        let x = loader.next_batch()?["img"].clone();
        let (mean, logvar) = engine.model().encode(&x)?;
        let z = (&mean + (logvar.affine(0.5, 0.0)?.exp()? * rng.normal(mean.dims(), &device)?)?)?;
        let recon = (engine.model().decode(&z)? - &x)?.sqr()?.sum_all()?;
        let kl = ((mean.sqr()? + logvar.exp()? - &logvar)? - 1.0)?.sum_all()?;
        opt.backward_step(&((recon + kl.affine(0.5, 0.0)?)? / 64.0)?)?;
        hook.after_train_iter(&mut engine, iter)?;
    }
    Ok(hook.close()?)
}
