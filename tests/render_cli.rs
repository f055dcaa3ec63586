//! `vis render` as its users meet it: exit codes (0 success, 2 usage, 1 anything else with one
//! line on stderr), the default choice of tensors, every input dtype, frames, and never a
//! partial output file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use safetensors::Dtype;
use safetensors::tensor::TensorView;

/// Writes a `.safetensors` file of `(name, dtype, shape, bytes)` tensors.
fn write_tensors(path: &Path, tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            (
                name.to_string(),
                TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

/// f32 values as little-endian bytes.
fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// `n` ramps of `c x h x w` values in [0, 1].
fn ramp(n: usize, c: usize, h: usize, w: usize) -> Vec<f32> {
    let len = n * c * h * w;
    (0..len).map(|i| i as f32 / len as f32).collect()
}

fn vis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vis"))
        .args(args)
        .output()
        .unwrap()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A folder with `input.safetensors` holding an RGB batch `a` [4,3,5,6], a gray batch `b`
/// [4,1,5,6], a sequence `seq` [2,7,3,4,4], a u8 tensor and a rank-2 tensor.
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.safetensors");
    write_tensors(
        &input,
        &[
            (
                "b",
                Dtype::F32,
                vec![4, 1, 5, 6],
                f32_bytes(&ramp(4, 1, 5, 6)),
            ),
            (
                "a",
                Dtype::F32,
                vec![4, 3, 5, 6],
                f32_bytes(&ramp(4, 3, 5, 6)),
            ),
            ("labels", Dtype::U8, vec![4], vec![1, 2, 3, 4]),
            ("ids", Dtype::I64, vec![1], vec![0; 8]),
            (
                "matrix",
                Dtype::F32,
                vec![2, 2],
                f32_bytes(&[1.0, 2.0, 3.0, 4.0]),
            ),
        ],
    );
    let seq = dir.path().join("seq.safetensors");
    write_tensors(
        &seq,
        &[(
            "seq",
            Dtype::F32,
            vec![2, 7, 3, 4, 4],
            f32_bytes(&ramp(2 * 7, 3, 4, 4)),
        )],
    );
    (dir, input)
}

fn decode_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Files in `dir` other than the fixture's inputs.
fn outputs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".safetensors"))
        .collect();
    names.sort();
    names
}

#[test]
fn draws_every_float_tensor_of_rank_4_by_name() {
    let (dir, input) = fixture();
    let out = dir.path().join("grid.png");
    let o = vis(&["render", path_str(&input), "-o", path_str(&out)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("grid.png"));
    // a then b (by name), 4 images each, nrow = ceil(sqrt(4)) = 2: 2 columns, 4 rows.
    let (w, h, px) = decode_png(&out);
    assert_eq!((w, h), (2 * 8 + 2, 4 * 7 + 2));
    // The first image of `b` (gray, replicated) starts two grid rows down: row 2 + 2 * 7.
    let at = |x: usize, y: usize| &px[(y * w as usize + x) * 3..][..3];
    let first_gray = at(2, 16);
    assert_eq!(first_gray[0], first_gray[1]);
    assert_eq!(first_gray[1], first_gray[2]);
    assert_eq!(outputs(dir.path()), vec!["grid.png"]);
}

#[test]
fn tensor_order_follows_the_flags() {
    let (dir, input) = fixture();
    let ab = dir.path().join("ab.png");
    let ba = dir.path().join("ba.png");
    for (out, order) in [(&ab, ["a", "b"]), (&ba, ["b", "a"])] {
        let o = vis(&[
            "render",
            path_str(&input),
            "-o",
            path_str(out),
            "--tensor",
            order[0],
            "--tensor",
            order[1],
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (_, _, ab) = decode_png(&ab);
    let (_, _, ba) = decode_png(&ba);
    assert_ne!(ab, ba);
    let (_, _, default) = {
        let out = dir.path().join("default.png");
        assert!(
            vis(&["render", path_str(&input), "-o", path_str(&out)])
                .status
                .success()
        );
        decode_png(&out)
    };
    assert_eq!(default, ab);
}

#[test]
fn half_floats_draw_like_f32() {
    let dir = tempfile::tempdir().unwrap();
    // Values exactly representable in f16 and bf16 (multiples of 1/256 in [0, 1]).
    let values: Vec<f32> = (0..2 * 3 * 4 * 5)
        .map(|i| (i % 256) as f32 / 256.0)
        .collect();
    let f16: Vec<u8> = values
        .iter()
        .flat_map(|&v| vis_ops::half::f16::from_f32(v).to_le_bytes())
        .collect();
    let bf16: Vec<u8> = values
        .iter()
        .flat_map(|&v| vis_ops::half::bf16::from_f32(v).to_le_bytes())
        .collect();
    let mut drawn = Vec::new();
    for (name, dtype, bytes) in [
        ("f32", Dtype::F32, f32_bytes(&values)),
        ("f16", Dtype::F16, f16),
        ("bf16", Dtype::BF16, bf16),
    ] {
        let input = dir.path().join(format!("{name}.safetensors"));
        write_tensors(&input, &[("x", dtype, vec![2, 3, 4, 5], bytes)]);
        let out = dir.path().join(format!("{name}.png"));
        let o = vis(&["render", path_str(&input), "-o", path_str(&out)]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        drawn.push(decode_png(&out));
    }
    assert_eq!(drawn[0], drawn[1]);
    assert_eq!(drawn[0], drawn[2]);
}

#[test]
fn sequences_become_an_apng_of_exact_frames_and_delays() {
    let (dir, _) = fixture();
    let seq = dir.path().join("seq.safetensors");
    let apng = dir.path().join("seq.png");
    let frames = dir.path().join("frames");
    let o = vis(&[
        "render",
        path_str(&seq),
        "-o",
        path_str(&apng),
        "--n-skip",
        "3",
        "--fps",
        "29.97",
        "--frames-dir",
        path_str(&frames),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert_eq!(stderr, "", "no warning at 29.97 fps");
    assert!(String::from_utf8_lossy(&o.stdout).contains("(3 frames of "));
    let apng = common::read_apng(&apng);
    assert_eq!((apng.frames.len(), apng.plays), (3, 0));
    for (i, (delay, pixels)) in apng.frames.iter().enumerate() {
        assert_eq!(*delay, (100, 2997), "exactly 1/29.97 s");
        let still = decode_png(&frames.join(format!("frame_{i:04}.png")));
        assert!(
            *pixels == still.2,
            "frame {i} differs from its lossless still"
        );
    }
}

#[test]
fn an_fps_the_viewer_cannot_play_is_a_warning() {
    let (dir, _) = fixture();
    let seq = dir.path().join("seq.safetensors");
    let warns = |out: &str, fps: &str| {
        let o = vis(&[
            "render",
            path_str(&seq),
            "-o",
            path_str(&dir.path().join(out)),
            "--fps",
            fps,
        ]);
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let fast = warns("fast.png", "200");
    assert!(
        fast.starts_with("warning: --fps 200 asks for frames of 10 ms or less"),
        "{fast}"
    );
    let rounded = warns("rounded.gif", "30");
    assert!(
        rounded.contains("frames last 3 cs (33.333 fps); write a .png (APNG) for exactly 30 fps"),
        "{rounded}"
    );
    assert_eq!(warns("exact.gif", "25"), "");
    assert_eq!(warns("exact.png", "30"), "");
}

#[test]
fn sequences_become_a_gif_and_lossless_frames() {
    let (dir, _) = fixture();
    let seq = dir.path().join("seq.safetensors");
    let gif = dir.path().join("seq.gif");
    let frames = dir.path().join("frames");
    let o = vis(&[
        "render",
        path_str(&seq),
        "-o",
        path_str(&gif),
        "--n-skip",
        "3",
        "--fps",
        "25",
        "--frames-dir",
        path_str(&frames),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // T = 7, n_skip = 3: timesteps 0, 3, 6.
    let names: Vec<String> = outputs(&frames);
    assert_eq!(
        names,
        vec!["frame_0000.png", "frame_0001.png", "frame_0002.png"]
    );
    let mut decoder = gif::DecodeOptions::new()
        .read_info(std::fs::File::open(&gif).unwrap())
        .unwrap();
    let mut count = 0;
    while let Some(frame) = decoder.read_next_frame().unwrap() {
        assert_eq!(frame.delay, 4);
        count += 1;
    }
    assert_eq!(count, 3);
}

/// Runs `vis` and checks it fails with `code`, one line on stderr containing `needle`, and no
/// file left in the fixture folder.
fn fails(args: &[&str], code: i32, needle: &str, dir: &Path) {
    let o = vis(args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    if code == 1 {
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
    let left = outputs(dir);
    assert!(left.is_empty(), "{args:?} left {left:?}");
}

#[test]
fn usage_errors_exit_with_2() {
    let (dir, input) = fixture();
    let d = dir.path();
    let i = path_str(&input);
    let out = d.join("x.png");
    let o = path_str(&out);
    fails(&["render", i], 2, "--output", d);
    fails(&["render", i, "-o", o, "--nrow", "0"], 2, "--nrow", d);
    fails(&["render", i, "-o", o, "--map", "sepia"], 2, "sepia", d);
    fails(&["render", i, "-o", o, "--map", "denorm"], 2, "--mean", d);
    fails(
        &["render", i, "-o", o, "--mean", "0.5"],
        2,
        "--map denorm",
        d,
    );
    fails(
        &[
            "render", i, "-o", o, "--map", "denorm", "--mean", "1,2", "--std", "1",
        ],
        2,
        "1 value or 3",
        d,
    );
    fails(
        &["render", i, "-o", o, "--map", "range", "--lo", "-1"],
        2,
        "--hi",
        d,
    );
    fails(&["render", i, "-o", o, "--scale-each"], 2, "--map range", d);
    fails(&["render", i, "-o", o, "--pad-byte", "256"], 2, "256", d);
    fails(
        &["render", i, "-o", o, "--fps", "0"],
        2,
        "frames per second",
        d,
    );
    fails(
        &["render", i, "-o", o, "--quantize", "floor"],
        2,
        "floor",
        d,
    );
    let jpg = d.join("x.jpg");
    fails(&["render", i, "-o", path_str(&jpg)], 2, ".png", d);
}

#[test]
fn other_errors_exit_with_1_and_one_line() {
    let (dir, input) = fixture();
    let d = dir.path();
    let i = path_str(&input);
    let out = d.join("x.png");
    let o = path_str(&out);
    let missing = d.join("missing.safetensors");
    fails(
        &["render", path_str(&missing), "-o", o],
        1,
        "missing.safetensors",
        d,
    );
    let garbage = d.join("garbage.safetensors");
    std::fs::write(&garbage, b"not a tensor file at all").unwrap();
    fails(
        &["render", path_str(&garbage), "-o", o],
        1,
        "not a valid safetensors file",
        d,
    );
    std::fs::remove_file(&garbage).unwrap();
    fails(
        &["render", i, "-o", o, "--tensor", "nope"],
        1,
        "no tensor named 'nope'; the file holds: 'a', 'b', 'ids', 'labels', 'matrix'",
        d,
    );
    fails(
        &["render", i, "-o", o, "--tensor", "labels"],
        1,
        "rank 1",
        d,
    );
    fails(
        &["render", i, "-o", o, "--tensor", "matrix"],
        1,
        "rank 2",
        d,
    );
    fails(
        &["render", i, "-o", o, "--n-skip", "2"],
        1,
        "apply to sequences",
        d,
    );
    let gif = d.join("x.gif");
    fails(
        &["render", i, "-o", path_str(&gif)],
        1,
        "write it to a .png",
        d,
    );
    let seq = d.join("seq.safetensors");
    fails(
        &["render", path_str(&seq), "-o", o, "--fps", "0.00001"],
        1,
        "longer than the 65535 s an APNG frame can last",
        d,
    );
    fails(
        &[
            "render",
            path_str(&seq),
            "-o",
            path_str(&gif),
            "--fps",
            "0.001",
        ],
        1,
        "longer than the 655.35 s a GIF frame can last",
        d,
    );
    let nowhere = d.join("no/such/folder/x.png");
    fails(
        &["render", i, "-o", path_str(&nowhere)],
        1,
        "no/such/folder",
        d,
    );

    // Tensors that disagree in N.
    let mismatch = d.join("mismatch.safetensors");
    write_tensors(
        &mismatch,
        &[
            (
                "p",
                Dtype::F32,
                vec![2, 3, 2, 2],
                f32_bytes(&ramp(2, 3, 2, 2)),
            ),
            (
                "q",
                Dtype::F32,
                vec![3, 3, 2, 2],
                f32_bytes(&ramp(3, 3, 2, 2)),
            ),
        ],
    );
    fails(
        &["render", path_str(&mismatch), "-o", o],
        1,
        "'q' has N = 3 but 'p' has N = 2",
        d,
    );
    // Two channels.
    let two = d.join("two.safetensors");
    write_tensors(
        &two,
        &[("t", Dtype::F32, vec![1, 2, 2, 2], f32_bytes(&[0.0; 8]))],
    );
    fails(&["render", path_str(&two), "-o", o], 1, "2 channels", d);
    // A header that promises more data than the file holds.
    let short = d.join("short.safetensors");
    let mut bytes = std::fs::read(&input).unwrap();
    bytes.truncate(bytes.len() - 10);
    std::fs::write(&short, bytes).unwrap();
    fails(
        &["render", path_str(&short), "-o", o],
        1,
        "not a valid safetensors file",
        d,
    );
}

#[test]
fn an_error_leaves_an_existing_output_untouched() {
    let (dir, input) = fixture();
    let out = dir.path().join("keep.png");
    std::fs::write(&out, b"previous picture").unwrap();
    let o = vis(&[
        "render",
        path_str(&input),
        "-o",
        path_str(&out),
        "--tensor",
        "nope",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read(&out).unwrap(), b"previous picture");
    assert_eq!(outputs(dir.path()), vec!["keep.png"]);
}

#[test]
fn bytes_draw_as_they_are_with_the_identity_map() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("x.safetensors");
    let bytes: Vec<u8> = (0..2 * 3 * 2 * 2).map(|i| (i * 10) as u8).collect();
    write_tensors(&input, &[("x", Dtype::U8, vec![2, 3, 2, 2], bytes.clone())]);
    let out = dir.path().join("x.png");
    let o = vis(&[
        "render",
        path_str(&input),
        "-o",
        path_str(&out),
        "--tensor",
        "x",
        "--map",
        "identity",
        "--padding",
        "0",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (w, h, px) = decode_png(&out);
    assert_eq!((w, h), (4, 2));
    // Pixel (0, 0) is image 0, channels at offsets 0, 4, 8.
    assert_eq!(&px[..3], &[bytes[0], bytes[4], bytes[8]]);
    // Pixel (2, 0) is image 1's first pixel.
    assert_eq!(&px[6..9], &[bytes[12], bytes[16], bytes[20]]);
}

#[test]
fn range_without_ends_takes_them_from_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("x.safetensors");
    // One gray image [1,1,1,3] with values -4, 0, 4: lo = -4, hi = 4.
    write_tensors(
        &input,
        &[(
            "x",
            Dtype::F32,
            vec![1, 1, 1, 3],
            f32_bytes(&[-4.0, 0.0, 4.0]),
        )],
    );
    let out = dir.path().join("x.png");
    let o = vis(&[
        "render",
        path_str(&input),
        "-o",
        path_str(&out),
        "--map",
        "range",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (w, h, px) = decode_png(&out);
    assert_eq!((w, h), (3, 1));
    assert_eq!(px, vec![0, 0, 0, 128, 128, 128, 255, 255, 255]);
}

/// Names of the temporary files in `dir`.
fn temps(dir: &Path) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(vis_ops::fs::TEMP_SUFFIX))
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn sigkill_while_writing_leaves_nothing_or_a_whole_file_and_no_pile_of_temps() {
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.safetensors");
    // 64 noisy 3x160x160 images: a 1298x1298 grid whose PNG takes a while to encode and write.
    let len = 64 * 3 * 160 * 160;
    let values: Vec<f32> = (0..len)
        .map(|i| ((i as u64 * 2_654_435_761) % 1000) as f32 / 1000.0)
        .collect();
    write_tensors(
        &input,
        &[("x", Dtype::F32, vec![64, 3, 160, 160], f32_bytes(&values))],
    );
    let out = dir.path().join("grid.png");
    let reference = dir.path().join("reference.png");
    let done = vis(&["render", path_str(&input), "-o", path_str(&reference)]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let whole = std::fs::read(&reference).unwrap();

    let mut kills_mid_write = 0;
    for attempt in 0..8u64 {
        if attempt == 4 {
            // From now on an earlier complete picture is in place: it must survive the kill.
            std::fs::copy(&reference, &out).unwrap();
        }
        let before = temps(dir.path());
        let mut child = Command::new(env!("CARGO_BIN_EXE_vis"))
            .args(["render", path_str(&input), "-o", path_str(&out)])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait for this run's temporary file, then kill it after 0, 15, 30 or 45 ms.
        let start = Instant::now();
        let mine = loop {
            let new: Vec<String> = temps(dir.path()).difference(&before).cloned().collect();
            if let Some(name) = new.into_iter().next() {
                break Some(name);
            }
            if child.try_wait().unwrap().is_some() || start.elapsed() > Duration::from_secs(60) {
                break None;
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        std::thread::sleep(Duration::from_millis(attempt % 4 * 15));
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        // A minute passes: temporary files unlocked for that long are a dead writer's.
        for name in temps(dir.path()) {
            let then = std::time::SystemTime::now() - Duration::from_secs(7200);
            let file = std::fs::File::options()
                .write(true)
                .open(dir.path().join(&name));
            if let Ok(file) = file {
                file.set_modified(then).unwrap();
            }
        }
        if mine.is_some_and(|name| dir.path().join(name).exists()) {
            kills_mid_write += 1;
        }
        match std::fs::read(&out) {
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
                assert!(attempt < 4, "the earlier picture was lost");
            }
            Ok(bytes) => assert!(bytes == whole, "attempt {attempt}: a partial grid.png"),
        }
        // Each run sweeps the temporary files of the runs killed before it.
        assert!(temps(dir.path()).len() <= 1, "temporary files pile up");
    }
    eprintln!("{kills_mid_write} of 8 kills landed while the picture was being written");
    assert!(
        kills_mid_write > 0,
        "no kill landed while a temporary file was being written"
    );
    let done = vis(&["render", path_str(&input), "-o", path_str(&out)]);
    assert!(done.status.success());
    assert_eq!(std::fs::read(&out).unwrap(), whole);
    assert!(temps(dir.path()).is_empty(), "a temporary file was left");
}

mod common;

/// Runs `vis args` and returns its output and peak memory (an upper bound: the kernel's count
/// for the child includes this test process's memory when it started `vis`).
fn vis_measured(args: &[&str]) -> (Output, u64) {
    common::output_with_peak_rss(Command::new(env!("CARGO_BIN_EXE_vis")).args(args))
}

#[test]
fn renders_of_tiny_inputs_stay_within_the_memory_they_announce() {
    let dir = tempfile::tempdir().unwrap();
    // 300,000 frames of one pixel: 1.2 MB of input took 1.9 GB when every frame's encoder state
    // was kept until the end; frames are now encoded and written a few at a time.
    let seq = dir.path().join("seq.safetensors");
    write_tensors(
        &seq,
        &[(
            "seq",
            Dtype::F32,
            vec![1, 300_000, 1, 1, 1],
            f32_bytes(&vec![0.5; 300_000]),
        )],
    );
    let gif = dir.path().join("seq.gif");
    let (o, peak) = vis_measured(&["render", path_str(&seq), "-o", path_str(&gif)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(peak < 64 << 20, "{} MiB", peak >> 20);
    // Two 8x8 images and a padding of 6000: a 18016x12008 canvas (649 MB), under the cap; the
    // PNG encoder used to keep every strip's output buffer, 1.7 GB in all.
    let two = dir.path().join("two.safetensors");
    write_tensors(
        &two,
        &[(
            "x",
            Dtype::F32,
            vec![2, 3, 8, 8],
            f32_bytes(&vec![0.5; 384]),
        )],
    );
    let png = dir.path().join("two.png");
    let (o, peak) = vis_measured(&[
        "render",
        path_str(&two),
        "-o",
        path_str(&png),
        "--padding",
        "6000",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let canvas = 18_016 * 12_008 * 3;
    assert!(
        peak < canvas + (64 << 20),
        "{} MiB for a canvas of {} MiB",
        peak >> 20,
        canvas >> 20
    );
}

#[test]
fn frames_dir_is_replaced_as_a_whole() {
    let (dir, _) = fixture();
    let seq = dir.path().join("seq.safetensors");
    let frames = dir.path().join("frames");
    let gif = dir.path().join("s.gif");
    let render = |n_skip: &str| {
        vis(&[
            "render",
            path_str(&seq),
            "-o",
            path_str(&gif),
            "--n-skip",
            n_skip,
            "--frames-dir",
            path_str(&frames),
        ])
    };
    assert!(render("1").status.success());
    assert_eq!(outputs(&frames).len(), 7);
    // A shorter render leaves no stale frame of the longer one.
    let o = render("3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        outputs(&frames),
        vec!["frame_0000.png", "frame_0001.png", "frame_0002.png"]
    );
    // Nothing is left beside it: no temporary folder, no old frames.
    let mut beside: Vec<String> = outputs(dir.path())
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    beside.sort();
    assert!(beside.is_empty(), "{beside:?}");
}

#[test]
fn force_replaces_a_read_only_output_and_long_names_work() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, input) = fixture();
    let out = dir.path().join("grid.png");
    std::fs::write(&out, "old").unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o444)).unwrap();
    let args = [
        "render",
        path_str(&input),
        "-o",
        path_str(&out),
        "--tensor",
        "a",
    ];
    let o = vis(&args);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read(&out).unwrap(), b"old");
    let o = vis(&[&args[..], &["--force"]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(decode_png(&out).0, 18);
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o444);
    // An output name of 255 bytes.
    let long = dir.path().join(format!("{}.png", "g".repeat(251)));
    let o = vis(&[
        "render",
        path_str(&input),
        "-o",
        path_str(&long),
        "--tensor",
        "a",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(long.is_file());
}

#[test]
fn a_reader_that_goes_away_is_no_error() {
    let (dir, input) = fixture();
    let out = dir.path().join("grid.png");
    // `vis render ... | head -c 0`: the pipe is closed before vis writes its line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_vis"))
        .args([
            "render",
            path_str(&input),
            "-o",
            path_str(&out),
            "--tensor",
            "a",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.is_file());
}
