//! The golden cases of `tests/golden` (see its README): inputs, parameters and the exact
//! bytes torchvision/numpy produced, plus the `vis render` flags that ask for the same thing.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use vis_ops::{ChannelOrder, FrameSpec, GridSpec, PixelMap, Quantize, RenderSpec};

/// One golden case.
pub struct Case {
    /// Folder name.
    pub name: String,
    /// Its folder.
    pub dir: PathBuf,
    /// Tensor names in drawing order.
    pub tensors: Vec<String>,
    /// The parameters as a render spec.
    pub spec: RenderSpec,
    /// For sequences: the frame selection.
    pub frames: Option<FrameSpec>,
    /// For sequences: the timesteps expected as frames.
    pub frame_indices: Vec<usize>,
    /// Expected bytes: `[H, W, 3]`, or `[F, H, W, 3]` for sequences.
    pub expected: Vec<u8>,
    /// Shape of `expected`.
    pub expected_shape: Vec<usize>,
    /// The `vis render` flags for this case (without input and output).
    pub cli_flags: Vec<String>,
}

impl Case {
    /// The input file.
    pub fn input(&self) -> PathBuf {
        self.dir.join("input.safetensors")
    }

    /// Expected (height, width) of one grid.
    pub fn grid_size(&self) -> (usize, usize) {
        let s = &self.expected_shape;
        (s[s.len() - 3], s[s.len() - 2])
    }
}

/// The workspace root (two levels above this package).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `$VIS_GOLDEN_DIR`, or the repository's own `tests/golden`.
pub fn golden_dir() -> PathBuf {
    std::env::var_os("VIS_GOLDEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("tests/golden"))
}

/// Every golden case, in name order. Panics (failing the test) when there are none.
pub fn cases() -> Vec<Case> {
    let dir = golden_dir();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "golden cases not found at {} ({e}); set VIS_GOLDEN_DIR",
            dir.display()
        )
    });
    let mut dirs: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("params.json").is_file())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no golden cases in {}", dir.display());
    dirs.iter().map(|d| load(d)).collect()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn join(v: &[f64]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn load(dir: &Path) -> Case {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let p: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("params.json")).unwrap()).unwrap();
    let tensors: Vec<String> = p["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    let mut flags: Vec<String> = Vec::new();
    for t in &tensors {
        flags.extend(["--tensor".into(), t.clone()]);
    }
    let m = &p["map"];
    let map = match m["kind"].as_str().unwrap() {
        "unit" => PixelMap::Unit,
        "identity" => PixelMap::Identity,
        "denorm" => {
            let (mean, std) = (f64s(&m["mean"]), f64s(&m["std"]));
            flags.extend([
                "--map".into(),
                "denorm".into(),
                "--mean".into(),
                join(&mean),
                "--std".into(),
                join(&std),
            ]);
            PixelMap::Denorm { mean, std }
        }
        "range" => {
            let (lo, hi) = (m["lo"].as_f64(), m["hi"].as_f64());
            let scale_each = m["scale_each"].as_bool().unwrap();
            flags.extend(["--map".into(), "range".into()]);
            if let (Some(lo), Some(hi)) = (lo, hi) {
                flags.extend(["--lo".into(), lo.to_string(), "--hi".into(), hi.to_string()]);
            }
            if scale_each {
                flags.push("--scale-each".into());
            }
            PixelMap::Range { lo, hi, scale_each }
        }
        other => panic!("{name}: unknown map kind {other}"),
    };
    if map == PixelMap::Unit {
        flags.extend(["--map".into(), "unit".into()]);
    }
    let quantize = match p["quantize"].as_str().unwrap() {
        "round_half_up" => Quantize::RoundHalfUp,
        "truncate" => Quantize::Truncate,
        other => panic!("{name}: unknown quantize {other}"),
    };
    flags.extend([
        "--quantize".into(),
        match quantize {
            Quantize::RoundHalfUp => "round",
            Quantize::Truncate => "truncate",
            Quantize::RoundHalfEven => panic!("{name}: no golden case rounds half to even"),
        }
        .into(),
    ]);
    let order = match p["order"].as_str().unwrap() {
        "rgb" => ChannelOrder::Rgb,
        "bgr" => ChannelOrder::Bgr,
        other => panic!("{name}: unknown order {other}"),
    };
    flags.extend(["--order".into(), p["order"].as_str().unwrap().into()]);
    let nrow = p["nrow"].as_u64().map(|n| n as usize);
    if let Some(n) = nrow {
        flags.extend(["--nrow".into(), n.to_string()]);
    }
    let padding = p["padding"].as_u64().unwrap() as usize;
    let pad_byte = p["pad_byte"].as_u64().unwrap() as u8;
    flags.extend([
        "--padding".into(),
        padding.to_string(),
        "--pad-byte".into(),
        pad_byte.to_string(),
    ]);
    let frames = p["sequence"].as_object().map(|s| {
        let n_skip = s["n_skip"].as_u64().unwrap() as usize;
        let fps = s["fps"].as_f64().unwrap();
        flags.extend([
            "--n-skip".into(),
            n_skip.to_string(),
            "--fps".into(),
            fps.to_string(),
        ]);
        FrameSpec { n_skip, fps }
    });
    let frame_indices = p["expected_frame_indices"]
        .as_array()
        .map(|a| a.iter().map(|x| x.as_u64().unwrap() as usize).collect())
        .unwrap_or_default();
    let (file, key) = if frames.is_some() {
        ("expected_frames.safetensors", "frames")
    } else {
        ("expected_rgb.safetensors", "rgb")
    };
    let bytes = std::fs::read(dir.join(file)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let view = st.tensor(key).unwrap();
    assert_eq!(view.dtype(), safetensors::Dtype::U8, "{name}: expected u8");
    let expected_shape = view.shape().to_vec();
    let json_shape: Vec<usize> = p["expected_shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(expected_shape, json_shape, "{name}: expected shape");
    Case {
        name,
        dir: dir.to_path_buf(),
        tensors,
        spec: RenderSpec {
            map,
            quantize,
            order,
            grid: GridSpec {
                nrow,
                padding,
                pad_byte,
                pad_to_nrow: false,
            },
        },
        frames,
        frame_indices,
        expected: view.data().to_vec(),
        expected_shape,
        cli_flags: flags,
    }
}

/// The first differing byte as "pixel (x, y) channel c: got a, want b", or `None` when equal.
pub fn first_difference(got: &[u8], want: &[u8], width: usize) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!("{} bytes, want {}", got.len(), want.len()));
    }
    let count = got.iter().zip(want).filter(|(a, b)| a != b).count();
    got.iter().zip(want).position(|(a, b)| a != b).map(|i| {
        let px = i / 3;
        format!(
            "{count} bytes differ; first at pixel ({}, {}) channel {}: got {}, want {}",
            px % width,
            px / width,
            i % 3,
            got[i],
            want[i]
        )
    })
}

/// Runs `command` to its end with stdout and stderr captured, and returns its output with the
/// peak resident memory it reached, in bytes (the kernel's `ru_maxrss` of the child).
#[cfg(unix)]
// The child is reaped by `wait4` below, which std's `Child` does not know of.
#[allow(clippy::zombie_processes)]
pub fn output_with_peak_rss(command: &mut std::process::Command) -> (std::process::Output, u64) {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;

    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).unwrap();
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut status = 0;
    // SAFETY: `rusage` is plain data that `wait4` fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, writing into the two locals above.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    let output = std::process::Output {
        status: std::process::ExitStatus::from_raw(status),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    // Linux reports kilobytes.
    (output, u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024)
}

/// An APNG as a decoder independent of vis (the `png` crate's) reads it.
pub struct Apng {
    /// Width and height in pixels.
    pub size: (usize, usize),
    /// How many times it plays (0: forever).
    pub plays: u32,
    /// Each frame's delay (numerator, denominator) and RGB bytes.
    pub frames: Vec<((u16, u16), Vec<u8>)>,
}

/// Reads the APNG at `path`: every frame full size at the origin, exactly as many as its
/// `acTL` chunk says.
pub fn read_apng(path: &Path) -> Apng {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let size = (reader.info().width, reader.info().height);
    let actl = *reader
        .info()
        .animation_control()
        .unwrap_or_else(|| panic!("{}: no acTL chunk, not an APNG", path.display()));
    let mut frames = Vec::new();
    for _ in 0..actl.num_frames {
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        buf.truncate(info.buffer_size());
        let fctl = reader.info().frame_control().unwrap();
        assert_eq!(
            (fctl.width, fctl.height, fctl.x_offset, fctl.y_offset),
            (size.0, size.1, 0, 0)
        );
        frames.push(((fctl.delay_num, fctl.delay_den), buf));
    }
    assert!(
        reader.next_frame(&mut []).is_err(),
        "frames past acTL's count"
    );
    Apng {
        size: (size.0 as usize, size.1 as usize),
        plays: actl.num_plays,
        frames,
    }
}
