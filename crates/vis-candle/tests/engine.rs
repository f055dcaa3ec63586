//! The engine seam over a Candle model: MMagic's samplers (counts, order, restarts), and fixed
//! inputs that survive a resumed run.

use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use vis_candle::{
    CandleEngine, Dataset, Example, GenerativeModel, InputBatch, Inputs, Result, SeededRng, bridge,
};
use vis_core::{
    DataSample, Engine, HookConfig, SamplerKind, SamplerSpec, VisualizationHook, Visualizer,
};

/// A dataset whose example `i` is an image filled with `i / 100` (plus `offset`).
struct Numbered {
    len: usize,
    offset: f32,
}

impl Dataset for Numbered {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, index: usize) -> Result<Example> {
        let v = self.offset + index as f32 / 100.0;
        Ok(Example::from([(
            "img".to_owned(),
            Tensor::full(v, (3, 2, 2), &Device::Cpu)?,
        )]))
    }
}

/// A model that draws its noise as images: `fake_img[i]` is filled with noise value `i`.
struct Echo {
    device: Device,
    train: bool,
    /// Panics in `val_step`, as a user's model with a bug would.
    explode: bool,
}

impl GenerativeModel for Echo {
    fn device(&self) -> &Device {
        &self.device
    }

    fn noise(&self, num_batches: usize, rng: &mut SeededRng) -> Result<Tensor> {
        rng.normal(&[num_batches, 1], &self.device)
    }

    fn set_train(&mut self, train: bool) {
        self.train = train;
    }

    fn val_step(&mut self, inputs: &Inputs) -> Result<Vec<DataSample>> {
        if self.explode {
            let wrong = Tensor::zeros((2, 3), DType::F32, &self.device)?;
            wrong
                .reshape((7, 7))
                .expect("the user's model has a shape bug");
        }
        let images = match inputs.batch() {
            InputBatch::Noise(z) => z
                .tanh()?
                .reshape(((), 1, 1, 1))?
                .broadcast_as((z.dim(0)?, 3, 4, 4))?
                .contiguous()?,
            InputBatch::Data(batch) => batch["img"].clone(),
            InputBatch::Arguments(kwargs) => {
                let n = kwargs["num_batches"].as_u64().unwrap() as usize;
                Tensor::zeros((n, 3, 4, 4), DType::F32, &self.device)?
            }
        };
        bridge::samples_from_batch(&[("fake_img", &images)])
    }
}

fn engine(batch: usize, seed: u64) -> CandleEngine<Echo> {
    CandleEngine::new(
        Echo {
            device: Device::Cpu,
            train: true,
            explode: false,
        },
        batch,
        seed,
    )
    .with_train_data(Arc::new(Numbered {
        len: 5,
        offset: 0.0,
    }))
    .with_val_data(Arc::new(Numbered {
        len: 3,
        offset: 0.5,
    }))
    .with_test_data(Arc::new(Numbered {
        len: 7,
        offset: -0.5,
    }))
}

fn spec(kind: SamplerKind, max_times: usize, num_batches: usize) -> SamplerSpec {
    SamplerSpec {
        kind,
        max_times,
        num_batches,
        kwargs: Default::default(),
    }
}

/// The first value of every image of every batch a sampler yields.
fn data_values(engine: &mut CandleEngine<Echo>, kind: SamplerKind, times: usize) -> Vec<Vec<f32>> {
    engine
        .make_sampler(&spec(kind, times, 2))
        .unwrap()
        .map(|inputs| match inputs.unwrap().batch() {
            InputBatch::Data(batch) => {
                let img = &batch["img"];
                assert_eq!(&img.dims()[1..], &[3, 2, 2]);
                img.flatten_from(1)
                    .unwrap()
                    .get_on_dim(1, 0)
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            }
            other => panic!("a data batch, not {other:?}"),
        })
        .collect()
}

#[test]
fn data_samplers_read_like_a_dataloader_from_the_start_to_the_end() {
    let mut e = engine(2, 0);
    let round = |v: Vec<Vec<f32>>| -> Vec<Vec<i32>> {
        v.into_iter()
            .map(|b| b.into_iter().map(|x| (x * 100.0).round() as i32).collect())
            .collect()
    };
    // 5 training examples, batches of 2, up to 4 times: each example once, a short last
    // batch, then the end (MMagic's sampler over a DataLoader; tests/test_utils/
    // test_sampler.py:42-63 expects [[0..3], [4..7], [8, 9, 0, 1], [2, 3, 4]] and no more).
    let data = round(data_values(&mut e, SamplerKind::Data, 4));
    assert_eq!(data, vec![vec![0, 1], vec![2, 3], vec![4]]);
    // A new sampler starts from the first example again (MMagic builds a fresh loader).
    assert_eq!(round(data_values(&mut e, SamplerKind::Data, 1)), [[0, 1]]);
    let val = round(data_values(&mut e, SamplerKind::ValData, 2));
    assert_eq!(val, vec![vec![50, 51], vec![52]]);
    assert_eq!(
        round(data_values(&mut e, SamplerKind::TestData, 3)),
        [[-50, -49], [-48, -47], [-46, -45]]
    );
}

#[test]
fn a_missing_dataset_is_an_error_saying_how_to_give_one() {
    let mut e = CandleEngine::new(
        Echo {
            device: Device::Cpu,
            train: true,
            explode: false,
        },
        2,
        0,
    );
    let err = e
        .make_sampler(&spec(SamplerKind::ValData, 1, 2))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("with_val_data"), "{err}");
}

#[test]
fn noise_is_seeded_and_arguments_repeat_with_num_batches() {
    let noise = |seed| -> Vec<Vec<f32>> {
        let mut e = engine(3, seed);
        e.make_sampler(&spec(SamplerKind::Noise, 2, 3))
            .unwrap()
            .map(|i| match i.unwrap().batch() {
                InputBatch::Noise(z) => z.flatten_all().unwrap().to_vec1().unwrap(),
                other => panic!("noise, not {other:?}"),
            })
            .collect()
    };
    let a = noise(7);
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].len(), 3);
    assert_eq!(a, noise(7), "the same seed gives the same noise");
    assert_ne!(a, noise(8));
    assert_ne!(a[0], a[1], "batches differ");

    let mut e = engine(4, 0);
    let mut s = spec(SamplerKind::Arguments, 3, 4);
    s.kwargs.insert(
        "forward_kwargs".into(),
        serde_json::json!({"forward_mode": "sampling"}),
    );
    // MMagic's test_argument_sampler (tests/test_utils/test_sampler.py:9-21): extra keys a and
    // b beside forward_kwargs; its inputs are exactly the forward kwargs with num_batches (it
    // never counts the yields, which is checked here). vis passes a and b as the inputs' kwargs.
    s.kwargs.insert("a".into(), serde_json::json!(1));
    s.kwargs.insert("b".into(), serde_json::json!(2));
    let all: Vec<_> = e.make_sampler(&s).unwrap().map(|i| i.unwrap()).collect();
    assert_eq!(all.len(), 3);
    for inputs in all {
        let InputBatch::Arguments(kwargs) = inputs.batch() else {
            panic!("arguments")
        };
        assert_eq!(
            serde_json::Value::Object(kwargs.clone()),
            serde_json::json!({"forward_mode": "sampling", "num_batches": 4})
        );
        assert_eq!(
            serde_json::Value::Object(inputs.kwargs().clone()),
            serde_json::json!({"a": 1, "b": 2})
        );
    }
    s.kwargs
        .insert("forward_kwargs".into(), serde_json::json!(3));
    let err = e.make_sampler(&s).err().unwrap().to_string();
    assert!(err.contains("forward_kwargs"), "{err}");
}

fn gan_hook(dir: &Path) -> VisualizationHook<CandleEngine<Echo>> {
    let config = HookConfig::from_json(
        r#"{"interval": 1, "n_samples": 9, "vis_kwargs_list": [{"type": "GAN", "name": "fake_img"},
            {"type": "Translation", "name": "trans", "n_samples": 3}]}"#,
    )
    .unwrap();
    VisualizationHook::new(config, Visualizer::local(dir).unwrap()).unwrap()
}

#[test]
fn a_resumed_hook_reuses_the_saved_fixed_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = engine(4, 1).with_fixed_inputs_in(dir.path());
    let mut hook = gan_hook(dir.path());
    hook.after_train_iter(&mut first, 0).unwrap();
    hook.close().unwrap();
    // Keyed by the resolved sampler: `GAN` and `Noise` share their inputs.
    let saved = dir.path().join("vis_inputs/Noise.safetensors");
    assert!(saved.is_file());
    assert!(dir.path().join("vis_inputs/Data.safetensors").is_file());
    let grid_1 = std::fs::read(dir.path().join("vis_data/vis_image/fake_img_1.png")).unwrap();

    // Another process, another seed, the same folder: the same noise, the same bytes.
    let mut resumed = engine(4, 99).with_fixed_inputs_in(dir.path());
    let mut hook = gan_hook(dir.path());
    hook.after_train_iter(&mut resumed, 1).unwrap();
    hook.close().unwrap();
    let grid_2 = std::fs::read(dir.path().join("vis_data/vis_image/fake_img_2.png")).unwrap();
    assert_eq!(grid_1, grid_2);
    assert_eq!(
        std::fs::read(dir.path().join("vis_data/vis_image/trans_1.png")).unwrap(),
        std::fs::read(dir.path().join("vis_data/vis_image/trans_2.png")).unwrap()
    );

    // Without the folder, another seed draws other noise.
    let other = tempfile::tempdir().unwrap();
    let mut fresh = engine(4, 99).with_fixed_inputs_in(other.path());
    let mut hook = gan_hook(other.path());
    hook.after_train_iter(&mut fresh, 1).unwrap();
    hook.close().unwrap();
    assert_ne!(
        grid_1,
        std::fs::read(other.path().join("vis_data/vis_image/fake_img_2.png")).unwrap()
    );

    // A damaged file is an error naming it, not a panic or silently new inputs.
    std::fs::write(&saved, b"not safetensors").unwrap();
    let mut broken = engine(4, 1).with_fixed_inputs_in(dir.path());
    let mut hook = gan_hook(dir.path());
    let err = hook
        .after_train_iter(&mut broken, 2)
        .unwrap_err()
        .to_string();
    assert!(err.contains("Noise.safetensors"), "{err}");
    assert!(broken.model().train, "back in train mode after the failure");
}

#[test]
fn a_panic_in_the_model_is_an_error_and_training_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(4, 1);
    let mut hook = gan_hook(dir.path());
    engine.model_mut().explode = true;
    let err = hook.after_train_iter(&mut engine, 0).unwrap_err();
    assert!(matches!(err, vis_core::Error::EnginePanic { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("sampling 'fake_img'"), "{text}");
    assert!(text.contains("the user's model has a shape bug"), "{text}");
    assert!(engine.model().train, "back in train mode after the panic");

    engine.model_mut().explode = false;
    hook.after_train_iter(&mut engine, 1).unwrap();
    hook.close().unwrap();
    assert!(
        dir.path()
            .join("vis_data/vis_image/fake_img_2.png")
            .is_file()
    );
}
