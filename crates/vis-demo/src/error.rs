//! The one error type of vis-demo.

use std::path::PathBuf;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can stop a demo run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A model, a dataset or the Candle bridge failed.
    #[error(transparent)]
    Candle(#[from] vis_candle::Error),

    /// A Candle operation of the training loop failed.
    #[error("candle: {0}")]
    Tensor(#[from] candle_core::Error),

    /// The hook or its visualizer refused something.
    #[error(transparent)]
    Core(#[from] vis_core::Error),

    /// A dataset lacks what the demo needs.
    #[error("dataset: {0}")]
    Dataset(String),

    /// A file or folder of the run could not be made.
    #[error("{}: {message}", path.display())]
    File {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}
