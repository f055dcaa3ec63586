//! The one error type of vis-candle.

use std::path::PathBuf;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong between Candle and vis.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A Candle operation failed.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),

    /// vis-core refused something (a sample, a config, a write).
    #[error(transparent)]
    Core(#[from] vis_core::Error),

    /// A tensor cannot be drawn: wrong rank, channels, dtype or size.
    #[error("tensor '{name}': {message}")]
    Tensor {
        /// Which tensor.
        name: String,
        /// What is wrong and what to do.
        message: String,
    },

    /// A dataset is empty or gave an example that does not fit the others.
    #[error("dataset: {0}")]
    Dataset(String),

    /// A sampler cannot be built or run.
    #[error("sampler {kind}: {message}")]
    Sampler {
        /// The sampler type.
        kind: String,
        /// What is wrong and what to do.
        message: String,
    },

    /// A file could not be read or written.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },

    /// A model was given inputs it cannot take.
    #[error("model: {0}")]
    Model(String),
}
