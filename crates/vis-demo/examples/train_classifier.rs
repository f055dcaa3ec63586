//! Trains the shape classifier behind the demo's quality figures and writes its weights to the
//! path given (`cargo xtask train-classifier` writes `crates/vis-demo/assets/`), printing its
//! accuracy on held-out shapes.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::Device;
use vis_demo::datasets::Shapes;
use vis_demo::quality::{STEPS, ShapeClassifier, TRAIN_EXAMPLES};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .ok_or("usage: train_classifier OUT.safetensors")?
        .into();
    let device = Device::Cpu;
    let start = Instant::now();
    let (classifier, vars) = ShapeClassifier::train(&Shapes::new(20_000, 0), 0, &device)?;
    println!(
        "trained on {TRAIN_EXAMPLES} shapes of seed 0 for {STEPS} steps in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let held_out = Shapes::new(2048, 99);
    let indices: Vec<usize> = (0..2048).collect();
    let (kind, colour) = classifier.accuracy(&held_out, &indices, &device)?;
    println!("held-out shapes (seed 99): kind {kind:.4}, colour {colour:.4} right");
    vars.save(&out)?;
    println!("wrote {}", out.display());
    Ok(())
}
