//! Every golden case of `tests/golden` through the library (each kernel) and through the
//! `vis` binary (its PNG, its lossless frames, its GIF and its APNG decoded and compared).

mod common;

use std::process::Command;

use common::{Case, cases, first_difference, read_apng};
use vis_ops::{ImageBatch, Kernel, Renderer, TensorFile};

const KERNELS: [Kernel; 5] = [
    Kernel::Scalar,
    Kernel::Wide,
    Kernel::Simd,
    Kernel::Parallel,
    Kernel::Auto,
];

/// Draws `case` with `kernel`: one grid, or the selected frames concatenated.
fn draw(case: &Case, kernel: Kernel) -> Result<Vec<u8>, vis_ops::Error> {
    let mut file = TensorFile::open(&case.input())?;
    let tensors = case
        .tensors
        .iter()
        .map(|n| {
            let entry = file.get(n)?.clone();
            file.read(&entry)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let batches = tensors
        .iter()
        .map(|t| t.batch())
        .collect::<Result<Vec<ImageBatch<'_>>, _>>()?;
    let r = Renderer::new(kernel);
    Ok(match &case.frames {
        None => r.grid(&batches, &case.spec)?.into_bytes(),
        Some(frames) => r.frames(&batches, &case.spec, frames)?.as_bytes().to_vec(),
    })
}

#[test]
fn every_golden_case_through_every_kernel() {
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        let (_, w) = case.grid_size();
        for kernel in KERNELS {
            match draw(case, kernel) {
                Ok(got) => {
                    if let Some(diff) = first_difference(&got, &case.expected, w) {
                        failures.push(format!("{} ({kernel:?}): {diff}", case.name));
                    }
                }
                Err(e) => failures.push(format!("{} ({kernel:?}): {e}", case.name)),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden cases x kernels failed:\n{}",
        failures.len(),
        cases.len() * KERNELS.len(),
        failures.join("\n")
    );
    eprintln!(
        "{} golden cases x {} kernels exact",
        cases.len(),
        KERNELS.len()
    );
}

/// Decodes an 8-bit RGB PNG.
fn read_png(path: &std::path::Path) -> (usize, usize, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    (info.width as usize, info.height as usize, buf)
}

/// Runs `vis render` on `case` into `out` with `extra` flags; the failure, if it failed.
fn render(case: &Case, out: &std::path::Path, extra: &[&std::ffi::OsStr]) -> Result<(), String> {
    let output = Command::new(env!("CARGO_BIN_EXE_vis"))
        .arg("render")
        .arg(case.input())
        .arg("-o")
        .arg(out)
        .args(&case.cli_flags)
        .args(extra)
        .output()
        .unwrap();
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{}: exit {:?}: {}",
        case.name,
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    ))
}

#[test]
fn every_golden_case_through_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        let (h, w) = case.grid_size();
        let is_sequence = case.frames.is_some();
        let out = tmp.path().join(format!(
            "{}.{}",
            case.name,
            if is_sequence { "gif" } else { "png" }
        ));
        let frames_dir = tmp.path().join(format!("{}_frames", case.name));
        let extra = [std::ffi::OsStr::new("--frames-dir"), frames_dir.as_os_str()];
        if let Err(e) = render(case, &out, if is_sequence { &extra } else { &[] }) {
            failures.push(e);
            continue;
        }
        let got = if is_sequence {
            let frames = case.frame_indices.len();
            let mut all = Vec::new();
            for i in 0..frames {
                let (fw, fh, px) = read_png(&frames_dir.join(format!("frame_{i:04}.png")));
                assert_eq!((fw, fh), (w, h), "{}", case.name);
                all.extend(px);
            }
            assert!(!frames_dir.join(format!("frame_{frames:04}.png")).exists());
            check_gif(case, &out);
            // The same sequence as an APNG: every frame exact.
            let apng = tmp.path().join(format!("{}.png", case.name));
            match render(case, &apng, &[]) {
                Ok(()) => check_apng(case, &apng, &all),
                Err(e) => failures.push(e),
            }
            all
        } else {
            let (gw, gh, px) = read_png(&out);
            assert_eq!((gw, gh), (w, h), "{}", case.name);
            px
        };
        if let Some(diff) = first_difference(&got, &case.expected, w) {
            failures.push(format!("{}: {diff}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden cases failed through `vis render`:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The APNG of a sequence case: size, frame count, every delay exactly `1 / fps`, an endless
/// loop, and the frames' bytes `frames` (the lossless stills, checked against the case).
fn check_apng(case: &Case, path: &std::path::Path, frames: &[u8]) {
    let (h, w) = case.grid_size();
    let apng = read_apng(path);
    assert_eq!(apng.size, (w, h), "{}", case.name);
    assert_eq!(apng.plays, 0, "{}: loops forever", case.name);
    assert_eq!(
        apng.frames.len(),
        case.frame_indices.len(),
        "{}: frames",
        case.name
    );
    let spec = case.frames.unwrap();
    let delay = spec.apng_delay();
    // 1/fps exactly: numerator * fps == denominator for the cases' whole fps.
    assert!(
        (f64::from(delay.numerator) * spec.fps - f64::from(delay.denominator)).abs() < 1e-9,
        "{}: {delay:?} for {} fps",
        case.name,
        spec.fps
    );
    let mut all = Vec::new();
    for (i, (got, px)) in apng.frames.into_iter().enumerate() {
        assert_eq!(
            got,
            (delay.numerator, delay.denominator),
            "{} frame {i}",
            case.name
        );
        all.extend(px);
    }
    assert!(
        all == frames,
        "{}: APNG frames differ from the stills",
        case.name
    );
}

/// The GIF of a sequence case: frame count, size, delay, endless loop; colours exact in frames
/// of at most 256 colours, close (mean error under 3 per channel) in the others.
fn check_gif(case: &Case, path: &std::path::Path) {
    let (h, w) = case.grid_size();
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::RGBA);
    let mut dec = opts.read_info(std::fs::File::open(path).unwrap()).unwrap();
    assert_eq!((dec.width() as usize, dec.height() as usize), (w, h));
    let delay = case.frames.unwrap().gif_delay_cs();
    let frame_bytes = w * h * 3;
    let mut count = 0;
    while let Some(f) = dec.read_next_frame().unwrap() {
        assert_eq!(f.delay, delay, "{}", case.name);
        let got: Vec<u8> = f
            .buffer
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        let want = &case.expected[count * frame_bytes..(count + 1) * frame_bytes];
        let colours: std::collections::HashSet<&[u8]> = want.chunks_exact(3).collect();
        if colours.len() <= 256 {
            if let Some(diff) = first_difference(&got, want, w) {
                panic!(
                    "{} frame {count} ({} colours): {diff}",
                    case.name,
                    colours.len()
                );
            }
        } else {
            let mae = got
                .iter()
                .zip(want)
                .map(|(a, b)| a.abs_diff(*b) as f64)
                .sum::<f64>()
                / got.len() as f64;
            assert!(mae < 3.0, "{} frame {count}: mean error {mae}", case.name);
        }
        count += 1;
    }
    assert_eq!(
        count,
        case.frame_indices.len(),
        "{}: frame count",
        case.name
    );
    assert_eq!(
        dec.repeat(),
        gif::Repeat::Infinite,
        "{}: loops forever",
        case.name
    );
}
