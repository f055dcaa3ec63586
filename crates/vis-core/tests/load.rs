//! Load: 10,000 visualizations through the hook into a deliberately slow backend. Memory stays
//! bounded by the writer's queue (peak RSS is measured), every picture arrives as a file, and
//! `close()` returns. The one test is alone in this binary so that the process's peak RSS is its
//! own.

mod common;

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use common::SlowDisk;
use vis_core::{
    DataSample, Engine, EngineError, HookConfig, LocalVisBackend, Sampler, SamplerSpec, Tensor,
    VisualizationHook, Visualizer, VisualizerConfig,
};

/// A model whose every forward pass returns `batch` 3x32x32 images.
struct Model {
    batch: usize,
    calls: u64,
}

impl Engine for Model {
    type Inputs = u64;

    fn batch_size(&self) -> usize {
        self.batch
    }

    fn set_train(&mut self, _: bool) {}

    fn make_sampler(
        &mut self,
        spec: &SamplerSpec,
    ) -> std::result::Result<Sampler<u64>, EngineError> {
        Ok(Box::new((0..spec.max_times as u64).map(Ok)))
    }

    fn val_step(&mut self, _: &u64) -> std::result::Result<Vec<DataSample>, EngineError> {
        self.calls += 1;
        let shade = (self.calls % 200) as f32 / 100.0 - 1.0;
        Ok((0..self.batch)
            .map(|i| {
                let data = vec![shade + i as f32 * 0.01; 3 * 32 * 32];
                DataSample::new().with("fake_img", Tensor::from_vec(data, &[3, 32, 32]).unwrap())
            })
            .collect())
    }
}

/// A field of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`).
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} not in /proc/self/status"));
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Aborts the process if `done` is not signalled within `limit`: a deadlock fails the test
/// instead of hanging CI.
fn watchdog(what: &'static str, limit: Duration) -> mpsc::Sender<()> {
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if rx.recv_timeout(limit) == Err(mpsc::RecvTimeoutError::Timeout) {
            eprintln!("{what} did not finish within {limit:?}: deadlock");
            std::process::abort();
        }
    });
    tx
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

#[cfg(target_os = "linux")]
#[test]
fn ten_thousand_visualizations_into_a_slow_backend() {
    const VISUALIZATIONS: u64 = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let config = HookConfig::from_json(
        r#"{"interval": 1, "n_samples": 16, "n_row": 4,
            "vis_kwargs_list": {"type": "GAN", "name": "fake_img"}}"#,
    )
    .unwrap();
    let visualizer_config = VisualizerConfig::default();
    let queue = visualizer_config.queue_capacity;
    let backend = SlowDisk {
        inner: LocalVisBackend::new(dir.path()),
        delay: Duration::from_micros(300),
    };
    let visualizer = Visualizer::new(vec![Box::new(backend)], visualizer_config).unwrap();
    let mut hook = VisualizationHook::new(config, visualizer).unwrap();
    let mut model = Model {
        batch: 16,
        calls: 0,
    };
    // One 4x4 grid of 32x32 images: 138x138 RGB.
    let picture_bytes = 138 * 138 * 3;

    let done = watchdog(
        "10,000 visualizations and close()",
        Duration::from_secs(600),
    );
    // Warm up (thread pools, allocator arenas), then measure the peak from here on.
    for batch_idx in 0..100 {
        hook.after_train_iter(&mut model, batch_idx).unwrap();
    }
    std::fs::write("/proc/self/clear_refs", "5").unwrap(); // resets VmHWM to VmRSS
    let baseline = status_bytes("VmRSS:");
    for batch_idx in 100..VISUALIZATIONS {
        hook.after_train_iter(&mut model, batch_idx).unwrap();
    }
    hook.close().unwrap();
    done.send(()).unwrap();
    let peak = status_bytes("VmHWM:");

    let images = dir.path().join("vis_image");
    assert_eq!(
        count_files(&images) as u64,
        VISUALIZATIONS,
        "every picture arrives"
    );
    assert!(images.join("fake_img_10000.png").exists());
    let growth = peak.saturating_sub(baseline);
    let unbounded = VISUALIZATIONS * picture_bytes;
    eprintln!(
        "peak RSS grew {:.1} MB over {:.1} MB (queue {queue}; all pictures held would be {:.0} MB)",
        growth as f64 / 1e6,
        baseline as f64 / 1e6,
        unbounded as f64 / 1e6
    );
    // The queue holds `queue` pictures and the canvas pool `queue + 2`: well under 1 MB here.
    // Allow 32 MB for allocator and thread-stack noise; keeping every picture would need 571 MB.
    assert!(
        growth < 32 << 20,
        "peak RSS grew {growth} bytes: memory is not bounded by the queue"
    );
}
