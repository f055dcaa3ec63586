//! The `encoders` table: PNG encoders side by side on the bench's own grids, in the same run.
//! vis's `Fast` (its adaptive filters, its deflate, strips in parallel) against the `png`
//! crate's `Fast` (fdeflate) and `Balanced` (zlib level 6 through miniz_oxide), zlib-rs at
//! level 1 and libdeflate at level 1 behind vis's own filters, and OpenCV's `cv2.imencode`
//! (what MMagic's `cv2.imwrite` runs) through the peer's Python when given. Every file is
//! decoded once and must give the grid back.
//!
//! zlib-rs is called directly rather than through `flate2`'s `zlib-rs` feature: the feature
//! would switch the `png` crate's own `flate2` (and so its `Balanced` row) to zlib-rs too.

use std::path::Path;
use std::process::Command;

use vis_ops::png_bench::{STRIP_BYTES, StripDeflate, encode_png_with};
use vis_ops::{PngSpeed, RgbImage, encode_png};

use crate::workload::Workload;
use crate::{Options, Row, median_ms};

/// An encoder of the table: its name, and whether it uses more than one thread.
struct Encoder {
    name: &'static str,
    parallel: bool,
    encode: fn(&RgbImage) -> Result<Vec<u8>, String>,
}

const ENCODERS: [Encoder; 5] = [
    Encoder {
        name: "vis Fast",
        parallel: true,
        encode: vis_fast,
    },
    Encoder {
        name: "png Fast",
        parallel: false,
        encode: |g| png_crate(g, png::Compression::Fast),
    },
    Encoder {
        name: "png Balanced",
        parallel: false,
        encode: |g| png_crate(g, png::Compression::Balanced),
    },
    Encoder {
        name: "zlib-rs 1",
        parallel: true,
        encode: |g| with_deflate(g, &zlib_rs_strip, STRIP_BYTES),
    },
    Encoder {
        name: "libdeflate 1",
        parallel: false,
        encode: |g| with_deflate(g, &libdeflate_whole, usize::MAX),
    },
];

fn vis_fast(grid: &RgbImage) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    encode_png(grid, PngSpeed::Fast, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// The `png` crate's own encoder: its adaptive filter and its compression.
fn png_crate(grid: &RgbImage, compression: png::Compression) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, grid.width() as u32, grid.height() as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(compression);
    encoder.set_filter(png::Filter::Adaptive);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer
        .write_image_data(grid.as_bytes())
        .map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// vis's filters and strips, with `deflate` compressing the strips.
fn with_deflate(
    grid: &RgbImage,
    deflate: &StripDeflate,
    strip_bytes: usize,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    encode_png_with(grid.view(), deflate, strip_bytes, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// zlib-rs level 1, raw deflate, a fresh stream per strip ending in a sync flush (the last in a
/// final block), as vis's own strips.
fn zlib_rs_strip(data: &[u8], last: bool) -> Vec<u8> {
    let mut deflate = zlib_rs::Deflate::new(1, false, 15);
    let mut out = vec![0; zlib_rs::compress_bound(data.len()) + 64];
    let flush = if last {
        zlib_rs::DeflateFlush::Finish
    } else {
        zlib_rs::DeflateFlush::SyncFlush
    };
    let status = deflate
        .compress(data, &mut out, flush)
        .expect("zlib-rs compresses");
    assert!(
        deflate.total_in() == data.len() as u64 && (!last || status == zlib_rs::Status::StreamEnd),
        "zlib-rs stopped short: {status:?}"
    );
    out.truncate(deflate.total_out() as usize);
    out
}

/// libdeflate level 1 on the whole image as one raw deflate stream (it has no sync flush, so
/// it cannot end a strip that is not the last).
fn libdeflate_whole(data: &[u8], last: bool) -> Vec<u8> {
    assert!(last, "libdeflate compresses the whole image at once");
    let mut compressor =
        libdeflater::Compressor::new(libdeflater::CompressionLvl::new(1).expect("level 1"));
    let mut out = vec![0; compressor.deflate_compress_bound(data.len())];
    let len = compressor
        .deflate_compress(data, &mut out)
        .expect("the bound suffices");
    out.truncate(len);
    out
}

/// Decodes a PNG and checks it is `grid`.
fn check(png_bytes: &[u8], grid: &RgbImage, what: &str) -> Result<(), String> {
    let mut reader = png::Decoder::new(std::io::Cursor::new(png_bytes))
        .read_info()
        .map_err(|e| format!("{what}: {e}"))?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or("no size")?];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("{what}: {e}"))?;
    if &buf[..info.buffer_size()] != grid.as_bytes() {
        return Err(format!("{what}: the decoded pixels differ from the grid"));
    }
    Ok(())
}

/// The table's rows for every workload's grid (a sequence's first frame), `threads` threads
/// for the encoders that use them (the caller installs the pool).
pub(crate) fn measure(
    workloads: &[Workload],
    threads: usize,
    opts: &Options,
) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for w in workloads {
        let grid = w.picture()?;
        for e in ENCODERS.iter().filter(|e| threads == 1 || e.parallel) {
            let mut result = Ok(Vec::new());
            let ms = median_ms(opts.min_reps, opts.budget_ms, || result = (e.encode)(&grid));
            let file = result?;
            check(&file, &grid, e.name)?;
            rows.push(Row {
                workload: w.name().to_owned(),
                stage: format!("png:{}", e.name),
                threads,
                median_ms: ms,
                bytes: file.len() as u64,
                mae: None,
                pixels: Some((grid.width() * grid.height()) as u64),
            });
        }
    }
    Ok(rows)
}

/// OpenCV's rows, timed by `benches/opencv_png.py` with `python` on the same grids (written as
/// raw RGB files into `tmp`).
pub(crate) fn opencv(
    python: &Path,
    workloads: &[Workload],
    tmp: &Path,
    opts: &Options,
) -> Result<Vec<Row>, String> {
    let mut grids = Vec::new();
    for w in workloads {
        let grid = w.picture()?;
        let path = tmp.join(format!("{}.rgb", w.name()));
        std::fs::write(&path, grid.as_bytes()).map_err(|e| e.to_string())?;
        grids.push(serde_json::json!({
            "workload": w.name(), "path": path, "width": grid.width(), "height": grid.height(),
        }));
    }
    let list = tmp.join("opencv-grids.json");
    std::fs::write(&list, serde_json::Value::Array(grids).to_string())
        .map_err(|e| e.to_string())?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("opencv_png.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(&list)
        .args(["--reps", &opts.min_reps.to_string()])
        .output()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("opencv_png.py: {e}"))?;
    let rows = json.as_array().ok_or("opencv_png.py: not a list")?;
    rows.iter()
        .map(|r| {
            Ok(Row {
                workload: r["workload"].as_str().ok_or("no workload")?.to_owned(),
                stage: "png:OpenCV".to_owned(),
                threads: 1,
                median_ms: r["ms"].as_f64().ok_or("no ms")?,
                bytes: r["bytes"].as_u64().ok_or("no bytes")?,
                mae: None,
                pixels: r["pixels"].as_u64(),
            })
        })
        .collect()
}
