//! The one error type of vis-core.

use std::path::PathBuf;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error a model engine reports (sampling, a forward pass, saving inputs).
pub type EngineError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A picture, scalar or config that a backend failed to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteFailure {
    /// The backend that failed.
    pub backend: String,
    /// What it was writing (`fake_img_1000`, `scalars`, ...).
    pub item: String,
    /// Why, naming the file where there is one.
    pub message: String,
}

impl std::fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} could not write {}: {}",
            self.backend, self.item, self.message
        )
    }
}

/// Everything that can go wrong in the hook, the visualizer and its backends.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A config file or value is wrong.
    #[error(
        "{}{}{message}",
        file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default(),
        if field.is_empty() { String::new() } else { format!("field `{field}`: ") }
    )]
    Config {
        /// The file it came from, if any.
        file: Option<PathBuf>,
        /// The field, as a path (`vis_kwargs_list[1].n_samples`); empty for the whole document.
        field: String,
        /// What is wrong and what to do.
        message: String,
    },

    /// A vis-kwargs `type` is neither a sampler nor an alias.
    #[error("unknown sampler type '{given}'; known types: {}", known.join(", "))]
    UnknownSampler {
        /// The type given.
        given: String,
        /// The sampler types and aliases there are.
        known: Vec<&'static str>,
    },

    /// A data sample lacks a key, or holds something else there than what was asked for.
    #[error("{0}")]
    Sample(String),

    /// The message hub lacks `vis_results` or a key, or holds the wrong kind of value.
    #[error("{0}")]
    MessageHub(String),

    /// The model engine failed.
    #[error("{during}: {source}")]
    Engine {
        /// What the hook was doing.
        during: String,
        /// The engine's error.
        source: EngineError,
    },

    /// The model engine panicked; training can go on.
    #[error("{during}: the model panicked: {message}")]
    EnginePanic {
        /// What the hook was doing.
        during: String,
        /// The panic's message.
        message: String,
    },

    /// Drawing a picture failed (shapes, sizes).
    #[error("drawing '{name}': {source}")]
    Draw {
        /// The picture's name.
        name: String,
        /// The pixel path's error.
        source: vis_ops::Error,
    },

    /// Backends failed to write: returned at the next call or at `flush`.
    #[error("{}", write_failures(.0))]
    Write(Vec<WriteFailure>),

    /// An event file is damaged.
    #[error("event file: {0}")]
    EventFile(String),

    /// The background writer is gone (it was closed, or its thread died).
    #[error("the background writer has stopped: {0}")]
    WriterStopped(String),

    /// `RANK` or `LOCAL_RANK` is set to something that is not a rank.
    #[error("{variable}='{value}' is not a process rank; unset it or set it to 0, 1, 2, ...")]
    Rank {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
    },

    /// Another run holds the work folder's run lock.
    #[error(
        "another run is writing into {} ({holder}); wait until it ends, or give this run a folder of its own (two runs in one folder would mix their scalars.json)",
        dir.display()
    )]
    FolderInUse {
        /// The folder.
        dir: PathBuf,
        /// Who holds it, as its lock file says.
        holder: String,
    },

    /// A file or folder could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// Encoding or writing a picture failed in the pixel path.
    #[error(transparent)]
    Ops(#[from] vis_ops::Error),
}

/// "a write failed: ..." or "3 writes failed: ...; ...; ...".
fn write_failures(failures: &[WriteFailure]) -> String {
    let list: Vec<String> = failures.iter().map(ToString::to_string).collect();
    match list.len() {
        1 => format!("a write failed: {}", list.join("")),
        n => format!("{n} writes failed: {}", list.join("; ")),
    }
}
