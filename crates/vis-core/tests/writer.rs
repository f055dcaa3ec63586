//! The visualizer's backends and background writer: files where MMagic puts them, failures
//! reported with what failed and no partial file left, back-pressure without loss, flush on drop.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{FakeEngine, Recorded, Recorder};
use serde_json::json;
use vis_core::vis_ops::{FrameSpec, GifPalette, PngSpeed, RgbImage, fs::write_atomic};
use vis_core::{
    Error, HookConfig, LocalVisBackend, Picture, Result, VisBackend, VisualizationHook, Visualizer,
    VisualizerConfig,
};

/// Every file below `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn png_size(path: &Path) -> (u32, u32) {
    let d = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let info = d.read_info().unwrap();
    (info.info().width, info.info().height)
}

fn picture(w: usize, h: usize) -> Picture {
    Picture::Image(RgbImage::from_raw(w, h, vec![7; w * h * 3]).unwrap())
}

#[test]
fn pictures_land_where_mmagic_puts_them() {
    let dir = tempfile::tempdir().unwrap();
    let vis = Visualizer::local(dir.path()).unwrap();
    let cfg = HookConfig::from_json(
        &json!({"interval": 1, "vis_kwargs_list": [{"type": "GAN", "name": "fake_img", "n_samples": 9},
                                                    {"type": "DDPMDenoising", "n_samples": 4}]})
        .to_string(),
    )
    .unwrap();
    let mut hook: VisualizationHook<FakeEngine> = VisualizationHook::new(cfg, vis).unwrap();
    let mut engine = FakeEngine::new(4);
    hook.after_train_iter(&mut engine, 0).unwrap();
    hook.after_train_iter(&mut engine, 1).unwrap();
    hook.close().unwrap();
    assert_eq!(
        files(dir.path()),
        vec![
            "vis_data/.vis-run.lock",
            "vis_data/gallery-data.js",
            "vis_data/index.html",
            "vis_data/vis_image/ddpm_sample_1.gif",
            "vis_data/vis_image/ddpm_sample_2.gif",
            "vis_data/vis_image/fake_img_1.png",
            "vis_data/vis_image/fake_img_2.png"
        ]
    );
    assert_eq!(
        png_size(&dir.path().join("vis_data/vis_image/fake_img_2.png")),
        (20, 20)
    );
    let gif = gif::DecodeOptions::new()
        .read_info(
            std::fs::File::open(dir.path().join("vis_data/vis_image/ddpm_sample_1.gif")).unwrap(),
        )
        .unwrap();
    assert_eq!((gif.width(), gif.height()), (26, 8));
}

/// Each frame's delay (numerator, denominator) and RGB bytes.
type Frames = Vec<((u16, u16), Vec<u8>)>;

/// An APNG file's play count and frames.
fn read_apng(path: &Path) -> (u32, Frames) {
    let d = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = d.read_info().unwrap();
    let actl = *reader
        .info()
        .animation_control()
        .expect("an acTL chunk: an APNG");
    let mut frames = Vec::new();
    for _ in 0..actl.num_frames {
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        let fctl = reader.info().frame_control().unwrap();
        frames.push(((fctl.delay_num, fctl.delay_den), buf));
    }
    (actl.num_plays, frames)
}

#[test]
fn apng_mode_writes_every_frame_losslessly_as_png() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Recorded::default();
    let vis = Visualizer::new(
        vec![
            Box::new(LocalVisBackend::new(dir.path())),
            Box::new(Recorder(Arc::clone(&seen))),
        ],
        VisualizerConfig::default(),
    )
    .unwrap();
    // The DDPM alias with MMagic's gif, and the same in apng at 24 fps.
    let cfg = HookConfig::from_json(
        &json!({"interval": 1, "vis_kwargs_list": [
            {"type": "DDPMDenoising", "n_samples": 4},
            {"type": "DDPMDenoising", "name": "lossless", "n_samples": 4, "vis_mode": "apng", "fps": 24}]})
        .to_string(),
    )
    .unwrap();
    let mut hook: VisualizationHook<FakeEngine> = VisualizationHook::new(cfg, vis).unwrap();
    let mut engine = FakeEngine::new(4);
    hook.after_train_iter(&mut engine, 0).unwrap();
    hook.close().unwrap();
    let image_dir = dir.path().join("vis_image");
    assert!(image_dir.join("ddpm_sample_1.gif").is_file());
    let pictures = seen.lock().unwrap().clone();
    let (
        Picture::Gif {
            frames: gif_frames, ..
        },
        Picture::Apng { frames, delay },
    ) = (&pictures[0].2, &pictures[1].2)
    else {
        panic!("a GIF and an APNG were expected: {pictures:?}");
    };
    // The same grid pass: the same frames (250 steps, n_skip 100: 4 frames).
    assert_eq!(frames, gif_frames);
    assert_eq!(frames.len(), 4);
    assert_eq!((delay.numerator, delay.denominator), (1, 24));
    let (plays, decoded) = read_apng(&image_dir.join("lossless_1.png"));
    assert_eq!(plays, 0, "loops forever");
    assert_eq!(decoded.len(), 4);
    for (i, (d, px)) in decoded.iter().enumerate() {
        assert_eq!(*d, (1, 24), "frame {i}");
        assert!(
            px.as_slice() == frames.frame(i).unwrap().as_bytes(),
            "frame {i} differs"
        );
    }
}

#[test]
fn an_unwritable_folder_is_reported_with_the_picture_and_the_path() {
    let dir = tempfile::tempdir().unwrap();
    // A file where a folder should be: the folder cannot be created, even by root. A save
    // folder that cannot be made fails at once; the picture folder fails with the picture.
    let blocked = dir.path().join("blocked");
    std::fs::write(&blocked, b"not a folder").unwrap();
    let err = Visualizer::local(&blocked).unwrap_err().to_string();
    assert!(err.contains("blocked is a file, not a folder"), "{err}");
    std::fs::remove_file(&blocked).unwrap();
    std::fs::create_dir_all(blocked.join("vis_data")).unwrap();
    std::fs::write(blocked.join("vis_data/vis_image"), b"not a folder").unwrap();
    let mut vis = Visualizer::local(&blocked).unwrap();
    vis.add_picture("fake_img", picture(4, 4), 1000).unwrap();
    let err = vis.flush().unwrap_err();
    let Error::Write(failures) = &err else {
        panic!("a write error was expected, got {err}");
    };
    assert_eq!(failures.len(), 1);
    let text = err.to_string();
    assert!(text.contains("picture 'fake_img' at step 1000"), "{text}");
    assert!(
        text.contains("creating the folder") && text.contains("blocked/vis_data/vis_image"),
        "{text}"
    );
    assert_eq!(
        files(dir.path()),
        vec![
            "blocked/vis_data/.vis-run.lock",
            // The gallery lists the picture; its page shows that the file is missing.
            "blocked/vis_data/gallery-data.js",
            "blocked/vis_data/index.html",
            "blocked/vis_data/vis_image"
        ]
    );
    // Reported once: the next flush is clean.
    vis.flush().unwrap();
    vis.close().unwrap();
}

/// A writer that fails once `left` bytes are written, like a disk filling up.
struct Filling<W> {
    inner: W,
    left: usize,
}

impl<W: Write> Write for Filling<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() > self.left {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left on device",
            ));
        }
        self.left -= buf.len();
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A local-like backend whose disk holds only `budget` bytes per file.
struct SmallDisk {
    dir: PathBuf,
    budget: usize,
}

impl VisBackend for SmallDisk {
    fn name(&self) -> &str {
        "SmallDisk"
    }

    fn add_image(&mut self, name: &str, picture: &Picture, step: u64) -> Result<()> {
        let path = self
            .dir
            .join(format!("{name}_{step}.{}", picture.extension()));
        let budget = self.budget;
        write_atomic(&path, |w| {
            let disk = Filling {
                inner: w,
                left: budget,
            };
            picture.encode(PngSpeed::Fast, GifPalette::PerFrame, disk)
        })?;
        Ok(())
    }
}

#[test]
fn a_disk_that_fills_up_leaves_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let backend = SmallDisk {
        dir: dir.path().to_path_buf(),
        budget: 100,
    };
    let mut vis = Visualizer::new(vec![Box::new(backend)], VisualizerConfig::default()).unwrap();
    let noisy: Vec<u8> = (0..64 * 64 * 3).map(|i| (i * 7919 % 251) as u8).collect();
    vis.add_picture(
        "fake_img",
        Picture::Image(RgbImage::from_raw(64, 64, noisy).unwrap()),
        5,
    )
    .unwrap();
    // A small picture fits. The large one's failure comes back from this call or from
    // `close`, whichever runs after the writer has failed it.
    let queued = vis.add_picture("tiny", picture(1, 1), 5);
    let closed = vis.close();
    let err = queued.and(closed).unwrap_err().to_string();
    assert!(
        err.contains("SmallDisk could not write picture 'fake_img' at step 5"),
        "{err}"
    );
    assert!(err.contains("no space left on device"), "{err}");
    assert_eq!(
        files(dir.path()),
        vec!["tiny_5.png"],
        "no partial or temporary file"
    );
}

/// A backend that takes `delay` per picture.
struct Slow {
    delay: Duration,
    seen: Recorded,
}

impl VisBackend for Slow {
    fn name(&self) -> &str {
        "Slow"
    }

    fn add_image(&mut self, name: &str, picture: &Picture, step: u64) -> Result<()> {
        std::thread::sleep(self.delay);
        self.seen
            .lock()
            .unwrap()
            .push((name.to_owned(), step, picture.clone()));
        Ok(())
    }
}

#[test]
fn a_slow_backend_applies_back_pressure_without_losing_a_picture() {
    let seen = Recorded::default();
    let delay = Duration::from_millis(40);
    let config = VisualizerConfig {
        queue_capacity: 2,
        ..VisualizerConfig::default()
    };
    let mut vis = Visualizer::new(
        vec![Box::new(Slow {
            delay,
            seen: Arc::clone(&seen),
        })],
        config,
    )
    .unwrap();
    let start = Instant::now();
    for step in 0..8 {
        vis.add_picture("p", picture(2, 2), step).unwrap();
    }
    let submitting = start.elapsed();
    // 8 pictures, 2 waiting and 1 being written at most: the caller waited for at least 5.
    assert!(
        submitting >= delay * 4,
        "submitting took only {submitting:?}"
    );
    vis.flush().unwrap();
    let steps: Vec<u64> = seen.lock().unwrap().iter().map(|p| p.1).collect();
    assert_eq!(steps, (0..8).collect::<Vec<_>>());
}

/// A backend failing on its first picture only.
struct FailsOnce {
    failed: bool,
}

impl VisBackend for FailsOnce {
    fn name(&self) -> &str {
        "FailsOnce"
    }

    fn add_image(&mut self, name: &str, _: &Picture, _: u64) -> Result<()> {
        if self.failed {
            return Ok(());
        }
        self.failed = true;
        Err(Error::Sample(format!("{name}: disk on fire")))
    }
}

#[test]
fn a_failure_is_returned_at_the_next_call() {
    let mut vis = Visualizer::new(
        vec![Box::new(FailsOnce { failed: false })],
        VisualizerConfig::default(),
    )
    .unwrap();
    vis.add_picture("first", picture(1, 1), 1).unwrap();
    // Give the writer time to fail on the first picture.
    std::thread::sleep(Duration::from_millis(200));
    let err = vis
        .add_picture("second", picture(1, 1), 2)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("FailsOnce could not write picture 'first' at step 1: first: disk on fire"),
        "{err}"
    );
    vis.add_picture("third", picture(1, 1), 3).unwrap();
    vis.close().unwrap();
}

/// A backend that panics.
struct Panics;

impl VisBackend for Panics {
    fn name(&self) -> &str {
        "Panics"
    }

    fn add_image(&mut self, _: &str, _: &Picture, _: u64) -> Result<()> {
        panic!("backend bug");
    }
}

#[test]
fn a_panicking_backend_is_an_error_and_the_others_still_write() {
    let seen = Recorded::default();
    let mut vis = Visualizer::new(
        vec![Box::new(Panics), Box::new(Recorder(Arc::clone(&seen)))],
        VisualizerConfig::default(),
    )
    .unwrap();
    vis.add_picture("p", picture(1, 1), 1).unwrap();
    let err = vis.flush().unwrap_err().to_string();
    assert!(err.contains("the backend panicked: backend bug"), "{err}");
    assert_eq!(seen.lock().unwrap().len(), 1);
    // The failure comes back from this call or from `close`, whichever runs after the writer.
    let queued = vis.add_picture("p", picture(1, 1), 2);
    let closed = vis.close();
    let err = queued.and(closed).unwrap_err().to_string();
    assert!(err.contains("picture 'p' at step 2"), "{err}");
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[test]
fn dropping_the_visualizer_writes_everything_queued() {
    let seen = Recorded::default();
    {
        let mut vis = Visualizer::new(
            vec![Box::new(Slow {
                delay: Duration::from_millis(10),
                seen: Arc::clone(&seen),
            })],
            VisualizerConfig::default(),
        )
        .unwrap();
        for step in 0..5 {
            vis.add_picture("p", picture(1, 1), step).unwrap();
        }
    }
    assert_eq!(seen.lock().unwrap().len(), 5);
}

#[test]
fn the_hook_blocks_only_for_sampling_and_drawing() {
    // A backend that takes 300 ms: the hook's call returns long before it is done.
    let seen = Recorded::default();
    let vis = Visualizer::new(
        vec![Box::new(Slow {
            delay: Duration::from_millis(300),
            seen: Arc::clone(&seen),
        })],
        VisualizerConfig::default(),
    )
    .unwrap();
    let cfg = HookConfig::from_json(
        &json!({"interval": 1, "vis_kwargs_list": {"type": "GAN", "n_samples": 4}}).to_string(),
    )
    .unwrap();
    let mut hook: VisualizationHook<FakeEngine> = VisualizationHook::new(cfg, vis).unwrap();
    let mut engine = FakeEngine::new(4);
    hook.after_train_iter(&mut engine, 0).unwrap();
    assert!(
        seen.lock().unwrap().is_empty(),
        "the picture is still being written"
    );
    hook.flush().unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn a_removed_folder_is_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("vis_data");
    let backend = LocalVisBackend::new(&save);
    let mut vis = Visualizer::new(vec![Box::new(backend)], VisualizerConfig::default()).unwrap();
    vis.add_picture("a", picture(2, 2), 1).unwrap();
    vis.flush().unwrap();
    std::fs::remove_dir_all(&save).unwrap();
    vis.add_picture("a", picture(2, 2), 2).unwrap();
    vis.close().unwrap();
    assert_eq!(files(&save), vec!["vis_image/a_2.png"]);
}

#[test]
fn scalars_and_the_config_land_where_mmengine_puts_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut vis = Visualizer::local(dir.path()).unwrap();
    vis.add_scalar("lr", 0.0002, 10).unwrap();
    let losses = std::collections::BTreeMap::from([
        ("loss_gen".to_owned(), 1.0),
        ("loss_disc".to_owned(), f64::NAN),
    ]);
    vis.add_scalars(losses.clone(), 20, Some("losses.json"))
        .unwrap();
    // A scalar dict with its own step keeps it (mmengine's `setdefault`).
    let own_step =
        std::collections::BTreeMap::from([("step".to_owned(), 7.0), ("x".to_owned(), -1.5)]);
    vis.add_scalars(own_step, 30, None).unwrap();
    vis.add_config(serde_json::json!({"interval": 10})).unwrap();
    vis.flush().unwrap();
    let scalars =
        std::fs::read_to_string(vis_core::vis_data_dir(dir.path()).join("scalars.json")).unwrap();
    assert_eq!(
        scalars,
        "{\"lr\": 0.0002, \"step\": 10}\n\
         {\"loss_disc\": NaN, \"loss_gen\": 1.0, \"step\": 20}\n\
         {\"step\": 7, \"x\": -1.5}\n"
    );
    assert_eq!(
        std::fs::read_to_string(vis_core::vis_data_dir(dir.path()).join("losses.json")).unwrap(),
        "{\"loss_disc\": NaN, \"loss_gen\": 1.0, \"step\": 20}\n"
    );
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(vis_core::vis_data_dir(dir.path()).join("config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config, serde_json::json!({"interval": 10}));

    // mmengine asserts on these; vis refuses them at the call, before anything is queued.
    for (file, message) in [
        (
            "scalars.json",
            "'scalars.json' must be a .json file other than scalars.json",
        ),
        ("losses.txt", "'losses.txt' must be a .json file"),
        (
            "../losses.json",
            "'../losses.json' cannot be used in a file name",
        ),
    ] {
        let err = vis
            .add_scalars(losses.clone(), 40, Some(file))
            .unwrap_err()
            .to_string();
        assert!(err.contains(message), "{err}");
    }
    vis.close().unwrap();

    // Failures reported together are counted and listed in one message: two backends whose
    // scalars.json are folders.
    std::fs::create_dir_all(dir.path().join("a/scalars.json")).unwrap();
    std::fs::create_dir_all(dir.path().join("b/scalars.json")).unwrap();
    let mut vis = Visualizer::new(
        vec![
            Box::new(LocalVisBackend::new(dir.path().join("a"))),
            Box::new(LocalVisBackend::new(dir.path().join("b"))),
        ],
        VisualizerConfig::default(),
    )
    .unwrap();
    let losses = std::collections::BTreeMap::from([("loss".to_owned(), 1.0)]);
    vis.add_scalars(losses, 50, None).unwrap();
    let err = vis.close().unwrap_err().to_string();
    assert!(err.starts_with("2 writes failed: "), "{err}");
    assert_eq!(
        err.matches("scalars.json: Is a directory").count(),
        2,
        "{err}"
    );
}

#[test]
fn a_disk_full_after_any_number_of_bytes_loses_only_that_picture() {
    let noisy: Vec<u8> = (0..48 * 40 * 3).map(|i| (i * 7919 % 251) as u8).collect();
    let image = RgbImage::from_raw(48, 40, noisy.clone()).unwrap();
    let frames = vis_ops::RgbFrames::from_raw(16, 10, 12, noisy).unwrap();
    let pictures = [
        Picture::Image(image.clone()),
        Picture::Gif {
            frames: frames.clone(),
            delay_cs: 5,
        },
        Picture::Apng {
            frames,
            delay: FrameSpec::default().apng_delay(),
        },
    ];
    for picture in pictures {
        let mut whole = Vec::new();
        picture
            .encode(PngSpeed::Fast, GifPalette::PerFrame, &mut whole)
            .unwrap();
        // The disk fills up after K bytes, for K from 0 to one short of the whole file.
        let step = (whole.len() / 40).max(1);
        for budget in (0..whole.len()).step_by(step).chain([whole.len() - 1]) {
            let dir = tempfile::tempdir().unwrap();
            let backend = SmallDisk {
                dir: dir.path().to_path_buf(),
                budget,
            };
            let mut vis =
                Visualizer::new(vec![Box::new(backend)], VisualizerConfig::default()).unwrap();
            vis.add_picture("p", picture.clone(), 1).unwrap();
            let err = vis.flush().unwrap_err().to_string();
            assert!(err.contains("no space left on device"), "K={budget}: {err}");
            vis.close().unwrap();
            assert!(files(dir.path()).is_empty(), "K={budget}: a partial file");
        }
        let dir = tempfile::tempdir().unwrap();
        let backend = SmallDisk {
            dir: dir.path().to_path_buf(),
            budget: whole.len(),
        };
        let mut vis =
            Visualizer::new(vec![Box::new(backend)], VisualizerConfig::default()).unwrap();
        vis.add_picture("p", picture.clone(), 1).unwrap();
        vis.close().unwrap();
        let name = format!("p_1.{}", picture.extension());
        assert_eq!(
            std::fs::read(dir.path().join(name)).unwrap(),
            whole,
            "exactly enough room"
        );
    }
}
