//! Test doubles: a fake engine with a noise model and datasets, and a backend that records.

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

use vis_core::{
    DataSample, Engine, EngineError, Picture, Result, Sampler, SamplerKind, SamplerSpec, Tensor,
    VisBackend,
};

/// Inputs of the fake engine.
#[derive(Clone, Debug, PartialEq)]
pub enum Inputs {
    /// Noise for a batch: one value per sample.
    Noise(Vec<f32>),
    /// A data batch: the dataset indices.
    Data(Vec<usize>),
    /// Forward arguments.
    Args(serde_json::Value),
}

/// Fixed inputs kept by sampler type.
pub type Store = Arc<Mutex<Vec<(String, Vec<Inputs>)>>>;

/// A fake model: `val_step` turns each input value into a 3x4x4 image filled with it (plus the
/// value itself under `noise`), or, for arguments, a 250-step sequence.
pub struct FakeEngine {
    pub batch: usize,
    /// The validation data's own batch size, if it has one.
    pub val_batch: Option<usize>,
    pub train: bool,
    pub mode_log: Vec<bool>,
    pub forward_calls: usize,
    pub rng: u64,
    /// Values of the training, validation and test sets.
    pub datasets: [Vec<f32>; 3],
    /// Make `val_step` return this many samples regardless of the batch.
    pub outputs_per_call: Option<usize>,
    pub fail_forward: bool,
    pub panic_forward: bool,
    /// Where fixed inputs "persist" (shared across engines, like files would be).
    pub store: Store,
}

impl FakeEngine {
    pub fn new(batch: usize) -> Self {
        Self {
            batch,
            val_batch: None,
            train: true,
            mode_log: Vec::new(),
            forward_calls: 0,
            rng: 1,
            datasets: [
                (0..15).map(|i| i as f32 / 20.0).collect(),
                (0..17).map(|i| -(i as f32) / 20.0).collect(),
                (0..5).map(|i| 0.5 + i as f32 / 20.0).collect(),
            ],
            outputs_per_call: None,
            fail_forward: false,
            panic_forward: false,
            store: Arc::default(),
        }
    }

    fn next_noise(&mut self) -> f32 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng % 2000) as f32 / 1000.0 - 1.0
    }
}

/// An image [3, 4, 4] filled with `v`.
pub fn image(v: f32) -> Tensor {
    Tensor::from_vec(vec![v; 48], &[3, 4, 4]).unwrap()
}

impl Engine for FakeEngine {
    type Inputs = Inputs;

    fn batch_size(&self) -> usize {
        self.batch
    }

    fn set_train(&mut self, train: bool) {
        self.train = train;
        self.mode_log.push(train);
    }

    fn make_sampler(
        &mut self,
        spec: &SamplerSpec,
    ) -> std::result::Result<Sampler<Inputs>, EngineError> {
        let batches: Vec<Inputs> = match spec.kind {
            SamplerKind::Noise => (0..spec.max_times)
                .map(|_| Inputs::Noise((0..spec.num_batches).map(|_| self.next_noise()).collect()))
                .collect(),
            SamplerKind::Data | SamplerKind::ValData | SamplerKind::TestData => {
                let set = match spec.kind {
                    SamplerKind::Data => 0,
                    SamplerKind::ValData => 1,
                    _ => 2,
                };
                // As a DataLoader: in order from the first example, a short last batch, then
                // the end.
                let len = self.datasets[set].len();
                (0..len)
                    .map(|i| set * 1000 + i)
                    .collect::<Vec<_>>()
                    .chunks(spec.num_batches.max(1))
                    .take(spec.max_times)
                    .map(|chunk| Inputs::Data(chunk.to_vec()))
                    .collect()
            }
            SamplerKind::Arguments => (0..spec.max_times)
                .map(|_| Inputs::Args(spec.kwargs["forward_kwargs"].clone()))
                .collect(),
        };
        Ok(Box::new(batches.into_iter().map(Ok)))
    }

    fn val_step(&mut self, inputs: &Inputs) -> std::result::Result<Vec<DataSample>, EngineError> {
        assert!(!self.train, "val_step must run in evaluation mode");
        self.forward_calls += 1;
        if self.panic_forward {
            panic!("the fake model exploded");
        }
        if self.fail_forward {
            return Err("out of memory".into());
        }
        let values: Vec<f32> = match inputs {
            Inputs::Noise(v) => v.clone(),
            Inputs::Data(idx) => idx
                .iter()
                .map(|&i| self.datasets[i / 1000][i % 1000])
                .collect(),
            Inputs::Args(_) => {
                return Ok((0..self.batch)
                    .map(|i| {
                        let t = 250;
                        let seq: Vec<f32> = (0..t * 48)
                            .map(|k| (k / 48) as f32 / t as f32 - i as f32 * 0.1)
                            .collect();
                        DataSample::new().with("x_t", Tensor::from_vec(seq, &[t, 3, 4, 4]).unwrap())
                    })
                    .collect());
            }
        };
        let n = self.outputs_per_call.unwrap_or(values.len());
        Ok((0..n)
            .map(|i| {
                let v = values[i % values.len()];
                DataSample::new()
                    .with("fake_img", image(v))
                    .with("noise", Tensor::from_vec(vec![v], &[1]).unwrap())
            })
            .collect())
    }

    fn sampler_batch_size(&self, kind: SamplerKind) -> usize {
        match kind {
            SamplerKind::ValData => self.val_batch.unwrap_or(self.batch),
            _ => self.batch,
        }
    }

    fn inputs_len(&self, inputs: &Inputs) -> usize {
        match inputs {
            Inputs::Noise(v) => v.len(),
            Inputs::Data(idx) => idx.len(),
            Inputs::Args(_) => self.batch,
        }
    }

    fn load_fixed_inputs(
        &mut self,
        key: &str,
        _spec: &SamplerSpec,
    ) -> std::result::Result<Option<Vec<Inputs>>, EngineError> {
        Ok(self
            .store
            .lock()
            .unwrap()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone()))
    }

    fn save_fixed_inputs(
        &mut self,
        key: &str,
        inputs: &[Inputs],
    ) -> std::result::Result<(), EngineError> {
        let mut store = self.store.lock().unwrap();
        store.retain(|(k, _)| k != key);
        store.push((key.to_owned(), inputs.to_vec()));
        Ok(())
    }
}

/// What a recording backend saw.
pub type Recorded = Arc<Mutex<Vec<(String, u64, Picture)>>>;

/// A backend keeping every picture in memory.
pub struct Recorder(pub Recorded);

impl VisBackend for Recorder {
    fn name(&self) -> &str {
        "Recorder"
    }

    fn add_image(&mut self, name: &str, picture: &Picture, step: u64) -> Result<()> {
        self.0
            .lock()
            .unwrap()
            .push((name.to_owned(), step, picture.clone()));
        Ok(())
    }
}

/// A visualizer recording into a fresh list.
pub fn recording() -> (vis_core::Visualizer, Recorded) {
    let seen = Recorded::default();
    let vis = vis_core::Visualizer::new(
        vec![Box::new(Recorder(Arc::clone(&seen)))],
        vis_core::VisualizerConfig::default(),
    )
    .unwrap();
    (vis, seen)
}

/// The local backend, slowed down: it takes at least `delay` per picture.
pub struct SlowDisk {
    pub inner: vis_core::LocalVisBackend,
    pub delay: std::time::Duration,
}

impl VisBackend for SlowDisk {
    fn name(&self) -> &str {
        "SlowDisk"
    }

    fn add_image(&mut self, name: &str, picture: &Picture, step: u64) -> Result<()> {
        std::thread::sleep(self.delay);
        self.inner.add_image(name, picture, step)
    }
}

/// The (name, step) of every picture recorded so far.
pub fn names(seen: &Recorded) -> Vec<(String, u64)> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|(n, s, _)| (n.clone(), *s))
        .collect()
}

/// Every file under `root`, relative to it, sorted.
pub fn all_files(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}
