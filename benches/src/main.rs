//! `vis-bench`: the workload table behind `cargo xtask bench`.
//!
//! Times the four workloads of `../shared/peers/README.md` at 1 and 2 threads: a memcpy of the
//! input bytes (the bandwidth ceiling), the grid pass, grid + PNG, grid + GIF and grid + APNG
//! written to disk; the whole hook on the dcgan workload; the gallery's append and page
//! (`gallery`); the PNG encoders side by side (`encoders`); merges the Python peer's figures
//! when given, prints a table with ratios and writes JSON. Run it through `cargo xtask bench`,
//! which builds it in release mode and runs the peer.

mod content;
mod encoders;
mod gallery;
mod gif;
mod hook;
mod peer;
mod table;
mod workload;

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use workload::Workload;

/// One measured figure.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Row {
    /// Workload name (the peer's).
    pub(crate) workload: String,
    /// `memcpy`, `grid`, `grid+png`, `grid+gif`, `grid+apng`, or the peer's `peer_grid`,
    /// `peer_total`.
    pub(crate) stage: String,
    /// Threads the stage could use.
    pub(crate) threads: usize,
    /// Median wall time.
    pub(crate) median_ms: f64,
    /// Bytes: input bytes for `memcpy` and `grid`, file bytes for the others.
    pub(crate) bytes: u64,
    /// Mean absolute error per channel of a decoded GIF or APNG against the exact frames.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) mae: Option<f64>,
    /// Pixels of the picture encoded (the `encoders` table).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pixels: Option<u64>,
}

/// Command-line options (parsed by hand: this is an internal tool driven by xtask).
struct Options {
    inputs: Option<PathBuf>,
    peer_json: Vec<PathBuf>,
    opencv_python: Option<PathBuf>,
    /// Time the encoders' table only (`--encoders-only`), for work on the encoder.
    encoders_only: bool,
    json: PathBuf,
    min_reps: usize,
    budget_ms: f64,
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        inputs: None,
        peer_json: Vec::new(),
        opencv_python: None,
        encoders_only: false,
        json: PathBuf::from("target/bench/vis-bench.json"),
        min_reps: 7,
        budget_ms: 400.0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--inputs" => o.inputs = Some(PathBuf::from(value()?)),
            "--peer-json" => o.peer_json.push(PathBuf::from(value()?)),
            "--opencv-python" => o.opencv_python = Some(PathBuf::from(value()?)),
            "--json" => o.json = PathBuf::from(value()?),
            "--reps" => o.min_reps = value()?.parse().map_err(|e| format!("--reps: {e}"))?,
            "--quick" => o.budget_ms = 50.0,
            "--encoders-only" => o.encoders_only = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

/// Median wall time of `f` in milliseconds: one warm-up call, then at least `min_reps` calls and
/// more while within `budget_ms`.
pub(crate) fn median_ms(min_reps: usize, budget_ms: f64, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut times = Vec::new();
    while times.len() < min_reps
        || (start.elapsed().as_secs_f64() * 1e3 < budget_ms && times.len() < 500)
    {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    median(times)
}

/// The median of some timings (NaN for none).
pub(crate) fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("vis-bench: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let opts = parse_options()?;
    let workloads = Workload::all(opts.inputs.as_deref())?;
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| e.to_string())?;
        for w in workloads.iter().filter(|_| !opts.encoders_only) {
            let measured = pool.install(|| w.measure(threads, tmp.path(), &opts))?;
            rows.extend(measured);
        }
        if let Some(dcgan) = workloads.first().filter(|_| !opts.encoders_only) {
            rows.extend(pool.install(|| hook::measure(dcgan, threads, tmp.path(), &opts))?);
        }
        rows.extend(pool.install(|| encoders::measure(&workloads, threads, &opts))?);
        rows.extend(pool.install(|| gif::measure(&workloads, threads, tmp.path(), &opts))?);
    }
    match &opts.opencv_python {
        Some(python) => rows.extend(encoders::opencv(python, &workloads, tmp.path(), &opts)?),
        None => eprintln!(
            "vis-bench: OpenCV's PNG encoder not timed: run through `cargo xtask bench --peer PYTHON`"
        ),
    }
    if !opts.encoders_only {
        rows.extend(gallery::measure(tmp.path(), &opts)?);
    }
    for path in &opts.peer_json {
        for mut row in peer::rows(path)? {
            // The peer's grid moves the same input bytes as vis's.
            if row.stage == "peer_grid" {
                row.bytes = rows
                    .iter()
                    .find(|r| r.workload == row.workload && r.stage == "memcpy")
                    .map_or(0, |r| r.bytes);
            }
            rows.push(row);
        }
    }
    let source = match &opts.inputs {
        Some(dir) => format!("inputs from {}", dir.display()),
        None => "generated smooth inputs".to_owned(),
    };
    println!("{}", table::render(&rows, &source));
    print!("{}", table::render_encoders(&rows));
    if let Some(parent) = opts.json.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    let json = serde_json::to_string_pretty(&serde_json::json!({ "source": source, "rows": rows }))
        .map_err(|e| e.to_string())?;
    std::fs::write(&opts.json, json).map_err(|e| format!("{}: {e}", opts.json.display()))?;
    println!("wrote {}", opts.json.display());
    Ok(())
}
