//! The README's bad-input table, row by row. Every case below feeds one kind of bad input to vis
//! (a config, a tensor, a flag, a file, a folder), takes the error it gives, and renders the
//! table row `| what | input | error |`; the test checks that the README's table is exactly these
//! rows, so each row is a test and the table cannot drift from what vis says.
//!
//! `VIS_PRINT_BAD_INPUT_TABLE=1 cargo test -p vis-cli --test bad_input` prints the table.

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

/// The first line `vis args...` prints on stderr, run in `dir`; the command must fail.
fn vis(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_vis"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(!out.status.success(), "vis {args:?} succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr.lines().next().unwrap_or_default().to_owned()
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
            input: "`... --tensor seq -o seq.png` (a sequence to a PNG)",
            error: |dir| render(dir, &["-o", "seq.png", "--tensor", "seq"]),
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
            input: "`vis demo vae`",
            error: |dir| vis(dir, &["demo", "vae"]),
        },
        Case {
            what: "environment",
            input: "`RANK=two vis demo` (torchrun's variables)",
            error: |dir| {
                let out = Command::new(env!("CARGO_BIN_EXE_vis"))
                    .args(["demo", "--iters", "1", "--work-dir", "w"])
                    .env("RANK", "two")
                    .current_dir(dir)
                    .output()
                    .unwrap();
                assert!(!out.status.success());
                let stderr = String::from_utf8_lossy(&out.stderr);
                stderr.lines().next().unwrap_or_default().to_owned()
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
            what: "folder",
            input: "`... --tensor fake_img -o no/such/dir/grid.png`",
            error: |dir| render(dir, &["-o", "no/such/dir/grid.png", "--tensor", "fake_img"]),
        },
        Case {
            what: "folder",
            input: "a file where the hook's `vis_image` folder should be",
            error: |dir| {
                std::fs::create_dir(dir.join("work_dir")).unwrap();
                std::fs::write(dir.join("work_dir/vis_image"), "").unwrap();
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
                    })
                    .unwrap();
                visualizer.close().unwrap_err().to_string()
            },
        },
    ]
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
    section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| what |"))
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
