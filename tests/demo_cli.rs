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
            work.join(format!("vis_image/fake_img_{step}.png"))
                .is_file()
        );
    }
    assert!(work.join("gan.safetensors").is_file());
    // Both backends: the losses (logged at the last iteration), the quality figure before and
    // after, the config, and the grids in a TensorBoard event file.
    let scalars = std::fs::read_to_string(work.join("scalars.json")).unwrap();
    let lines: Vec<&str> = scalars.lines().collect();
    assert_eq!(lines.len(), 3, "{scalars}");
    assert!(
        lines[0].starts_with("{\"quality/pixel_statistics_distance\": "),
        "{scalars}"
    );
    assert!(
        lines[1].contains("\"loss/loss_gen\": ") && lines[1].ends_with("\"step\": 2}"),
        "{scalars}"
    );
    assert!(lines[2].ends_with("\"step\": 2}"), "{scalars}");
    let config = std::fs::read_to_string(work.join("config.json")).unwrap();
    assert!(config.contains("\"type\": \"GAN\""), "{config}");
    let events: Vec<_> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("events.out.tfevents."))
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(stdout.contains("tensorboard --logdir"), "{stdout}");
    assert!(stdout.contains("trained 2 iterations"), "{stdout}");
    assert!(stdout.contains("pixel statistics distance"), "{stdout}");
    assert!(stdout.contains("2 visualizations"), "{stdout}");
    assert!(
        stdout.contains(work.join("vis_image").to_str().unwrap()),
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
