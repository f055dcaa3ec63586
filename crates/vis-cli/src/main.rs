//! `vis`: the command-line face of vis. `vis render` draws tensors saved by any framework as a
//! grid (PNG) or an animation (GIF), byte for byte as torchvision and MMagic would; `vis demo`
//! trains a small model with the visualization hook writing grids as it goes.

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use vis_cli::{Cli, CliError};

/// Candle allocates and frees a buffer per tensor op; glibc's allocator returns the large ones
/// to the system each time (page faults, TLB shootdowns), mimalloc keeps them: the demo's
/// training steps run 1.4-1.6x faster with it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the option enum is kept stable across versions).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // By default mimalloc hands freed memory back to the system after 10 ms, and the next
    // training step faults it in again, the kernel zeroing huge pages: 2-8 s of system time in
    // a 20 s demo run, 1 s without. A training process keeps its peak memory anyway.
    // SAFETY: sets an integer in mimalloc's option table; any thread may, at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    // A panic would be a bug; if one happens anyway, say so in one line instead of a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let line = vis_cli::escape_controls(&info.to_string());
        let _ = writeln!(
            std::io::stderr(),
            "error: internal error in vis ({line}); please report it"
        );
    }));
    vis_cli::logger::init();
    let cli = Cli::parse();
    if let Some(threads) = cli.threads() {
        // SAFETY: no other thread exists yet; Candle and rayon read this variable when they
        // start their thread pools, later.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.max(1).to_string()) };
    }
    match std::panic::catch_unwind(|| vis_cli::run(cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(CliError::Usage {
            subcommand,
            message,
        })) => {
            // Prints clap's usage error for the subcommand and exits with 2, like any other
            // usage error.
            let mut cli = Cli::command();
            let mut command = match cli.find_subcommand_mut(subcommand) {
                Some(sub) => sub.clone().bin_name(format!("vis {subcommand}")),
                None => cli,
            };
            command
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    vis_cli::escape_controls(&message),
                )
                .exit()
        }
        Ok(Err(e)) => {
            // Nothing more can be said when stderr is gone too.
            let _ = writeln!(
                std::io::stderr(),
                "error: {}",
                vis_cli::escape_controls(&e.to_string())
            );
            ExitCode::from(1)
        }
        Err(_) => ExitCode::from(1),
    }
}
