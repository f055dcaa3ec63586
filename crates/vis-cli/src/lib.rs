//! The `vis` command as a library: its flags ([`Cli`]) and [`run`]. The binary (`main.rs`) is a
//! thin shell around it; fuzz targets and tests drive [`run`] in-process.
//!
//! The `demo` feature (on by default) brings `vis demo` and with it Candle; without it the crate
//! is the pixel path only, which keeps fuzz builds small.

use clap::{Parser, Subcommand};

#[cfg(feature = "demo")]
mod demo;
mod error;
pub mod logger;
mod render;

#[cfg(feature = "demo")]
pub use demo::DemoArgs;
pub use error::CliError;
pub use render::RenderArgs;

/// Sample grids for generative models: exact, fast, and safe with bad input.
#[derive(Parser, Debug)]
#[command(name = "vis", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Draw tensors from a .safetensors file as a PNG grid, or sequences as a GIF.
    Render(RenderArgs),
    /// Train a small model on built-in data with the hook writing grids (the main job).
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
}

impl Cli {
    /// The number of threads asked for, to be set up before any thread pool starts.
    pub fn threads(&self) -> Option<usize> {
        match &self.command {
            #[cfg(feature = "demo")]
            Command::Demo(args) => args.threads(),
            Command::Render(_) => None,
        }
    }
}

/// `text` with its control characters (newlines, terminal escape sequences, ...) escaped as
/// Rust writes them (`\n`, `\u{1b}`), so that what a file or a flag held prints as one harmless
/// line.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// Prints `lines` on stdout. A reader that went away (`| head`) ends the command quietly, as it
/// would end any Unix tool; any other failure (`> /dev/full`) is an error.
pub(crate) fn print_lines(lines: &[String]) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = lines
        .iter()
        .try_for_each(|line| writeln!(out, "{line}"))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::Input(format!("writing to stdout: {e}"))),
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Render(args) => render::run(args),
        #[cfg(feature = "demo")]
        Command::Demo(args) => demo::run(args),
    }
}
