//! `vis`: the command-line face of vis. `vis render` draws tensors saved by any framework as a
//! grid (PNG) or an animation (GIF), byte for byte as torchvision and MMagic would.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod error;
mod render;

use error::CliError;

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
}

fn main() -> ExitCode {
    // A panic would be a bug; if one happens anyway, say so in one line instead of a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error in vis ({info}); please report it");
    }));
    let cli = Cli::parse();
    let result = std::panic::catch_unwind(|| match cli.command {
        Command::Render(args) => render::run(args),
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
