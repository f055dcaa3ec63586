//! The one path warnings take to the user: the `log` facade (the library's warnings, the
//! demo's), printed on stderr by `env_logger` as `warning: ...`, one line each with control
//! characters escaped. It works whatever stderr is (a terminal, a file, a pipe, as under CI or
//! `nohup`); while a progress bar is on a terminal, the bar steps aside for the line.

use std::io::Write;
#[cfg(feature = "demo")]
use std::sync::{Mutex, PoisonError};

#[cfg(feature = "demo")]
use indicatif::ProgressBar;

/// The progress bar on screen, if any.
#[cfg(feature = "demo")]
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Stderr, with the progress bar suspended while a line is written.
struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        #[cfg(feature = "demo")]
        {
            let bar = BAR.lock().unwrap_or_else(PoisonError::into_inner).clone();
            if let Some(bar) = bar {
                bar.suspend(|| std::io::stderr().write_all(buf))?;
                return Ok(buf.len());
            }
        }
        std::io::stderr().write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Installs the logger: warnings and errors by default, more with `RUST_LOG` (`RUST_LOG=info`).
pub fn init() {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format(|out, record| {
            let level = match record.level() {
                log::Level::Error => "error",
                log::Level::Warn => "warning",
                log::Level::Info => "info",
                log::Level::Debug => "debug",
                log::Level::Trace => "trace",
            };
            let text = crate::escape_controls(&record.args().to_string());
            writeln!(out, "{level}: {text}")
        })
        .target(env_logger::Target::Pipe(Box::new(Stderr)))
        .try_init();
}

/// Shows `bar` while `f` runs; log lines print above it meanwhile.
#[cfg(feature = "demo")]
pub fn with_bar<T>(bar: &ProgressBar, f: impl FnOnce() -> T) -> T {
    *BAR.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
    let out = f();
    *BAR.lock().unwrap_or_else(PoisonError::into_inner) = None;
    out
}
