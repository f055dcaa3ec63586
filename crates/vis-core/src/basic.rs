//! `BasicVisualizationHook`: hands every output of chosen iterations (train, val and/or test) to
//! a [`ConcatImageVisualizer`], as MMagic's restoration models use it.

use crate::concat::ConcatImageVisualizer;
use crate::config::{BasicHookConfig, ModeInterval};
use crate::error::Result;
use crate::hook::every_n_inner_iters;
use crate::sample::DataSample;
use crate::writer::Reported;

/// The loop an iteration belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Training.
    Train,
    /// Validation.
    Val,
    /// Testing.
    Test,
}

impl Mode {
    /// The mode's name in the per-mode interval table.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Train => "train",
            Mode::Val => "val",
            Mode::Test => "test",
        }
    }
}

/// MMagic's `BasicVisualizationHook`: owns its [`ConcatImageVisualizer`], as
/// [`VisualizationHook`](crate::VisualizationHook) owns its visualizer.
pub struct BasicVisualizationHook {
    config: BasicHookConfig,
    visualizer: ConcatImageVisualizer,
}

impl std::fmt::Debug for BasicVisualizationHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicVisualizationHook")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl BasicVisualizationHook {
    /// A hook with `config`, drawing through `visualizer`.
    pub fn new(config: BasicHookConfig, visualizer: ConcatImageVisualizer) -> Self {
        Self { config, visualizer }
    }

    /// The configuration.
    pub fn config(&self) -> &BasicHookConfig {
        &self.config
    }

    /// The visualizer.
    pub fn visualizer(&mut self) -> &mut ConcatImageVisualizer {
        &mut self.visualizer
    }

    /// The interval in `mode`.
    pub fn interval(&self, mode: Mode) -> u64 {
        match &self.config.interval {
            ModeInterval::Every(n) => *n,
            ModeInterval::PerMode(table) => table.get(mode.name()).copied().unwrap_or(1),
        }
    }

    /// Whether `mode` is drawn at all.
    pub fn is_on(&self, mode: Mode) -> bool {
        match mode {
            Mode::Train => self.config.on_train,
            Mode::Val => self.config.on_val,
            Mode::Test => self.config.on_test,
        }
    }

    /// After iteration `batch_idx` of `mode`: when the mode is on and the interval says so,
    /// draws every output at `step` (the runner's global iteration). Returns the failures of
    /// earlier writes, after drawing every output of this call.
    pub fn after_iter(
        &mut self,
        mode: Mode,
        batch_idx: u64,
        outputs: &[DataSample],
        step: u64,
    ) -> Result<()> {
        if !self.is_on(mode) || !every_n_inner_iters(batch_idx, self.interval(mode)) {
            return Ok(());
        }
        let visualizer = &mut self.visualizer;
        let mut reported = Reported::default();
        let drawn = outputs
            .iter()
            .try_for_each(|sample| reported.keep(visualizer.add_datasample(sample, step)));
        visualizer.finish(reported, drawn)
    }

    /// Waits until every picture is written; returns every failure since the last report.
    pub fn flush(&mut self) -> Result<()> {
        self.visualizer.flush()
    }

    /// Writes everything and stops the writer; returns every failure.
    pub fn close(self) -> Result<()> {
        self.visualizer.close()
    }
}
