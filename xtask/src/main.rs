//! `cargo xtask`: project automation, in Rust rather than shell (see rust-analyzer's xtask).
//!
//! ```text
//! cargo xtask bench [--peer PYTHON] [--inputs DIR] [--quick]
//! cargo xtask train-classifier
//! ```
//!
//! `bench` builds `vis-bench` in release mode and runs the four workloads of
//! `../shared/peers/README.md` at 1 and 2 threads. With `--peer PYTHON` it first runs the
//! Python peer (`bench_peer.py`) at 1 and 2 threads with that interpreter, has it dump its
//! inputs, and times vis on exactly those inputs, so times and file sizes compare on identical
//! data in one run. The table is printed and written to `target/bench/vis-bench.json`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask bench [--peer PYTHON] [--inputs DIR] [--quick] | cargo xtask train-classifier";

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("bench") => bench(args.collect()),
        Some("train-classifier") => train_classifier(),
        Some("-h" | "--help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task '{other}'\n{USAGE}")),
    }
}

/// The workspace root (this crate's parent folder).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs `cmd` in the workspace root, failing with its description if it fails.
fn run_cmd(mut cmd: Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    eprintln!("xtask: {shown}");
    let status = cmd
        .current_dir(root())
        .status()
        .map_err(|e| format!("{shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed with {status}"))
    }
}

/// Trains the demo's shape classifier and ships its weights in
/// `crates/vis-demo/assets/shape_classifier.safetensors` (see `vis_demo::quality`).
fn train_classifier() -> Result<(), String> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args([
        "run",
        "--release",
        "--quiet",
        "--package",
        "vis-demo",
        "--example",
        "train_classifier",
        "--",
    ])
    .arg(root().join("crates/vis-demo/assets/shape_classifier.safetensors"));
    run_cmd(cmd)
}

fn bench(args: Vec<String>) -> Result<(), String> {
    let mut peer: Option<String> = None;
    let mut inputs: Option<PathBuf> = None;
    let mut quick = false;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--peer" => peer = Some(it.next().ok_or("--peer needs a Python interpreter")?),
            "--inputs" => inputs = Some(it.next().ok_or("--inputs needs a folder")?.into()),
            "--quick" => quick = true,
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    let out = root().join("target/bench");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut vis = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    vis.args([
        "run",
        "--release",
        "--quiet",
        "--package",
        "vis-bench",
        "--",
    ]);
    vis.arg("--json").arg(out.join("vis-bench.json"));
    if quick {
        vis.arg("--quick");
    }
    if let Some(python) = peer {
        let script = root().join("../shared/peers/bench_peer.py");
        if !script.is_file() {
            return Err(format!("the peer script is not at {}", script.display()));
        }
        let dumped = out.join("peer-inputs");
        for threads in [1, 2] {
            let json = out.join(format!("peer-t{threads}.json"));
            let mut cmd = Command::new(&python);
            cmd.arg(&script)
                .args(["--threads", &threads.to_string()])
                .args(["--reps", if quick { "3" } else { "7" }])
                .arg("--json")
                .arg(&json)
                .arg("--dump-inputs")
                .arg(&dumped);
            run_cmd(cmd)?;
            vis.arg("--peer-json").arg(json);
        }
        inputs = Some(dumped);
        vis.arg("--opencv-python").arg(&python);
    }
    if let Some(dir) = inputs {
        vis.arg("--inputs").arg(dir);
    }
    run_cmd(vis)
}
