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

/// MMagic's `BasicVisualizationHook`.
#[derive(Clone, Debug, Default)]
pub struct BasicVisualizationHook {
    config: BasicHookConfig,
}

impl BasicVisualizationHook {
    /// A hook with `config`.
    pub fn new(config: BasicHookConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &BasicHookConfig {
        &self.config
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
    /// draws every output at `step` (the runner's global iteration).
    pub fn after_iter(
        &mut self,
        visualizer: &mut ConcatImageVisualizer,
        mode: Mode,
        batch_idx: usize,
        outputs: &[DataSample],
        step: u64,
    ) -> Result<()> {
        if !self.is_on(mode) || !every_n_inner_iters(batch_idx, self.interval(mode)) {
            return Ok(());
        }
        let mut reported = Reported::default();
        let drawn = outputs
            .iter()
            .try_for_each(|sample| reported.keep(visualizer.add_datasample(sample, step)));
        visualizer.finish(reported, drawn)
    }
}
