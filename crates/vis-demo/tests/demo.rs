//! Short demo runs: the files, names and sizes they write, fixed inputs that survive a resume,
//! and a learning figure that improves.

use std::path::Path;

use vis_demo::{DemoKind, DemoOptions};

fn png_size(path: &Path) -> (u32, u32) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let info = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap()
        .info()
        .clone();
    (info.width, info.height)
}

fn options(kind: DemoKind, dir: &Path, iters: usize, interval: u64) -> DemoOptions {
    DemoOptions {
        iters,
        interval,
        work_dir: dir.to_owned(),
        ..DemoOptions::new(kind)
    }
}

#[test]
fn a_short_gan_run_writes_mmagic_named_grids_test_pictures_and_weights() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = 0;
    let report = vis_demo::run(&options(DemoKind::Gan, dir.path(), 4, 2), &mut |p| {
        seen = p.iter;
        assert!(p.losses.iter().all(|(_, v)| v.is_finite()));
    })
    .unwrap();
    assert_eq!(seen, 4);
    let images = dir.path().join("vis_data/vis_image");
    // 64 samples of 32x32, 8 per row, padding 2: 274x274, at steps 2 and 4.
    for step in [2, 4] {
        assert_eq!(
            png_size(&images.join(format!("fake_img_{step}.png"))),
            (274, 274)
        );
    }
    assert!(!images.join("fake_img_1.png").exists());
    assert!(!images.join("fake_img_3.png").exists());
    // The test pass: up to max_save_at_test (100) single images, unpadded (torchvision's
    // make_grid returns a lone image as it is).
    assert_eq!(report.test_pictures, 100);
    // Two grids and the test pictures, every one written.
    assert_eq!(report.pictures_written, 102);
    assert_eq!(report.pictures_lost, 0);
    assert_eq!(png_size(&images.join("test_fake_img_0.png")), (32, 32));
    assert!(images.join("test_fake_img_99.png").is_file());
    assert!(!images.join("test_fake_img_100.png").exists());
    assert!(dir.path().join("vis_inputs/Noise.safetensors").is_file());
    assert!(report.weights.as_ref().is_some_and(|w| w.is_file()));
    assert_eq!(report.hook.visualizations, 2);
    assert!(report.hook.sampling <= report.hook.blocking);
    // Nothing half-written is left behind.
    for entry in std::fs::read_dir(&images).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(name.ends_with(".png"), "{name}");
    }
}

#[test]
fn a_resumed_gan_run_draws_the_same_fixed_noise() {
    let dir = tempfile::tempdir().unwrap();
    vis_demo::run(&options(DemoKind::Gan, dir.path(), 1, 1), &mut |_| {}).unwrap();
    let first = std::fs::read(dir.path().join("vis_data/vis_image/fake_img_1.png")).unwrap();
    let noise = std::fs::read(dir.path().join("vis_inputs/Noise.safetensors")).unwrap();
    // The same run again over the same folder, with another seed for everything else: the
    // model starts from other weights, but draws from the noise the first run saved.
    let mut again = options(DemoKind::Gan, dir.path(), 1, 1);
    again.seed = 1;
    vis_demo::run(&again, &mut |_| {}).unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("vis_inputs/Noise.safetensors")).unwrap(),
        noise
    );
    // Same seed, same folder: the grid is identical byte for byte.
    vis_demo::run(&options(DemoKind::Gan, dir.path(), 1, 1), &mut |_| {}).unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("vis_data/vis_image/fake_img_1.png")).unwrap(),
        first
    );
}

#[test]
fn a_short_translation_run_draws_train_and_val_grids_and_learns() {
    let dir = tempfile::tempdir().unwrap();
    let report = vis_demo::run(
        &options(DemoKind::Translation, dir.path(), 60, 60),
        &mut |_| {},
    )
    .unwrap();
    let images = dir.path().join("vis_data/vis_image");
    // Three keys (outline, generated, ground truth) per sample, 64x64 images.
    assert!(images.join("translation_train_60.png").is_file());
    assert!(images.join("translation_val_60.png").is_file());
    assert!(images.join("test_fake_shape_0.png").is_file());
    let [l1] = report.quality.as_slice() else {
        panic!("one figure: {:?}", report.quality);
    };
    assert_eq!((l1.name, l1.higher_is_better), ("validation L1", false));
    assert!(
        l1.last < l1.first * 0.8,
        "validation L1 {} -> {}",
        l1.first,
        l1.last
    );
}

#[test]
fn a_short_ddpm_run_writes_a_gif() {
    let dir = tempfile::tempdir().unwrap();
    vis_demo::run(&options(DemoKind::Ddpm, dir.path(), 2, 2), &mut |_| {}).unwrap();
    let gif = dir.path().join("vis_data/vis_image/ddpm_sample_2.gif");
    let mut decoder = gif::DecodeOptions::new()
        .read_info(std::fs::File::open(&gif).unwrap())
        .unwrap();
    let mut frames = 0;
    while decoder.read_next_frame().unwrap().is_some() {
        frames += 1;
    }
    assert!(frames >= 2, "{frames} frames");
}
