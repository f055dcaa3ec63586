//! `vis`: the command-line face of vis. `vis render` draws tensors saved by any framework as a
//! grid (PNG) or an animation (GIF), byte for byte as torchvision and MMagic would; `vis demo`
//! trains a small model with the visualization hook writing grids as it goes.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod demo;
mod error;
mod render;

use error::CliError;

/// Candle allocates and frees a buffer per tensor op; glibc's allocator returns the large ones
/// to the system each time (page faults, TLB shootdowns), mimalloc keeps them: the demo's
/// training steps run 1.4-1.6x faster with it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sample grids for generative models: exact, fast, and safe with bad input.
#[derive(Parser, Debug)]
#[command(name = "vis", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
enum Command {
    /// Draw tensors from a .safetensors file as a PNG grid, or sequences as a GIF.
    Render(render::RenderArgs),
    /// Train a small model on built-in data with the hook writing grids (the main job).
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    // A panic would be a bug; if one happens anyway, say so in one line instead of a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error in vis ({info}); please report it");
    }));
    let cli = Cli::parse();
    if let Command::Demo(args) = &cli.command
        && let Some(threads) = args.threads()
    {
        // SAFETY: no other thread exists yet; Candle and rayon read this variable when they
        // start their thread pools, later.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.max(1).to_string()) };
    }
    let result = std::panic::catch_unwind(|| match cli.command {
        Command::Render(args) => render::run(args),
        Command::Demo(args) => demo::run(args),
    });
    match result {
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
                .error(clap::error::ErrorKind::ArgumentConflict, message)
                .exit()
        }
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
        Err(_) => ExitCode::from(1),
    }
}
