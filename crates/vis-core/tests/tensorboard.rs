//! TensorBoard event files as TensorBoard reads them. The run below is read back in Rust, every
//! record's CRCs checked and every event decoded, and then by TensorBoard's own
//! `EventAccumulator` through `tensorboard_check.py`, with the Python named by
//! `VIS_TENSORBOARD_PYTHON` (`.ci/run` installs `tensorboard` into a virtual environment and sets
//! it; under `CI=true` the check is required, elsewhere it is skipped without that variable).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prost::Message;
use serde_json::json;
use vis_core::backend::tensorboard::proto::{Event, event::What, summary_value::Kind};
use vis_core::backend::tensorboard::read_records;
use vis_core::{Picture, TensorboardVisBackend, Visualizer, VisualizerConfig};
use vis_ops::{FrameSpec, GifPalette, PngSpeed, RgbFrames, RgbImage};

/// Bytes as lowercase hexadecimal.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A `w` x `h` picture with a pattern that depends on `seed`.
fn grid(w: usize, h: usize, seed: usize) -> RgbImage {
    let data = (0..w * h * 3)
        .map(|i| ((i * 7 + seed * 31) % 256) as u8)
        .collect();
    RgbImage::from_raw(w, h, data).unwrap()
}

/// What the run writes: pictures `(tag, step, format, width, height)`, scalars by tag.
struct Run {
    pictures: Vec<(&'static str, u64, &'static str, usize, usize)>,
    grids: BTreeMap<u64, RgbImage>,
    /// The animation's frames, and the APNG file vis writes of them.
    frames: RgbFrames,
    apng: Vec<u8>,
    scalars: BTreeMap<String, Vec<(u64, f64)>>,
}

/// Writes a small training run's worth of records into `dir`.
fn write_run(dir: &Path) -> Run {
    let backend = TensorboardVisBackend::new(dir);
    let mut vis = Visualizer::new(vec![Box::new(backend)], VisualizerConfig::default()).unwrap();
    vis.add_config(
        json!({"interval": 100, "vis_kwargs_list": {"type": "GAN", "name": "fake_img"}}),
    )
    .unwrap();
    let frames =
        RgbFrames::from_raw(10, 8, 4, (0..10 * 8 * 3 * 4).map(|i| i as u8).collect()).unwrap();
    let apng = Picture::Apng {
        frames: frames.clone(),
        delay: FrameSpec::default().apng_delay(),
    };
    let mut encoded = Vec::new();
    apng.encode(PngSpeed::Fast, GifPalette::PerFrame, &mut encoded)
        .unwrap();
    let mut run = Run {
        pictures: Vec::new(),
        grids: BTreeMap::new(),
        frames: frames.clone(),
        apng: encoded,
        scalars: BTreeMap::new(),
    };
    for (i, step) in [100u64, 200, 300].into_iter().enumerate() {
        let picture = grid(26, 14, i);
        run.grids.insert(step, picture.clone());
        vis.add_picture("fake_img", Picture::Image(picture), step)
            .unwrap();
        run.pictures.push(("fake_img", step, "png", 26, 14));
        let losses = BTreeMap::from([
            ("loss_gen".to_owned(), 1.5 / (i as f64 + 1.0)),
            ("loss_disc".to_owned(), 0.25 + i as f64 * 0.125),
        ]);
        for (name, value) in &losses {
            run.scalars
                .entry(name.clone())
                .or_default()
                .push((step, *value));
        }
        vis.add_scalars(losses, step, None).unwrap();
    }
    vis.add_picture(
        "ddpm_sample",
        Picture::Gif {
            frames,
            delay_cs: 10,
        },
        150,
    )
    .unwrap();
    run.pictures.push(("ddpm_sample", 150, "gif", 10, 8));
    vis.add_picture("ddpm_lossless", apng, 150).unwrap();
    run.pictures.push(("ddpm_lossless", 150, "apng", 10, 8));
    vis.add_scalar("lr", 2e-4, 300).unwrap();
    run.scalars
        .entry("lr".into())
        .or_default()
        .push((300, 2e-4));
    vis.close().unwrap();
    run
}

/// Whether PNG bytes hold an animation control chunk (`acTL`, before the first `IDAT`).
fn is_apng(data: &[u8]) -> bool {
    let mut at = 8;
    while let Some(head) = data.get(at..at + 8) {
        let len = u32::from_be_bytes(head[..4].try_into().unwrap()) as usize;
        match &head[4..] {
            b"acTL" => return true,
            b"IDAT" => return false,
            _ => at += 12 + len,
        }
    }
    false
}

/// The one event file in `dir`.
fn event_file(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("events.out.tfevents.")
        })
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

#[test]
fn every_record_checks_out_and_decodes_to_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let run = write_run(dir.path());
    let bytes = std::fs::read(event_file(dir.path())).unwrap();
    let events: Vec<Event> = read_records(&bytes)
        .unwrap()
        .into_iter()
        .map(|payload| Event::decode(payload).unwrap())
        .collect();
    assert_eq!(
        events[0].what,
        Some(What::FileVersion("brain.Event:2".into()))
    );
    let mut pictures = Vec::new();
    let mut scalars: BTreeMap<String, Vec<(u64, f64)>> = BTreeMap::new();
    let mut texts = Vec::new();
    for event in &events[1..] {
        let Some(What::Summary(summary)) = &event.what else {
            panic!("only the first event is not a summary");
        };
        let step = event.step as u64;
        for value in &summary.value {
            match value.kind.as_ref().unwrap() {
                Kind::Image(image) => {
                    let data = &image.encoded_image_string;
                    let format = if !data.starts_with(b"\x89PNG") {
                        "gif"
                    } else if is_apng(data) {
                        "apng"
                    } else {
                        "png"
                    };
                    assert_eq!(image.colorspace, 3);
                    if format == "apng" {
                        assert!(*data == run.apng, "the APNG's bytes at {step}");
                        let decoder = png::Decoder::new(std::io::Cursor::new(data));
                        let mut reader = decoder.read_info().unwrap();
                        for frame in run.frames.iter() {
                            let mut buf = vec![0; reader.output_buffer_size().unwrap()];
                            reader.next_frame(&mut buf).unwrap();
                            assert_eq!(buf, frame.as_bytes(), "APNG frame at {step}");
                        }
                    } else if format == "png" {
                        let decoder = png::Decoder::new(std::io::Cursor::new(data));
                        let mut reader = decoder.read_info().unwrap();
                        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
                        reader.next_frame(&mut buf).unwrap();
                        assert_eq!(buf, run.grids[&step].as_bytes(), "PNG pixels at {step}");
                    } else {
                        let mut decoder = gif::DecodeOptions::new().read_info(&data[..]).unwrap();
                        let mut frames = 0;
                        while decoder.read_next_frame().unwrap().is_some() {
                            frames += 1;
                        }
                        assert_eq!(frames, 4);
                    }
                    pictures.push((
                        value.tag.clone(),
                        step,
                        format,
                        image.width as usize,
                        image.height as usize,
                    ));
                }
                Kind::SimpleValue(v) => scalars
                    .entry(value.tag.clone())
                    .or_default()
                    .push((step, f64::from(*v))),
                Kind::Tensor(tensor) => {
                    let plugin = value
                        .metadata
                        .as_ref()
                        .unwrap()
                        .plugin_data
                        .as_ref()
                        .unwrap();
                    assert_eq!(plugin.plugin_name, "text");
                    texts.push((
                        value.tag.clone(),
                        String::from_utf8(tensor.string_val[0].clone()).unwrap(),
                    ));
                }
            }
        }
    }
    let want: Vec<(String, u64, &str, usize, usize)> = run
        .pictures
        .iter()
        .map(|&(tag, step, format, w, h)| (tag.to_owned(), step, format, w, h))
        .collect();
    assert_eq!(pictures, want);
    assert_eq!(
        scalars.keys().collect::<Vec<_>>(),
        run.scalars.keys().collect::<Vec<_>>()
    );
    for (tag, values) in &run.scalars {
        for ((step, got), (want_step, want)) in scalars[tag].iter().zip(values) {
            assert_eq!(step, want_step);
            assert_eq!(*got, f64::from(*want as f32), "{tag} at {step}");
        }
    }
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0].0, "config/text_summary");
    assert!(texts[0].1.contains("\"type\": \"GAN\""), "{}", texts[0].1);
}

#[test]
fn a_damaged_byte_anywhere_is_found() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    let bytes = std::fs::read(event_file(dir.path())).unwrap();
    // Every 97th byte, flipped, breaks a length, a payload or a CRC: each must be caught.
    for i in (0..bytes.len()).step_by(97) {
        let mut damaged = bytes.clone();
        damaged[i] ^= 0x10;
        assert!(
            read_records(&damaged).is_err(),
            "a flipped byte {i} went unnoticed"
        );
    }
}

#[test]
fn tensorboard_itself_reads_the_run() {
    let Some(python) = std::env::var_os("VIS_TENSORBOARD_PYTHON") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must set VIS_TENSORBOARD_PYTHON to a Python with the tensorboard package"
        );
        eprintln!("skipped: set VIS_TENSORBOARD_PYTHON to a Python with `tensorboard` installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let logdir = dir.path().join("run");
    let run = write_run(&logdir);
    let mut images: BTreeMap<&str, Vec<serde_json::Value>> = BTreeMap::new();
    for &(tag, step, format, w, h) in &run.pictures {
        images
            .entry(tag)
            .or_default()
            .push(json!([step, format, w, h]));
    }
    let scalars: BTreeMap<&String, Vec<serde_json::Value>> = run
        .scalars
        .iter()
        .map(|(tag, values)| (tag, values.iter().map(|(s, v)| json!([s, v])).collect()))
        .collect();
    let expected = json!({
        "images": images,
        "bytes": {"ddpm_lossless": {"150": hex(&run.apng)}},
        "scalars": scalars,
        "text": {"config/text_summary": ["\"interval\": 100", "\"type\": \"GAN\""]},
    });
    let expected_path = dir.path().join("expected.json");
    std::fs::write(&expected_path, expected.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tensorboard_check.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&logdir)
        .arg(&expected_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "EventAccumulator disagrees:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim());
}
