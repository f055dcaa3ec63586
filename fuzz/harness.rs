//! What vis's fuzz targets do with their bytes. Each function takes arbitrary bytes, drives one
//! input surface of vis, and panics only when vis misbehaves: a panic inside vis, or a success
//! whose output does not decode to what was asked for. Errors are the expected answer to bad
//! input. The targets in `fuzz_targets/` call these under libFuzzer (nightly); the workspace's
//! `tests/fuzz_corpus.rs` includes this file and replays the committed seeds on stable.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use clap::Parser;
use vis_core::config::parse_json;
use vis_core::config::parse_toml;
use vis_core::kwargs::resolve;
use vis_core::{BasicHookConfig, ConcatConfig, HookConfig};
use vis_ops::{GifPalette, PngSpeed, RgbFrames, RgbImage, encode_gif, encode_png};

/// Hook configuration text, read as JSON and as TOML, as each of the config types; every
/// vis-kwargs entry of a hook config that parses is resolved for several batch sizes, 0 included.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for hook in [HookConfig::from_json(&text), HookConfig::from_toml(&text)]
        .into_iter()
        .flatten()
    {
        for kwargs in &hook.vis_kwargs_list {
            for batch_size in [0, 1, 3, 64] {
                let _ = resolve(kwargs, &hook, batch_size);
            }
        }
    }
    let _ = parse_json::<BasicHookConfig>(&text, None);
    let _ = parse_toml::<BasicHookConfig>(&text, None);
    let _ = parse_json::<ConcatConfig>(&text, None);
    let _ = parse_toml::<ConcatConfig>(&text, None);
}

/// `vis render` on arbitrary file bytes with flags picked by the first three bytes, in a
/// scratch folder of this process.
pub fn render(data: &[u8]) {
    static SCRATCH: OnceLock<PathBuf> = OnceLock::new();
    let dir = SCRATCH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("vis-fuzz-render-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch folder for the fuzz target");
        dir
    });
    render_in(dir, data);
}

/// `vis render` in `dir`: bytes 0..3 pick the flags, the rest is the `.safetensors` file. On
/// success the picture must decode with the size and frame count `vis render` reported.
pub fn render_in(dir: &Path, data: &[u8]) {
    let Some((&[a, b, c], file)) = data.split_first_chunk::<3>() else {
        return;
    };
    let input = dir.join("input.safetensors");
    std::fs::write(&input, file).expect("writing the fuzz input");
    let gif = a & 1 == 1;
    let output = dir.join(if gif { "out.gif" } else { "out.png" });
    let frames_dir = dir.join("frames");
    let _ = std::fs::remove_file(&output);
    let _ = std::fs::remove_dir_all(&frames_dir);

    let mut args: Vec<String> = vec![
        "vis".into(),
        "render".into(),
        input.display().to_string(),
        "-o".into(),
        output.display().to_string(),
    ];
    let mut push = |flags: &[&str]| args.extend(flags.iter().map(|f| (*f).to_owned()));
    match (a >> 1) & 7 {
        0 => {}
        1 => push(&["--map", "identity"]),
        2 => push(&["--map", "denorm", "--mean", "127.5", "--std", "127.5"]),
        3 => push(&[
            "--map",
            "denorm",
            "--mean",
            "0.5,0.4,0.3",
            "--std",
            "0.2,0.2,0",
        ]),
        4 => push(&["--map", "range"]),
        5 => push(&["--map", "range", "--scale-each"]),
        6 => push(&["--map", "range", "--lo", "-1", "--hi", "1"]),
        _ => push(&["--map", "unit", "--mean", "1"]),
    }
    if a & 0x10 != 0 {
        push(&["--quantize", "truncate"]);
    }
    if a & 0x20 != 0 {
        push(&["--order", "bgr"]);
    }
    if a & 0x40 != 0 {
        push(&["--frames-dir", &frames_dir.display().to_string()]);
    }
    if a & 0x80 != 0 {
        push(&["--tensor", "fake_img"]);
    }
    if b & 0x0f != 0 {
        push(&["--nrow", &(b & 0x0f).to_string()]);
    }
    // Small paddings, and two absurd ones that must be refused before any allocation.
    let padding = match b >> 4 {
        15 => 40_000,
        14 => u32::MAX,
        p => u32::from(p),
    };
    push(&["--padding", &padding.to_string()]);
    if c & 0x07 != 0 {
        push(&["--n-skip", &(c & 0x07).to_string()]);
    }
    match (c >> 3) & 3 {
        0 => {}
        1 => push(&["--fps", "1"]),
        2 => push(&["--fps", "25"]),
        _ => push(&["--fps", "0.5"]),
    }
    if c & 0x20 != 0 {
        push(&["--pad-byte", "255"]);
    }

    let Ok(cli) = vis_cli::Cli::try_parse_from(&args) else {
        return;
    };
    if vis_cli::run(cli).is_err() {
        return;
    }
    let bytes = std::fs::read(&output).expect("vis render succeeded, so its output exists");
    if gif {
        let (w, h, frames) =
            decode_gif(&bytes).expect("vis render wrote a GIF that does not decode");
        assert!(
            w > 0 && h > 0 && frames > 0,
            "vis render wrote an empty GIF"
        );
    } else {
        let (w, h, _) = decode_png(&bytes).expect("vis render wrote a PNG that does not decode");
        assert!(w > 0 && h > 0);
    }
}

/// The `.safetensors` header reader on arbitrary file bytes: a header that is accepted must
/// describe tensors that lie inside the file, and every tensor of a drawable type must read back
/// with as many elements as its shape says; nothing may panic.
pub fn header(data: &[u8]) {
    let Ok(mut file) = vis_ops::TensorFile::from_bytes(data.to_vec()) else {
        return;
    };
    let entries: Vec<vis_ops::TensorEntry> = file.tensors().to_vec();
    let total: usize = entries.iter().map(vis_ops::TensorEntry::data_bytes).sum();
    assert!(total <= data.len(), "tensors larger than the file");
    let _ = file.select(&[]);
    for entry in &entries {
        let _ = entry.dims();
        assert!(
            file.get(entry.name()).is_ok(),
            "a listed tensor is not found"
        );
        match file.read(entry) {
            Ok(tensor) => {
                let count: usize = entry.shape().iter().product();
                assert_eq!(
                    tensor.elements().len(),
                    count,
                    "elements of {:?}",
                    entry.name()
                );
                assert!(entry.has_drawable_dtype());
            }
            Err(_) => assert!(
                !entry.has_drawable_dtype(),
                "a drawable tensor did not read"
            ),
        }
    }
}

/// The PNG and GIF encoders on an arbitrary picture: bytes 0..6 give the width, height, frame
/// count and settings, the rest the pixels (repeated as needed). A PNG that encodes must decode
/// to exactly the same pixels; a GIF must decode to as many frames of the same size.
pub fn encoders(data: &[u8]) {
    let Some((head, pixels)) = data.split_first_chunk::<6>() else {
        return;
    };
    let mut width = usize::from(u16::from_le_bytes([head[0], head[1]]));
    let height = usize::from(u16::from_le_bytes([head[2], head[3]]));
    let count = usize::from(head[4] & 7);
    let settings = head[5];
    if settings & 0x80 != 0 {
        // Past the largest GIF side.
        width += usize::from(u16::MAX);
    }
    // Keep each run to a quarter megabyte so that the fuzzer explores shapes, not the allocator.
    let frame_bytes = width.saturating_mul(height).saturating_mul(3);
    if frame_bytes.saturating_mul(count.max(1)) > 1 << 18 {
        return;
    }
    let fill = |len: usize| -> Vec<u8> {
        if pixels.is_empty() {
            vec![0; len]
        } else {
            pixels.iter().copied().cycle().take(len).collect()
        }
    };

    let speed = match settings & 3 {
        0 | 3 => PngSpeed::Fast,
        1 => PngSpeed::Balanced,
        _ => PngSpeed::High,
    };
    // The best compression is slow: small pictures only.
    let affordable = speed != PngSpeed::High || frame_bytes <= 3 * 4096;
    if let Some(image) = affordable
        .then(|| RgbImage::from_raw(width, height, fill(frame_bytes)).ok())
        .flatten()
    {
        let mut png = Vec::new();
        if encode_png(&image, speed, &mut png).is_ok() {
            let (w, h, decoded) = decode_png(&png).expect("an encoded PNG must decode");
            assert_eq!((w as usize, h as usize), (width, height), "PNG size");
            assert!(
                decoded == image.as_bytes(),
                "PNG pixels differ after a round trip"
            );
        }
    }

    let palette = if settings & 4 == 0 {
        GifPalette::PerFrame
    } else {
        GifPalette::Global
    };
    let delay_cs = u16::from(settings >> 3 & 0x0f);
    if let Ok(frames) = RgbFrames::from_raw(width, height, count, fill(frame_bytes * count)) {
        let mut gif = Vec::new();
        if encode_gif(&frames, delay_cs, palette, &mut gif).is_ok() {
            let decoded = decode_gif(&gif).expect("an encoded GIF must decode");
            assert_eq!(decoded, (width, height, count), "GIF size and frame count");
        }
    }
}

/// Width, height and RGB(A) bytes of a PNG.
fn decode_png(bytes: &[u8]) -> Result<(u32, u32, Vec<u8>), png::DecodingError> {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info()?;
    let size = reader.output_buffer_size().unwrap_or(0);
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf)?;
    buf.truncate(info.buffer_size());
    Ok((info.width, info.height, buf))
}

/// The width, height and number of frames of a GIF.
fn decode_gif(bytes: &[u8]) -> Result<(usize, usize, usize), gif::DecodingError> {
    let mut decoder = gif::DecodeOptions::new().read_info(bytes)?;
    let (width, height) = (usize::from(decoder.width()), usize::from(decoder.height()));
    let mut frames = 0;
    while decoder.read_next_frame()?.is_some() {
        frames += 1;
    }
    Ok((width, height, frames))
}
