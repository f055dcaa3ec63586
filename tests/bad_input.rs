//! The README's bad-input table, row by row. Every case below feeds one kind of bad input to vis
//! (a config, a tensor, a flag, a file, a folder), takes the error it gives, and renders the
//! table row `| what | input | error |`; the test checks that the README's table is exactly these
//! rows, so each row is a test and the table cannot drift from what vis says.
//!
//! `VIS_PRINT_BAD_INPUT_TABLE=1 cargo test -p vis-cli --test bad_input` prints the table.

mod common;

use std::path::Path;
use std::process::Command;

use candle_core::{DType, Device, Tensor};
use vis_core::{DataSample, DrawRequest, Extra, HookConfig, VisMode, Visualizer};

/// One row: what kind of input, the input itself (Markdown), and how to get its error in a
/// scratch folder.
struct Case {
    what: &'static str,
    input: &'static str,
    error: fn(&Path) -> String,
}

/// The most memory any bad-input run of `vis` may take: generous, but finite. Without the
/// checks before reading and allocating, rows here took gigabytes or never ended.
const PEAK_RSS_BOUND: u64 = 64 << 20;

/// The peak resident memory of each run of `vis`, for the README (`VIS_PRINT_BAD_INPUT_TABLE`).
static PEAKS: std::sync::Mutex<Vec<(String, u64)>> = std::sync::Mutex::new(Vec::new());

/// The first line `vis args...` prints on stderr, run in `dir` with `env`; the command must fail
/// within [`PEAK_RSS_BOUND`] of memory.
fn vis_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let (out, peak) = common::output_with_peak_rss(
        Command::new(env!("CARGO_BIN_EXE_vis"))
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir),
    );
    assert!(!out.status.success(), "vis {args:?} succeeded");
    assert!(
        peak <= PEAK_RSS_BOUND,
        "vis {args:?} took {} MiB",
        peak >> 20
    );
    PEAKS.lock().unwrap().push((args.join(" "), peak));
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr.lines().next().unwrap_or_default().to_owned()
}

/// [`vis_env`] without extra environment.
fn vis(dir: &Path, args: &[&str]) -> String {
    vis_env(dir, args, &[])
}

/// Writes a `.safetensors` file of `tensors` (name, dtype, shape, bytes) at `path`.
fn tensors(path: &Path, tensors: &[(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)]) {
    let views: Vec<(&str, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            (
                *name,
                safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

/// Another run holding the run lock of `dir` (created), as a `vis demo` running there would;
/// killed when dropped.
struct OtherRun(std::process::Child);

impl OtherRun {
    fn start(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let lock = dir.join(vis_core::LOCK_FILE);
        std::fs::write(&lock, "").unwrap();
        let child = Command::new("sh")
            .args([
                "-c",
                r#"exec 9<>"$0" && flock --exclusive 9 && echo "pid 4242 on gpu-node-7" >&9 && exec sleep 60"#,
            ])
            .arg(&lock)
            .spawn()
            .unwrap();
        let run = OtherRun(child);
        for _ in 0..500 {
            if std::fs::read_to_string(&lock).is_ok_and(|t| t.contains("gpu-node-7")) {
                return run;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the other run never took the lock");
    }
}

impl Drop for OtherRun {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `samples.safetensors` in `dir`: `fake_img` [4, 3, 8, 8] and `seq` [2, 5, 3, 8, 8], f32.
fn samples(dir: &Path) {
    let images: Vec<u8> = (0..4 * 3 * 8 * 8)
        .flat_map(|i| (i as f32 / 768.0).to_le_bytes())
        .collect();
    let seq: Vec<u8> = (0..2 * 5 * 3 * 8 * 8)
        .flat_map(|i| (i as f32 / 1920.0).to_le_bytes())
        .collect();
    let views = [
        (
            "fake_img",
            safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                vec![4, 3, 8, 8],
                &images,
            )
            .unwrap(),
        ),
        (
            "seq",
            safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                vec![2, 5, 3, 8, 8],
                &seq,
            )
            .unwrap(),
        ),
    ];
    safetensors::serialize_to_file(views, None, &dir.join("samples.safetensors")).unwrap();
}

/// `vis render samples.safetensors` with `args` after it.
fn render(dir: &Path, args: &[&str]) -> String {
    samples(dir);
    let mut all = vec!["render", "samples.safetensors"];
    all.extend_from_slice(args);
    vis(dir, &all)
}

fn toml_config(text: &str) -> String {
    HookConfig::from_toml(text).unwrap_err().to_string()
}

/// The bridge's error for a Candle tensor given as key `fake_img`.
fn bridge(tensor: candle_core::Result<Tensor>) -> String {
    let tensor = tensor.unwrap();
    vis_candle::bridge::samples_from_batch(&[("fake_img", &tensor)])
        .unwrap_err()
        .to_string()
}

/// Draws `samples` as a grid named `fake_img` into `dir`, keys `keys`, and returns the error.
fn draw(dir: &Path, samples: &[DataSample], keys: Option<&[String]>) -> String {
    let mut visualizer = Visualizer::local(dir).unwrap();
    let err = visualizer
        .add_datasample(&DrawRequest {
            name: "fake_img",
            samples,
            target_keys: keys,
            vis_mode: VisMode::Image,
            n_row: None,
            step: 1,
            extra: &Extra::new(),
            pixels: None,
        })
        .unwrap_err()
        .to_string();
    visualizer.close().unwrap();
    err
}

fn image(c: usize, h: usize, w: usize) -> vis_core::Tensor {
    vis_core::Tensor::from_vec(vec![0.5; c * h * w], &[c, h, w]).unwrap()
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            what: "config",
            input: "`vis_kwargs_list = { type = \"Foo\" }`",
            error: |_| toml_config("vis_kwargs_list = { type = \"Foo\" }"),
        },
        Case {
            what: "config",
            input: "`n_samples = 0`",
            error: |_| toml_config("n_samples = 0"),
        },
        Case {
            what: "config",
            input: "`interval = -5`",
            error: |_| toml_config("interval = -5"),
        },
        Case {
            what: "config",
            input: "`intervall = 10` (a misspelt field)",
            error: |_| toml_config("intervall = 10"),
        },
        Case {
            what: "config",
            input: "`show = true`",
            error: |_| toml_config("show = true"),
        },
        Case {
            what: "config",
            input: "`vis_kwargs_list = { type = \"GAN\", vis_mode = \"video\" }`",
            error: |_| toml_config("vis_kwargs_list = { type = \"GAN\", vis_mode = \"video\" }"),
        },
        Case {
            what: "config",
            input: "`interval = ` (not TOML)",
            error: |_| toml_config("interval = "),
        },
        Case {
            what: "config",
            input: "JSON `{\"interval\": \"10\"}`",
            error: |_| {
                HookConfig::from_json(r#"{"interval": "10"}"#)
                    .unwrap_err()
                    .to_string()
            },
        },
        Case {
            what: "config",
            input: "`vis_kwargs_list = { type = \"GAN\", name = \"../x\" }` (a path)",
            error: |_| toml_config("vis_kwargs_list = { type = \"GAN\", name = \"../x\" }"),
        },
        Case {
            what: "config",
            input: "`message_hub_vis_kwargs = \"/tmp/x\"`",
            error: |_| toml_config("message_hub_vis_kwargs = \"/tmp/x\""),
        },
        Case {
            what: "config",
            input: "`test_vis_keys = \"..\"`",
            error: |_| toml_config("test_vis_keys = \"..\""),
        },
        Case {
            what: "config file",
            input: "`HookConfig::from_file(\"hook.yaml\")`",
            error: |dir| {
                std::fs::write(dir.join("hook.yaml"), "interval: 10").unwrap();
                HookConfig::from_file(&dir.join("hook.yaml"))
                    .unwrap_err()
                    .to_string()
            },
        },
        Case {
            what: "config file",
            input: "`HookConfig::from_file(\"missing.toml\")`",
            error: |dir| {
                HookConfig::from_file(&dir.join("missing.toml"))
                    .unwrap_err()
                    .to_string()
            },
        },
        Case {
            what: "tensor",
            input: "a Candle tensor of rank 2, `[4, 64]`",
            error: |_| bridge(Tensor::zeros((4, 64), DType::F32, &Device::Cpu)),
        },
        Case {
            what: "tensor",
            input: "2 channels, `[4, 2, 8, 8]`",
            error: |_| bridge(Tensor::zeros((4, 2, 8, 8), DType::F32, &Device::Cpu)),
        },
        Case {
            what: "tensor",
            input: "an empty batch, `[0, 3, 8, 8]`",
            error: |_| bridge(Tensor::zeros((0, 3, 8, 8), DType::F32, &Device::Cpu)),
        },
        Case {
            what: "tensor",
            input: "dtype i64",
            error: |_| bridge(Tensor::zeros((4, 3, 8, 8), DType::I64, &Device::Cpu)),
        },
        Case {
            what: "tensor",
            input: "samples of different sizes (`[3, 8, 8]` then `[3, 4, 4]`)",
            error: |dir| {
                let samples = [
                    DataSample::new().with("fake_img", image(3, 8, 8)),
                    DataSample::new().with("fake_img", image(3, 4, 4)),
                ];
                draw(dir, &samples, None)
            },
        },
        Case {
            what: "tensor",
            input: "`target_keys = [\"gt_img\"]`, samples without `gt_img`",
            error: |dir| {
                let samples = [DataSample::new().with("fake_img", image(3, 8, 8))];
                draw(dir, &samples, Some(&["gt_img".to_owned()]))
            },
        },
        Case {
            what: "data",
            input: "a test sample's key `a/b`",
            error: |dir| {
                let config = HookConfig::from_toml("").unwrap();
                let mut hook: vis_core::VisualizationHook<NoEngine> =
                    vis_core::VisualizationHook::new(config, Visualizer::local(dir).unwrap())
                        .unwrap();
                let sample = DataSample::new().with("a/b", image(3, 8, 8));
                let err = hook.after_test_iter(0, &[sample]).unwrap_err().to_string();
                hook.close().unwrap();
                err
            },
        },
        Case {
            what: "data",
            input: "`ConcatImageVisualizer` with `fn_key` value `..` (no basename)",
            error: |dir| {
                let config: vis_core::ConcatConfig = serde_json::from_value(
                    serde_json::json!({"fn_key": "img_path", "img_keys": ["img"]}),
                )
                .unwrap();
                let mut concat = vis_core::ConcatImageVisualizer::new(
                    config,
                    vec![Box::new(vis_core::LocalVisBackend::new(dir))],
                )
                .unwrap();
                let sample = DataSample::new()
                    .with("img_path", "..")
                    .with("img", image(3, 8, 8));
                let err = concat.add_datasample(&sample, 1).unwrap_err().to_string();
                concat.close().unwrap();
                err
            },
        },
        Case {
            what: "data",
            input: "`add_scalars(scalars, 10, Some(\"../losses.json\"))`",
            error: |dir| {
                let mut visualizer = Visualizer::local(dir).unwrap();
                let scalars = [("loss".to_owned(), 1.0)].into_iter().collect();
                let err = visualizer
                    .add_scalars(scalars, 10, Some("../losses.json"))
                    .unwrap_err()
                    .to_string();
                visualizer.close().unwrap();
                err
            },
        },
        Case {
            what: "flags",
            input: "`vis render samples.safetensors -o grid.png --map denorm`",
            error: |dir| render(dir, &["-o", "grid.png", "--map", "denorm"]),
        },
        Case {
            what: "flags",
            input: "`... --map denorm --mean 127.5,127.5 --std 127.5`",
            error: |dir| {
                render(
                    dir,
                    &[
                        "-o",
                        "g.png",
                        "--map",
                        "denorm",
                        "--mean",
                        "127.5,127.5",
                        "--std",
                        "127.5",
                    ],
                )
            },
        },
        Case {
            what: "flags",
            input: "`... --mean 0.5` without `--map denorm`",
            error: |dir| render(dir, &["-o", "g.png", "--mean", "0.5"]),
        },
        Case {
            what: "flags",
            input: "`... -o grid.jpg`",
            error: |dir| render(dir, &["-o", "grid.jpg"]),
        },
        Case {
            what: "flags",
            input: "`... --nrow 0`",
            error: |dir| render(dir, &["-o", "g.png", "--nrow", "0"]),
        },
        Case {
            what: "flags",
            input: "`... --fps 0`",
            error: |dir| render(dir, &["-o", "g.gif", "--tensor", "seq", "--fps", "0"]),
        },
        Case {
            what: "flags",
            input: "`... --tensor real_img` (not in the file)",
            error: |dir| render(dir, &["-o", "g.png", "--tensor", "real_img"]),
        },
        Case {
            what: "flags",
            input: "`... --tensor seq -o seq.png --fps 0.00001` (frames longer than an APNG holds)",
            error: |dir| {
                render(
                    dir,
                    &["-o", "seq.png", "--tensor", "seq", "--fps", "0.00001"],
                )
            },
        },
        Case {
            what: "flags",
            input: "`... --tensor fake_img -o grid.gif` (images to a GIF)",
            error: |dir| render(dir, &["-o", "grid.gif", "--tensor", "fake_img"]),
        },
        Case {
            what: "flags",
            input: "`... --tensor fake_img --tensor seq` (images and sequences)",
            error: |dir| {
                render(
                    dir,
                    &["-o", "g.png", "--tensor", "fake_img", "--tensor", "seq"],
                )
            },
        },
        Case {
            what: "flags",
            input: "`... --padding 40000` (a picture too large to hold)",
            error: |dir| {
                render(
                    dir,
                    &["-o", "g.png", "--tensor", "fake_img", "--padding", "40000"],
                )
            },
        },
        Case {
            what: "flags",
            input: "`... --tensor fake_img --padding 6298` (a canvas just under 1 GiB, the encoder on top)",
            error: |dir| {
                render(
                    dir,
                    &["-o", "g.png", "--tensor", "fake_img", "--padding", "6298"],
                )
            },
        },
        Case {
            what: "flags",
            input: "`... --map denorm --mean 0.5,0.4,0.3 --std 0.2` on a grey tensor `[4, 1, 8, 8]`",
            error: |dir| {
                let grey: Vec<u8> = (0..4 * 64)
                    .flat_map(|i| (i as f32 / 256.0).to_le_bytes())
                    .collect();
                tensors(
                    &dir.join("grey.safetensors"),
                    &[("mask", safetensors::Dtype::F32, vec![4, 1, 8, 8], grey)],
                );
                vis(
                    dir,
                    &[
                        "render",
                        "grey.safetensors",
                        "-o",
                        "g.png",
                        "--map",
                        "denorm",
                        "--mean",
                        "0.5,0.4,0.3",
                        "--std",
                        "0.2",
                    ],
                )
            },
        },
        Case {
            what: "flags",
            input: "`... --tensor img --map unit` on a u8 tensor",
            error: |dir| {
                tensors(
                    &dir.join("bytes.safetensors"),
                    &[("img", safetensors::Dtype::U8, vec![1, 3, 2, 2], vec![7; 12])],
                );
                vis(
                    dir,
                    &[
                        "render",
                        "bytes.safetensors",
                        "-o",
                        "g.png",
                        "--tensor",
                        "img",
                        "--map",
                        "unit",
                    ],
                )
            },
        },
        Case {
            what: "flags",
            input: "`... --tensor $'x\\n\\e[2J'` (a name with a newline and a terminal escape)",
            error: |dir| render(dir, &["-o", "g.png", "--tensor", "x\n\u{1b}[2J"]),
        },
        Case {
            what: "flags",
            input: "`vis demo --threads 5000`",
            error: |dir| vis(dir, &["demo", "--threads", "5000"]),
        },
        Case {
            what: "flags",
            input: "`vis demo --threads 0`",
            error: |dir| vis(dir, &["demo", "--threads", "0"]),
        },
        Case {
            what: "flags",
            input: "`vis demo vae`",
            error: |dir| vis(dir, &["demo", "vae"]),
        },
        Case {
            what: "environment",
            input: "`RANK=two vis demo` (torchrun's variables)",
            error: |dir| {
                vis_env(
                    dir,
                    &["demo", "--iters", "1", "--work-dir", "w"],
                    &[("RANK", "two")],
                )
            },
        },
        Case {
            what: "file",
            input: "`vis render missing.safetensors -o grid.png`",
            error: |dir| vis(dir, &["render", "missing.safetensors", "-o", "grid.png"]),
        },
        Case {
            what: "file",
            input: "a file that is not safetensors",
            error: |dir| {
                std::fs::write(dir.join("notes.safetensors"), "just text").unwrap();
                vis(dir, &["render", "notes.safetensors", "-o", "grid.png"])
            },
        },
        Case {
            what: "file",
            input: "a safetensors file cut short",
            error: |dir| {
                samples(dir);
                let bytes = std::fs::read(dir.join("samples.safetensors")).unwrap();
                std::fs::write(dir.join("cut.safetensors"), &bytes[..bytes.len() - 100]).unwrap();
                vis(dir, &["render", "cut.safetensors", "-o", "grid.png"])
            },
        },
        Case {
            what: "file",
            input: "a FIFO (named pipe) as input",
            error: |dir| {
                let fifo = dir.join("pipe.safetensors");
                let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
                // SAFETY: a NUL-terminated path and a mode.
                assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
                vis(dir, &["render", "pipe.safetensors", "-o", "grid.png"])
            },
        },
        Case {
            what: "file",
            input: "a folder as input",
            error: |dir| {
                std::fs::create_dir(dir.join("run.safetensors")).unwrap();
                vis(dir, &["render", "run.safetensors", "-o", "grid.png"])
            },
        },
        Case {
            what: "file",
            input: "`vis render /dev/zero -o grid.png`",
            error: |dir| vis(dir, &["render", "/dev/zero", "-o", "grid.png"]),
        },
        Case {
            what: "file",
            input: "a sparse file of 3 GiB",
            error: |dir| {
                let file = std::fs::File::create(dir.join("sparse.safetensors")).unwrap();
                file.set_len(3 << 30).unwrap();
                vis(dir, &["render", "sparse.safetensors", "-o", "grid.png"])
            },
        },
        Case {
            what: "file",
            input: "a header of 2 MiB",
            error: |dir| {
                let n: u64 = 2 << 20;
                let mut bytes = n.to_le_bytes().to_vec();
                bytes.resize(8 + (2 << 20), b' ');
                std::fs::write(dir.join("big.safetensors"), bytes).unwrap();
                vis(dir, &["render", "big.safetensors", "-o", "grid.png"])
            },
        },
        Case {
            what: "file",
            input: "a file of integer tensors only",
            error: |dir| {
                tensors(
                    &dir.join("ids.safetensors"),
                    &[
                        ("ids", safetensors::Dtype::I64, vec![4], vec![0; 32]),
                        ("mask", safetensors::Dtype::U8, vec![1, 1, 2, 2], vec![0; 4]),
                    ],
                );
                vis(dir, &["render", "ids.safetensors", "-o", "grid.png"])
            },
        },
        Case {
            what: "folder",
            input: "`... --tensor fake_img -o no/such/dir/grid.png`",
            error: |dir| render(dir, &["-o", "no/such/dir/grid.png", "--tensor", "fake_img"]),
        },
        Case {
            what: "folder",
            input: "a file where the hook's `vis_image` folder should be",
            error: |dir| {
                std::fs::create_dir_all(dir.join("work_dir/vis_data")).unwrap();
                std::fs::write(dir.join("work_dir/vis_data/vis_image"), "").unwrap();
                let mut visualizer = Visualizer::local(dir.join("work_dir")).unwrap();
                let samples = [DataSample::new().with("fake_img", image(3, 8, 8))];
                visualizer
                    .add_datasample(&DrawRequest {
                        name: "fake_img",
                        samples: &samples,
                        target_keys: None,
                        vis_mode: VisMode::Image,
                        n_row: None,
                        step: 100,
                        extra: &Extra::new(),
                        pixels: None,
                    })
                    .unwrap();
                visualizer.close().unwrap_err().to_string()
            },
        },
        Case {
            what: "folder",
            input: "a second run into a work folder another run writes to",
            error: |dir| {
                let _other = OtherRun::start(&vis_core::vis_data_dir(dir.join("w")));
                vis(dir, &["demo", "--iters", "1", "--work-dir", "w"])
            },
        },
        Case {
            what: "output",
            input: "`... -o grid.png` where `grid.png` is read-only",
            error: |dir| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::write(dir.join("grid.png"), "keep me").unwrap();
                std::fs::set_permissions(
                    dir.join("grid.png"),
                    std::fs::Permissions::from_mode(0o444),
                )
                .unwrap();
                render(dir, &["-o", "grid.png", "--tensor", "fake_img"])
            },
        },
        Case {
            what: "output",
            input: "`... --tensor seq -o s.gif --frames-dir notes` (a folder of other files)",
            error: |dir| {
                std::fs::create_dir(dir.join("notes")).unwrap();
                std::fs::write(dir.join("notes/todo.txt"), "").unwrap();
                render(
                    dir,
                    &["-o", "s.gif", "--tensor", "seq", "--frames-dir", "notes"],
                )
            },
        },
        Case {
            what: "output",
            input: "`... --tensor fake_img -o g.png > /dev/full`",
            error: |dir| {
                samples(dir);
                let out = Command::new(env!("CARGO_BIN_EXE_vis"))
                    .args([
                        "render",
                        "samples.safetensors",
                        "-o",
                        "g.png",
                        "--tensor",
                        "fake_img",
                    ])
                    .current_dir(dir)
                    .stdout(std::fs::File::create("/dev/full").unwrap())
                    .output()
                    .unwrap();
                assert_eq!(out.status.code(), Some(1));
                let stderr = String::from_utf8_lossy(&out.stderr);
                stderr.lines().next().unwrap_or_default().to_owned()
            },
        },
    ]
}

/// An engine the hook never calls (for test-time rows).
struct NoEngine;

impl vis_core::Engine for NoEngine {
    type Inputs = ();

    fn batch_size(&self) -> usize {
        1
    }

    fn set_train(&mut self, _: bool) {}

    fn make_sampler(
        &mut self,
        _: &vis_core::SamplerSpec,
    ) -> Result<vis_core::Sampler<()>, vis_core::EngineError> {
        Err("no sampler".into())
    }

    fn val_step(&mut self, _: &()) -> Result<Vec<DataSample>, vis_core::EngineError> {
        Err("no model".into())
    }
}

/// A Markdown table cell holding `text` as code.
fn code(text: &str) -> String {
    let fence = if text.contains('`') { "``" } else { "`" };
    format!("{fence}{}{fence}", text.replace('|', "\\|"))
}

/// The rows the cases give, with the scratch folder's path replaced by `<dir>`.
fn rows() -> Vec<String> {
    cases()
        .iter()
        .map(|case| {
            let dir = tempfile::tempdir().unwrap();
            let error = (case.error)(dir.path());
            let root = dir.path().to_string_lossy().into_owned();
            let error = error.replace(&root, "<dir>");
            format!("| {} | {} | {} |", case.what, case.input, code(&error))
        })
        .collect()
}

/// The rows of the README's table under `## Bad input`.
fn readme_rows() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Bad input"))
        .expect("README has a '## Bad input' section");
    // The table whose header is `| what | input | error |`, up to the blank line after it.
    section
        .lines()
        .skip_while(|l| !l.starts_with("| what | input | error |"))
        .skip(2)
        .take_while(|l| l.starts_with("| "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_readme_bad_input_table_is_what_vis_says() {
    let rows = rows();
    if std::env::var_os("VIS_PRINT_BAD_INPUT_TABLE").is_some() {
        println!("| what | input | error |\n|---|---|---|");
        for row in &rows {
            println!("{row}");
        }
    }
    if std::env::var_os("VIS_PRINT_BAD_INPUT_TABLE").is_some() {
        for (args, peak) in PEAKS.lock().unwrap().iter() {
            println!(
                "peak RSS {:6.1} MiB  vis {}",
                *peak as f64 / f64::from(1 << 20),
                args.escape_debug()
            );
        }
    }
    let readme = readme_rows();
    for (i, row) in rows.iter().enumerate() {
        let documented = readme.get(i).map(String::as_str).unwrap_or("(missing)");
        assert_eq!(documented, row, "README bad-input row {}", i + 1);
    }
    assert_eq!(
        readme.len(),
        rows.len(),
        "the README has rows no case checks"
    );
}
