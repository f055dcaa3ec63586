//! The README's snippet of a model drawing its EMA and original generators side by side, as
//! BigGAN's, SAGAN's and PGGAN's configs ask with `sample_model = "ema/orig"`.
use candle_core::{Device, Module, Tensor};
use vis_candle::prelude::*;

/// Two generators of noise `[N, 8]` to images `[N, 3, 4, 4]`: the trained one and its average.
struct TwoGenerators {
    generator: candle_nn::Linear,
    ema: candle_nn::Linear,
    device: Device,
}

impl GenerativeModel for TwoGenerators {
    fn device(&self) -> &Device {
        &self.device
    }
    fn noise(&self, n: usize, rng: &mut SeededRng) -> vis_candle::Result<Tensor> {
        rng.normal(&[n, 8], &self.device)
    }
    fn set_train(&mut self, _train: bool) {}
    // --- README ---
    fn val_step(&mut self, inputs: &Inputs) -> vis_candle::Result<Vec<DataSample>> {
        let InputBatch::Noise(z) = inputs.batch() else {
            return Err(vis_candle::Error::Model("a GAN samples noise".into()));
        };
        let draw = |g: &candle_nn::Linear| -> vis_candle::Result<Vec<DataSample>> {
            let images = g.forward(z)?.tanh()?.reshape(((), 3, 4, 4))?;
            samples_from_batch(&[("fake_img", &images)])
        };
        match inputs.kwarg_str("sample_model").unwrap_or("ema") {
            // target_keys = ["ema", "orig"]: one nested sample each, drawn as two blocks of rows.
            "ema/orig" => Ok(draw(&self.ema)?
                .into_iter()
                .zip(draw(&self.generator)?)
                .map(|(e, o)| DataSample::new().with("ema", e).with("orig", o))
                .collect()),
            "orig" => draw(&self.generator),
            _ => draw(&self.ema),
        }
    }
    // --- end README ---
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join("vis-readme-two-generators");
    let device = Device::Cpu;
    let vars = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&vars, candle_core::DType::F32, &device);
    let model = TwoGenerators {
        generator: candle_nn::linear(8, 48, vb.pp("generator"))?,
        ema: candle_nn::linear(8, 48, vb.pp("ema"))?,
        device,
    };
    let mut engine = CandleEngine::new(model, 16, 0);
    let config = HookConfig::from_toml(
        r#"interval = 1
        vis_kwargs_list = { type = "GAN", name = "fake_img", n_samples = 16,
                            sample_model = "ema/orig", target_keys = ["ema", "orig"] }"#,
    )?;
    let mut hook = VisualizationHook::new(config, Visualizer::local(&dir)?)?;
    hook.after_train_iter(&mut engine, 0)?;
    hook.close()?;
    assert!(dir.join("vis_data/vis_image/fake_img_1.png").is_file());
    Ok(())
}
