//! The one error type of the `vis` command.

/// What can stop a `vis` subcommand.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Flags that do not go together (exit code 2, with the usage of `subcommand`).
    #[error("{message}")]
    Usage {
        /// The subcommand whose usage to show.
        subcommand: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The flags fit, but the input does not (exit code 1).
    #[error("{0}")]
    Input(String),
    /// The pixel path failed (exit code 1).
    #[error(transparent)]
    Ops(#[from] vis_ops::Error),
    /// The demo failed (exit code 1).
    #[cfg(feature = "demo")]
    #[error(transparent)]
    Demo(#[from] vis_demo::Error),
}
