//! Faults of the storage under a running hook: the output folder made read-only in the middle of
//! a run, and a real disk that fills up. Training goes on, every failed picture is reported with
//! its name and step, no partial or temporary file is left, and pictures arrive again once the
//! storage recovers.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::FakeEngine;
use vis_core::{Error, HookConfig, Picture, VisualizationHook, Visualizer};
use vis_ops::RgbImage;

/// Every file under `dir`, relative and sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// Whether a file can be created in `dir` right now.
fn writable(dir: &Path) -> bool {
    let probe = dir.join(".probe");
    let ok = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

/// `dir` made read-only; writable again when dropped.
struct ReadOnly {
    dir: PathBuf,
    immutable: bool,
}

impl ReadOnly {
    /// Takes write permission away; root ignores permissions, so then the folder is also made
    /// immutable (`chattr +i`, which binds root too). Fails the test if neither works.
    fn new(dir: &Path) -> Self {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        let mut guard = Self {
            dir: dir.to_path_buf(),
            immutable: false,
        };
        if writable(dir) {
            let status = Command::new("chattr").arg("+i").arg(dir).status();
            guard.immutable = status.is_ok_and(|s| s.success());
            assert!(
                guard.immutable && !writable(dir),
                "cannot make {} read-only: running as root without chattr (CAP_LINUX_IMMUTABLE)",
                dir.display()
            );
        }
        guard
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if self.immutable {
            let _ = Command::new("chattr").arg("-i").arg(&self.dir).status();
        }
        let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o755));
    }
}

fn gan_hook(save_dir: &Path) -> VisualizationHook<FakeEngine> {
    let config = HookConfig::from_json(
        r#"{"interval": 1, "n_samples": 4, "vis_kwargs_list": {"type": "GAN", "name": "fake_img"}}"#,
    )
    .unwrap();
    VisualizationHook::new(config, Visualizer::local(save_dir).unwrap()).unwrap()
}

#[test]
fn a_folder_made_read_only_mid_run_is_reported_and_the_run_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mut hook = gan_hook(dir.path());
    let mut engine = FakeEngine::new(4);
    let images = vis_core::vis_data_dir(dir.path()).join("vis_image");
    for batch_idx in 0..2 {
        hook.after_train_iter(&mut engine, batch_idx).unwrap();
    }
    hook.flush().unwrap();

    let read_only = ReadOnly::new(&images);
    // Training goes on: the hook queues and returns; failures come back at a later call.
    let mut reported = Vec::new();
    for batch_idx in 2..4 {
        if let Err(e) = hook.after_train_iter(&mut engine, batch_idx) {
            reported.push(e.to_string());
        }
    }
    match hook.flush() {
        Err(e @ Error::Write(_)) => reported.push(e.to_string()),
        other => panic!("a write error was expected, got {other:?}"),
    }
    let text = reported.join("\n");
    for step in [3, 4] {
        assert!(
            text.contains(&format!("picture 'fake_img' at step {step}")),
            "{text}"
        );
    }
    assert!(text.contains("vis_image"), "the folder is named: {text}");
    assert!(engine.train, "the model is back in training mode");
    drop(read_only);

    hook.after_train_iter(&mut engine, 4).unwrap();
    hook.close().unwrap();
    assert_eq!(
        files(&images),
        vec!["fake_img_1.png", "fake_img_2.png", "fake_img_5.png"],
        "no partial or temporary file"
    );
}

/// A tmpfs of `size` mounted on `dir`; unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    /// Mounts it, or says why not (mounting needs root with CAP_SYS_ADMIN).
    fn mount(dir: &Path, size: &str) -> Result<Self, String> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(Self(dir.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl SmallDisk {
    /// Remounts it read-only, or writable again.
    fn set_read_only(&self, read_only: bool) {
        let mode = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        let status = Command::new("mount")
            .args(["-o", mode])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "mount -o {mode}");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A 160x160 picture of noise (a PNG of about 75 KB).
fn noise(seed: u64) -> Picture {
    let mut state = seed | 1;
    let bytes = (0..160 * 160 * 3)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    Picture::Image(RgbImage::from_raw(160, 160, bytes).unwrap())
}

/// A real full disk (the injected one, a writer failing after K bytes, is in `writer.rs`).
#[test]
fn a_real_disk_that_fills_up_loses_only_what_did_not_fit_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let disk = match SmallDisk::mount(dir.path(), "400k") {
        Ok(disk) => disk,
        Err(why) => {
            // Covered without privileges by `writer.rs`'s injected full disk.
            eprintln!("skipped: cannot mount a small tmpfs here ({why})");
            return;
        }
    };
    let mut vis = Visualizer::local(dir.path()).unwrap();
    // Failures come back at the next call or at the flush.
    let mut reported = Vec::new();
    for step in 1..=10 {
        if let Err(e) = vis.add_picture("noise", noise(step), step) {
            reported.push(e.to_string());
        }
    }
    if let Err(e) = vis.flush() {
        reported.push(e.to_string());
    }
    let err = reported.join("\n");
    assert!(err.contains("No space left on device"), "{err}");
    let images = vis_core::vis_data_dir(dir.path()).join("vis_image");
    // A write that failed, named by the picture's file, not an encoder's failure.
    assert!(
        err.contains(&format!("writing {}/noise_", images.display())) && !err.contains("encod"),
        "{err}"
    );
    let written = files(&images);
    assert!(
        !written.is_empty() && written.len() < 10,
        "some pictures fit, not all: {written:?}"
    );
    for name in &written {
        assert!(
            name.starts_with("noise_") && name.ends_with(".png"),
            "{name}"
        );
        let step: u64 = name["noise_".len()..name.len() - 4].parse().unwrap();
        assert!(
            !err.contains(&format!("at step {step}:")),
            "picture {step} both written and reported lost"
        );
        let decoded = image::load(&images.join(name));
        assert_eq!(decoded, noise(step), "{name} is complete");
    }
    for step in 1..=10 {
        let name = format!("noise_{step}.png");
        assert!(
            written.contains(&name) || err.contains(&format!("picture 'noise' at step {step}:")),
            "picture {step} vanished without an error"
        );
    }
    // Space freed: pictures arrive again.
    for name in &written {
        std::fs::remove_file(images.join(name)).unwrap();
    }
    vis.add_picture("noise", noise(11), 11).unwrap();
    vis.close().unwrap();
    assert_eq!(files(&images), vec!["noise_11.png"]);
    drop(disk);
}

/// A disk remounted read-only under a running hook (root only, as CI runs): every lost picture
/// is reported by name with the file system's own words, nothing partial is left, and pictures
/// arrive again once it is writable.
#[test]
fn a_disk_remounted_read_only_mid_run_loses_only_what_came_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let disk = match SmallDisk::mount(dir.path(), "8m") {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("skipped: cannot mount a tmpfs here ({why})");
            return;
        }
    };
    let mut vis = Visualizer::local(dir.path()).unwrap();
    vis.add_picture("noise", noise(1), 1).unwrap();
    vis.flush().unwrap();
    disk.set_read_only(true);
    let mut reported = Vec::new();
    for step in 2..=3 {
        if let Err(e) = vis.add_picture("noise", noise(step), step) {
            reported.push(e.to_string());
        }
    }
    if let Err(e) = vis.flush() {
        reported.push(e.to_string());
    }
    let err = reported.join("\n");
    for step in 2..=3 {
        assert!(
            err.contains(&format!("picture 'noise' at step {step}:"))
                && err.contains("Read-only file system"),
            "{err}"
        );
    }
    disk.set_read_only(false);
    vis.add_picture("noise", noise(4), 4).unwrap();
    vis.close().unwrap();
    let images = vis_core::vis_data_dir(dir.path()).join("vis_image");
    assert_eq!(files(&images), vec!["noise_1.png", "noise_4.png"]);
    assert_eq!(image::load(&images.join("noise_4.png")), noise(4));
    drop(disk);
}

/// Decoding PNG files back into pictures.
mod image {
    use super::*;

    pub(super) fn load(path: &Path) -> Picture {
        let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
        let mut reader = png::Decoder::new(file).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        Picture::Image(RgbImage::from_raw(info.width as usize, info.height as usize, buf).unwrap())
    }
}

#[test]
fn a_caller_that_panics_drops_the_hook_without_deadlock_or_loss() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().to_path_buf();
    let training = std::thread::spawn(move || {
        let config = HookConfig::from_json(
            r#"{"interval": 1, "n_samples": 4, "vis_kwargs_list": {"type": "GAN"}}"#,
        )
        .unwrap();
        let slow = common::SlowDisk {
            inner: vis_core::LocalVisBackend::new(&save),
            delay: std::time::Duration::from_millis(5),
        };
        let visualizer = Visualizer::new(vec![Box::new(slow)], Default::default()).unwrap();
        let mut hook = VisualizationHook::new(config, visualizer).unwrap();
        let mut engine = FakeEngine::new(4);
        for batch_idx in 0..20 {
            hook.after_train_iter(&mut engine, batch_idx).unwrap();
        }
        panic!("the training step failed");
    });
    // Join on another thread, so that a deadlock fails the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(training.join().is_err()));
    let panicked = rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("dropping the hook while the caller unwinds deadlocked");
    assert!(panicked);
    let images = dir.path().join("vis_image");
    assert_eq!(files(&images).len(), 20, "every queued picture was written");
}
