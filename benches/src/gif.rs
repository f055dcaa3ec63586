//! The `gif` rows: where a GIF's time goes on small frames. quantette's Wu quantizer, timed in
//! its three steps (the histogram with its cumulative moments, the palette's cuts, mapping the
//! pixels) on one 266x266 frame of the ddpm workload and on the 1034x2066 pix2pix grid, so the
//! per-frame fixed cost shows in megapixels per second; then `encode_gif` of the ddpm workload's
//! 10 frames with a palette per frame and with one global palette (time, bytes, mean error).

use quantette::deps::palette::{Srgb, cast::from_component_slice};
use quantette::wu::{BinnerU8x3, WuU8x3};
use quantette::{ImageRef, PaletteSize};
use vis_ops::{GifPalette, RgbFrames, encode_gif};

use crate::workload::Workload;
use crate::{Options, Row, median_ms};

/// The rows, at `threads` threads (the caller installs the pool).
pub(crate) fn measure(
    workloads: &[Workload],
    threads: usize,
    tmp: &std::path::Path,
    opts: &Options,
) -> Result<Vec<Row>, String> {
    let time = |f: &mut dyn FnMut()| median_ms(opts.min_reps, opts.budget_ms, f);
    let ddpm = workloads
        .iter()
        .find(|w| w.name().starts_with("ddpm"))
        .ok_or("no ddpm workload")?;
    let frames = ddpm.frames()?;
    let mut rows = Vec::new();
    let row = |workload: &str, stage: &str, ms: f64, bytes: u64, pixels: usize| Row {
        workload: workload.to_owned(),
        stage: stage.to_owned(),
        threads,
        median_ms: ms,
        bytes,
        mae: None,
        pixels: Some(pixels as u64),
    };
    if threads == 1 {
        let mut pictures = vec![(ddpm.name(), ddpm.picture()?)];
        if let Some(pix2pix) = workloads.iter().find(|w| w.name().starts_with("pix2pix")) {
            pictures.push((pix2pix.name(), pix2pix.picture()?));
        }
        for (name, picture) in &pictures {
            let colours: &[Srgb<u8>] = from_component_slice(picture.as_bytes());
            let image =
                ImageRef::new(colours.len() as u32, 1, colours).map_err(|e| e.to_string())?;
            let pixels = colours.len();
            let wu = || WuU8x3::run_image(image, BinnerU8x3::<32, 32, 32>::new());
            let histogram_ms = time(&mut || drop(wu()));
            let quantizer = wu().ok_or("an empty picture")?;
            let palette_ms = time(&mut || drop(quantizer.color_map(PaletteSize::MAX)));
            let map = quantizer.color_map(PaletteSize::MAX);
            let mapping_ms = time(&mut || drop(image.map_to_indexed(&map)));
            rows.push(row(name, "gif:histogram", histogram_ms, 0, pixels));
            rows.push(row(name, "gif:palette", palette_ms, 0, pixels));
            rows.push(row(name, "gif:mapping", mapping_ms, 0, pixels));
        }
    }
    for (stage, palette) in [
        ("gif:per-frame", GifPalette::PerFrame),
        ("gif:global", GifPalette::Global),
    ] {
        let mut out = Vec::new();
        let mut result = Ok(());
        let ms = time(&mut || {
            out.clear();
            result = encode_gif(&frames, 2, palette, &mut out);
        });
        result.map_err(|e| e.to_string())?;
        let path = tmp.join(format!(
            "{}_{threads}.gif",
            stage.trim_start_matches("gif:")
        ));
        std::fs::write(&path, &out).map_err(|e| e.to_string())?;
        rows.push(Row {
            mae: Some(crate::workload::gif_mae(&path, &frames)?),
            ..row(ddpm.name(), stage, ms, out.len() as u64, pixels_of(&frames))
        });
    }
    Ok(rows)
}

fn pixels_of(frames: &RgbFrames) -> usize {
    frames.width() * frames.height() * frames.len()
}
