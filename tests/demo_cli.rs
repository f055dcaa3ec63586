//! `vis demo` as its users meet it: a short run through the binary writes the grids and
//! reports where they are; a wrong model name is a usage error.

use std::process::Command;

fn vis(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vis"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_short_gan_demo_writes_grids_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let out = vis(&[
        "demo",
        "--iters",
        "2",
        "--interval",
        "1",
        "--threads",
        "2",
        "--work-dir",
        work.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [1, 2] {
        assert!(
            work.join(format!("vis_data/vis_image/fake_img_{step}.png"))
                .is_file()
        );
    }
    assert!(work.join("gan.safetensors").is_file());
    // Both backends: the losses (logged at the last iteration), the quality figures before
    // training, at every visualization and after, the config, and the grids in a TensorBoard
    // event file.
    let scalars = std::fs::read_to_string(work.join("vis_data/scalars.json")).unwrap();
    let lines: Vec<&str> = scalars.lines().collect();
    assert_eq!(lines.len(), 4, "{scalars}");
    for (line, step) in [(0, 0), (1, 1), (3, 2)] {
        let figures: serde_json::Value = serde_json::from_str(lines[line]).unwrap();
        let keys: Vec<&str> = figures
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "quality/colour_coverage",
                "quality/confident_shapes",
                "quality/kind_coverage",
                "quality/pixel_statistics_distance",
                "step"
            ],
            "{scalars}"
        );
        assert_eq!(figures["step"], step, "{scalars}");
    }
    assert!(
        lines[2].contains("\"loss/loss_gen\": ") && lines[2].ends_with("\"step\": 2}"),
        "{scalars}"
    );
    let config = std::fs::read_to_string(work.join("vis_data/config.json")).unwrap();
    assert!(config.contains("\"type\": \"GAN\""), "{config}");
    let events: Vec<_> = std::fs::read_dir(work.join("vis_data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("events.out.tfevents."))
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(stdout.contains("tensorboard --logdir"), "{stdout}");
    assert!(stdout.contains("trained 2 iterations"), "{stdout}");
    assert!(stdout.contains("pixel statistics distance"), "{stdout}");
    assert!(
        stdout.contains("confident shapes: 0.00 before training"),
        "{stdout}"
    );
    assert!(stdout.contains("2 visualizations"), "{stdout}");
    assert!(
        stdout.contains(work.join("vis_data/vis_image").to_str().unwrap()),
        "{stdout}"
    );
}

#[test]
fn an_unknown_model_is_a_usage_error() {
    let out = vis(&["demo", "vae"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("gan") && stderr.contains("translation") && stderr.contains("ddpm"),
        "{stderr}"
    );
}

/// `vis demo` for 2 iterations, visualizing every one, with stderr sent to a real file, as under
/// `nohup` or CI.
fn demo_to_files(
    dir: &std::path::Path,
    work: &std::path::Path,
    env: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    demo_to_files_with(dir, work, env, &["--iters", "2", "--interval", "1"])
}

/// `vis demo` with `args`, stderr sent to a real file.
fn demo_to_files_with(
    dir: &std::path::Path,
    work: &std::path::Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> (Option<i32>, String, String) {
    let stdout = dir.join("stdout.txt");
    let stderr = dir.join("stderr.txt");
    let status = Command::new(env!("CARGO_BIN_EXE_vis"))
        .arg("demo")
        .args(args)
        .arg("--work-dir")
        .arg(work)
        .envs(env.iter().copied())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .status()
        .unwrap();
    (
        status.code(),
        std::fs::read_to_string(stdout).unwrap(),
        std::fs::read_to_string(stderr).unwrap(),
    )
}

#[test]
fn warnings_reach_a_stderr_that_is_a_file_and_a_run_that_lost_every_picture_fails() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    std::fs::create_dir_all(work.join("vis_data")).unwrap();
    // A file where the picture folder should be: every picture fails.
    std::fs::write(work.join("vis_data/vis_image"), "in the way").unwrap();
    let (code, stdout, stderr) = demo_to_files(dir.path(), &work, &[]);
    // Each failure names its own picture and step and the file, one line each.
    for step in [1, 2] {
        assert!(
            stderr.contains(&format!(
                "warning: LocalVisBackend could not write picture 'fake_img' at step {step}: creating the folder {}",
                work.join("vis_data/vis_image").display()
            )),
            "{stderr}"
        );
    }
    assert!(
        stderr.contains("picture 'test_fake_img' at step 99"),
        "{stderr}"
    );
    assert!(!stderr.contains("visualization at iteration"), "{stderr}");
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("error: no picture was written")),
        "{stderr}"
    );
    assert!(
        stdout.contains("0 written") && stdout.contains("102 lost"),
        "{stdout}"
    );
}

#[test]
fn an_interval_longer_than_the_run_or_no_training_is_a_warning_on_a_stderr_file() {
    let dir = tempfile::tempdir().unwrap();
    // The DDPM's default interval (300) against a run shortened to 2 iterations.
    let (code, stdout, stderr) = demo_to_files_with(
        dir.path(),
        &dir.path().join("short"),
        &[],
        &["ddpm", "--iters", "2"],
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "warning: visualizing every 300 iterations in a run of 2 draws no training picture, \
             only the test pictures at the end; pass --interval 2 or less, or --iters 300 or more"
        ),
        "{stderr}"
    );
    let (code, stdout, stderr) =
        demo_to_files_with(dir.path(), &dir.path().join("none"), &[], &["--iters", "0"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "warning: --iters 0 trains nothing: the pictures and figures show the untrained model"
        ),
        "{stderr}"
    );
    // A run that visualizes warns of neither.
    let (_, _, stderr) = demo_to_files(dir.path(), &dir.path().join("fine"), &[]);
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn a_process_of_another_rank_writes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let (code, stdout, stderr) = demo_to_files(dir.path(), &work, &[("RANK", "1")]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(!work.exists(), "rank 1 created {}", work.display());
    assert!(stdout.contains("not rank 0: it wrote no file"), "{stdout}");
    assert!(
        !stdout.contains("pictures:") && !stdout.contains("weights:"),
        "{stdout}"
    );
}

#[test]
fn the_gan_demo_draws_both_generators_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let out = vis(&[
        "demo",
        "--iters",
        "2",
        "--interval",
        "2",
        "--sample-model",
        "ema/orig",
        "--work-dir",
        work.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 64 samples of the moving average above 64 of the generator, 8 per row: 274 x 546.
    let file = std::fs::File::open(work.join("vis_data/vis_image/fake_img_2.png")).unwrap();
    let info = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap()
        .info()
        .clone();
    assert_eq!((info.width, info.height), (274, 546));
    let wrong = vis(&["demo", "translation", "--sample-model", "ema"]);
    assert_eq!(wrong.status.code(), Some(2));
}
