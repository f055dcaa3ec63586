//! What MMagic users notice: resumed runs that draw the configured samples, data samplers that
//! iterate like a DataLoader, and the entry's extra kwargs reaching the model (MMagic's
//! `mmagic/engine/hooks/visualization_hook.py` and `mmagic/utils/sampler.py` at 0a560bba).

use std::path::Path;
use std::sync::{Arc, Mutex};

use candle_core::{Device, Tensor};
use vis_candle::{
    CandleEngine, Dataset, Example, GenerativeModel, InputBatch, Inputs, Result, SeededRng, bridge,
};
use vis_core::{
    DataSample, HookConfig, Picture, VisBackend, VisualizationHook, Visualizer, VisualizerConfig,
};

/// A dataset whose example `i` is an image filled with `i / 100`.
struct Numbered(usize);

impl Dataset for Numbered {
    fn len(&self) -> usize {
        self.0
    }

    fn get(&self, index: usize) -> Result<Example> {
        Ok(Example::from([(
            "img".to_owned(),
            Tensor::full(index as f32 / 100.0, (3, 2, 2), &Device::Cpu)?,
        )]))
    }
}

/// What the model saw: the examples and kwargs of every batch.
type Seen = Arc<Mutex<Vec<(usize, serde_json::Map<String, serde_json::Value>)>>>;

/// A model drawing each input value as an image; with `sample_model = "ema/orig"` it returns
/// both generators' images under `ema` and `orig`, as MMagic's `BaseGAN` does.
struct Twin {
    device: Device,
    noise_width: usize,
    seen: Seen,
}

impl GenerativeModel for Twin {
    fn device(&self) -> &Device {
        &self.device
    }

    fn noise(&self, num_batches: usize, rng: &mut SeededRng) -> Result<Tensor> {
        rng.normal(&[num_batches, self.noise_width], &self.device)
    }

    fn set_train(&mut self, _: bool) {}

    fn val_step(&mut self, inputs: &Inputs) -> Result<Vec<DataSample>> {
        self.seen
            .lock()
            .unwrap()
            .push((inputs.len(), inputs.kwargs().clone()));
        let images = match inputs.batch() {
            InputBatch::Noise(z) => z
                .narrow(1, 0, 1)?
                .tanh()?
                .reshape(((), 1, 1, 1))?
                .broadcast_as((z.dim(0)?, 3, 2, 2))?
                .contiguous()?,
            InputBatch::Data(batch) => batch["img"].clone(),
            InputBatch::Arguments(_) => unreachable!("no Arguments sampler here"),
        };
        if inputs.kwarg_str("sample_model") == Some("ema/orig") {
            let ema = bridge::samples_from_batch(&[("fake_img", &images)])?;
            let orig = bridge::samples_from_batch(&[("fake_img", &(&images * 0.5)?)])?;
            return Ok(ema
                .into_iter()
                .zip(orig)
                .map(|(e, o)| DataSample::new().with("ema", e).with("orig", o))
                .collect());
        }
        bridge::samples_from_batch(&[("fake_img", &images)])
    }
}

/// Pictures as a backend receives them.
type Pictures = Arc<Mutex<Vec<(String, Picture)>>>;

struct Keep(Pictures);

impl VisBackend for Keep {
    fn name(&self) -> &str {
        "Keep"
    }

    fn add_image(&mut self, name: &str, picture: &Picture, _: u64) -> vis_core::Result<()> {
        self.0
            .lock()
            .unwrap()
            .push((name.to_owned(), picture.clone()));
        Ok(())
    }
}

/// An engine over a fresh `Twin` whose fixed inputs live in `dir`.
fn engine(batch: usize, seed: u64, noise_width: usize, dir: &Path) -> (CandleEngine<Twin>, Seen) {
    let seen = Seen::default();
    let model = Twin {
        device: Device::Cpu,
        noise_width,
        seen: Arc::clone(&seen),
    };
    let engine = CandleEngine::new(model, batch, seed)
        .with_train_data(Arc::new(Numbered(10)))
        .with_val_data(Arc::new(Numbered(6)))
        .with_fixed_inputs_in(dir);
    (engine, seen)
}

/// One visualization with `config`; the pictures drawn.
fn visualize(
    config: serde_json::Value,
    engine: &mut CandleEngine<Twin>,
) -> vis_core::Result<Vec<(String, Picture)>> {
    let pictures = Pictures::default();
    let visualizer = Visualizer::new(
        vec![Box::new(Keep(Arc::clone(&pictures)))],
        VisualizerConfig::default(),
    )?;
    let mut hook = VisualizationHook::new(HookConfig::from_json(&config.to_string())?, visualizer)?;
    let drawn = hook.after_train_iter(engine, 0);
    hook.close()?;
    drawn?;
    let out = pictures.lock().unwrap().clone();
    Ok(out)
}

/// The size of a grid of `cols` x `rows` 2x2 cells with padding 2.
fn grid(cols: usize, rows: usize) -> (usize, usize) {
    (cols * 4 + 2, rows * 4 + 2)
}

/// The noise values of the fixed inputs saved in `dir`, read back through a new engine.
fn saved_noise(dir: &Path, batch: usize, max_times: usize) -> Vec<f32> {
    let (mut e, _) = engine(batch, 0, 1, dir);
    let spec = vis_core::SamplerSpec {
        kind: vis_core::SamplerKind::Noise,
        max_times,
        num_batches: batch,
        kwargs: Default::default(),
    };
    vis_core::Engine::load_fixed_inputs(&mut e, "Noise", &spec)
        .unwrap()
        .unwrap()
        .iter()
        .flat_map(|i| match i.batch() {
            InputBatch::Noise(z) => z.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            _ => panic!("noise"),
        })
        .collect()
}

#[test]
fn a_resumed_run_asking_for_more_samples_keeps_the_saved_and_draws_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let gan = |n: usize| serde_json::json!({"interval": 1, "n_samples": n, "vis_kwargs_list": {"type": "GAN"}});
    let (mut first, _) = engine(4, 1, 1, dir.path());
    let pics = visualize(gan(8), &mut first).unwrap();
    assert_eq!(pics[0].1.size(), grid(3, 3));
    let before = saved_noise(dir.path(), 4, 2);
    assert_eq!(before.len(), 8);
    // n_samples raised from 8 to 12 (MMagic: 64 to 100 drew 64): 12 are drawn, the first 8 from
    // the saved noise, and the 4 new ones are kept too.
    let (mut resumed, seen) = engine(4, 2, 1, dir.path());
    let pics = visualize(gan(12), &mut resumed).unwrap();
    assert_eq!(pics[0].1.size(), grid(4, 3));
    assert_eq!(seen.lock().unwrap().len(), 3, "three batches of 4");
    let after = saved_noise(dir.path(), 4, 3);
    assert_eq!(after.len(), 12);
    assert_eq!(after[..8], before[..]);
}

#[test]
fn a_resumed_run_with_a_smaller_batch_draws_exactly_n_samples() {
    let dir = tempfile::tempdir().unwrap();
    let gan = |n: usize| serde_json::json!({"interval": 1, "n_samples": n, "vis_kwargs_list": {"type": "GAN"}});
    let (mut first, _) = engine(8, 1, 1, dir.path());
    visualize(gan(8), &mut first).unwrap();
    // Batch size 8 to 4 and n_samples 4 (MMagic: 64 to 32 with 16 drew all 64): the saved
    // batch of 8 is cut into batches of 4, and 4 samples are drawn, the saved first four.
    let (mut resumed, seen) = engine(4, 2, 1, dir.path());
    let pics = visualize(gan(4), &mut resumed).unwrap();
    assert_eq!(pics[0].1.size(), grid(2, 2));
    assert_eq!(
        seen.lock().unwrap().iter().map(|s| s.0).collect::<Vec<_>>(),
        [4]
    );
    // A batch size that does not divide the saved count: 8 saved, batches of 3, 9 asked for.
    let (mut odd, seen) = engine(3, 3, 1, dir.path());
    let pics = visualize(gan(9), &mut odd).unwrap();
    assert_eq!(pics[0].1.size(), grid(3, 3));
    assert_eq!(
        seen.lock().unwrap().iter().map(|s| s.0).collect::<Vec<_>>(),
        [3, 3, 3]
    );
}

#[test]
fn saved_inputs_that_no_longer_fit_the_model_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let gan =
        serde_json::json!({"interval": 1, "n_samples": 4, "vis_kwargs_list": {"type": "GAN"}});
    let (mut first, _) = engine(4, 1, 1, dir.path());
    visualize(gan.clone(), &mut first).unwrap();
    // The model's noise is now 2 wide, not 1.
    let (mut changed, _) = engine(4, 1, 2, dir.path());
    let err = visualize(gan, &mut changed).unwrap_err().to_string();
    assert!(
        err.contains("Noise.safetensors") && err.contains("noise of shape [4, 1]"),
        "{err}"
    );
}

#[test]
fn gan_and_noise_share_their_fixed_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, _) = engine(4, 1, 1, dir.path());
    let pics = visualize(
        serde_json::json!({"interval": 1, "n_samples": 4, "vis_kwargs_list": [
            {"type": "GAN", "name": "a"}, {"type": "Noise", "name": "b"}, {"type": "gan", "name": "c"}
        ]}),
        &mut e,
    )
    .unwrap();
    assert_eq!(pics.len(), 3);
    assert!(
        pics[0].1 == pics[1].1 && pics[1].1 == pics[2].1,
        "one noise for all three"
    );
}

#[test]
fn data_samplers_draw_each_example_once_with_the_data_s_own_batch_size() {
    let dir = tempfile::tempdir().unwrap();
    // 6 validation examples, batch size 4, n_samples 8: batches of 4 and 2 and a grid of 6
    // pictures, as MMagic's sampler yields them (its hook then trips over the short batch).
    let (mut e, seen) = engine(4, 1, 1, dir.path());
    let val = serde_json::json!({"interval": 1, "n_samples": 8, "fixed_input": false,
                                 "vis_kwargs_list": {"type": "TranslationVal"}});
    let pics = visualize(val.clone(), &mut e).unwrap();
    assert_eq!(pics[0].1.size(), grid(3, 2));
    assert_eq!(
        seen.lock().unwrap().iter().map(|s| s.0).collect::<Vec<_>>(),
        [4, 2]
    );
    // The validation data's own batch size (MMagic's val_loop.dataloader.batch_size): 3.
    let (e, seen) = engine(4, 1, 1, dir.path());
    let mut e = e.with_val_batch_size(3);
    let pics = visualize(val, &mut e).unwrap();
    assert_eq!(pics[0].1.size(), grid(3, 2));
    assert_eq!(
        seen.lock().unwrap().iter().map(|s| s.0).collect::<Vec<_>>(),
        [3, 3]
    );
    // A short last batch is still cut to n_samples: 10 examples, batches of 4, n_samples 9.
    let (mut e, seen) = engine(4, 1, 1, dir.path());
    let train = serde_json::json!({"interval": 1, "n_samples": 9, "fixed_input": false,
                                   "vis_kwargs_list": {"type": "Translation"}});
    let pics = visualize(train, &mut e).unwrap();
    assert_eq!(pics[0].1.size(), grid(3, 3));
    assert_eq!(
        seen.lock().unwrap().iter().map(|s| s.0).collect::<Vec<_>>(),
        [4, 4, 2]
    );
}

#[test]
fn the_entry_s_extra_kwargs_reach_the_model_and_survive_a_resume() {
    let dir = tempfile::tempdir().unwrap();
    // BigGAN's config (configs/biggan/biggan_2xb25-500kiters_cifar10-32x32.py:55-59): the EMA
    // and the original generator side by side.
    let config = serde_json::json!({"interval": 1, "n_samples": 4, "vis_kwargs_list": {
        "type": "GAN", "name": "fake_img", "sample_model": "ema/orig", "target_keys": ["ema", "orig"]
    }});
    for seed in [1, 2] {
        // The second run resumes from the first one's fixed inputs.
        let (mut e, seen) = engine(4, seed, 1, dir.path());
        let pics = visualize(config.clone(), &mut e).unwrap();
        // Two keys of 4 samples, 2 per row: 2 rows each.
        assert_eq!(pics[0].1.size(), grid(2, 4));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(
            serde_json::Value::Object(seen[0].1.clone()),
            serde_json::json!({"sample_model": "ema/orig"}),
            "the hook's own keys (name, target_keys, ...) are left out"
        );
    }
    // Every sampler passes them: the data ones too.
    let (mut e, seen) = engine(4, 1, 1, dir.path());
    visualize(
        serde_json::json!({"interval": 1, "n_samples": 2, "vis_kwargs_list": {
            "type": "Translation", "sample_model": "orig", "n_skip": 3
        }}),
        &mut e,
    )
    .unwrap();
    assert_eq!(
        serde_json::Value::Object(seen.lock().unwrap()[0].1.clone()),
        serde_json::json!({"sample_model": "orig"})
    );
}
