//! The README's hook snippet: a model of your own, the hook from a TOML config, the loop.
use candle_core::{Device, Module, Tensor};
use vis_candle::prelude::*;

/// A generator of your own: noise `[N, 8]` to RGB images `[N, 3, 8, 8]` in [-1, 1].
struct MyGan {
    generator: candle_nn::Linear,
    device: Device,
}

impl GenerativeModel for MyGan {
    fn device(&self) -> &Device {
        &self.device
    }
    fn noise(&self, n: usize, rng: &mut SeededRng) -> vis_candle::Result<Tensor> {
        rng.normal(&[n, 8], &self.device)
    }
    fn set_train(&mut self, _train: bool) {}
    fn val_step(&mut self, inputs: &Inputs) -> vis_candle::Result<Vec<DataSample>> {
        let InputBatch::Noise(z) = inputs.batch() else {
            return Err(vis_candle::Error::Model("a GAN samples noise".into()));
        };
        let images = self.generator.forward(z)?.tanh()?.reshape(((), 3, 8, 8))?;
        samples_from_batch(&[("fake_img", &images)])
    }
}

/// Your training step.
fn train_step(_model: &mut MyGan) -> vis_candle::Result<()> {
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join("vis-readme-hook");
    std::fs::create_dir_all(&dir)?;
    std::env::set_current_dir(&dir)?;
    std::fs::write(
        "hook.toml",
        "interval = 1000\nfixed_input = true\nvis_kwargs_list = { type = \"GAN\", name = \"fake_img\" }\n",
    )?;
    let device = Device::Cpu;
    let vars = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&vars, candle_core::DType::F32, &device);
    let model = MyGan {
        generator: candle_nn::linear(8, 192, vb)?,
        device,
    };
    let (batch_size, seed, iters) = (32, 0, 2000);

    // --- README ---
    use vis_candle::prelude::*;

    // Fixed inputs go to work_dirs/run/vis_inputs/: a resumed run draws from the same ones.
    let mut engine =
        CandleEngine::new(model, batch_size, seed).with_fixed_inputs_in("work_dirs/run");
    // Errors name the field and the file.
    let config = HookConfig::from_file("hook.toml".as_ref())?;
    // Pictures go to work_dirs/run/vis_data/vis_image/{name}_{step}.png.
    let mut hook = VisualizationHook::new(config, Visualizer::local("work_dirs/run")?)?;
    // A resumed run counts `iter` on from its checkpoint's iteration.
    for iter in 0..iters {
        train_step(engine.model_mut())?;
        // Every `interval` iterations: samples the model in eval mode with fixed inputs, draws
        // the grid here, queues it for the writer thread and returns; a failure is an error,
        // never a panic, and the model is back in train mode either way.
        if let Err(e) = hook.after_train_iter(&mut engine, iter) {
            eprintln!("warning: {e}");
        }
    }
    // Waits for the files; returns every write error not reported yet.
    hook.close()?;
    // --- end README ---
    assert!(std::path::Path::new("work_dirs/run/vis_data/vis_image/fake_img_2000.png").is_file());
    Ok(())
}
