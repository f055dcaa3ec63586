//! The `gallery` workload: the time of one gallery append (a picture's line, through
//! `GalleryVisBackend::add_image`) with 10 and with 10,000 earlier entries in the data file, the
//! second's ratio to the first being the evidence that an append is constant time (beside
//! what rewriting the whole file at each update, as CycleGAN's page does, costs); and the
//! page's own time to its first picture, and to reading its data, for a 10,000-step run of 3
//! names, measured in headless Chromium (skipped, saying so, when there is none).

#[path = "../../tests/browser/mod.rs"]
mod browser;

use std::path::Path;
use std::time::{Duration, Instant};

use vis_core::vis_ops::RgbImage;
use vis_core::{GALLERY_DATA, GALLERY_PAGE, GalleryVisBackend, Picture, VisBackend};

use crate::{Options, Row, median};

/// The earlier entries the appends are timed after.
const EARLIER: [usize; 2] = [10, 10_000];

/// The steps of the run the page opens.
const PAGE_STEPS: u64 = 10_000;

/// The workload's rows.
pub(crate) fn measure(tmp: &Path, opts: &Options) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for earlier in EARLIER {
        rows.push(append(tmp, earlier, opts)?);
    }
    rows.push(rewrite(tmp, EARLIER[1], opts)?);
    match browser::Chromium::find() {
        Some(chromium) => rows.extend(page(&chromium, tmp, opts)),
        None => eprintln!(
            "vis-bench: gallery page not timed: no Chromium on PATH (install Debian's chromium, \
             or set VIS_CHROMIUM)"
        ),
    }
    Ok(rows)
}

/// The median time of one append after `earlier` entries: the file is cut back to those
/// entries after each append (outside the timing), so every append meets the same file.
fn append(tmp: &Path, earlier: usize, opts: &Options) -> Result<Row, String> {
    let dir = tmp.join(format!("gallery-{earlier}"));
    let err = |e: &dyn std::fmt::Display| format!("gallery bench in {}: {e}", dir.display());
    let mut backend = GalleryVisBackend::new(&dir);
    backend.open().map_err(|e| err(&e))?;
    let picture =
        Picture::Image(RgbImage::from_raw(274, 274, vec![0; 274 * 274 * 3]).map_err(|e| err(&e))?);
    let line = |step: usize| {
        format!("vis.p(\"fake_img\",{step},\"vis_image/fake_img_{step}.png\",274,274);\n")
    };
    let data = dir.join(GALLERY_DATA);
    std::fs::write(&data, (0..earlier).map(line).collect::<String>()).map_err(|e| err(&e))?;
    let size = std::fs::metadata(&data).map_err(|e| err(&e))?.len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&data)
        .map_err(|e| err(&e))?;
    let budget = Duration::from_secs_f64(opts.budget_ms / 1e3);
    let reps = (opts.min_reps * 100).max(500);
    let start = Instant::now();
    let mut times = Vec::new();
    while times.len() < reps || (start.elapsed() < budget && times.len() < 20_000) {
        let t = Instant::now();
        backend
            .add_image("fake_img", &picture, earlier as u64)
            .map_err(|e| err(&e))?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        file.set_len(size).map_err(|e| err(&e))?;
    }
    Ok(Row {
        workload: "gallery".into(),
        stage: format!("append@{earlier}"),
        threads: 1,
        median_ms: median(times),
        bytes: size,
        mae: None,
        pixels: None,
    })
}

/// For comparison, what a page rewritten at every update costs (CycleGAN's `index.html`): the
/// whole file of `earlier` entries plus one written anew, atomically.
fn rewrite(tmp: &Path, earlier: usize, opts: &Options) -> Result<Row, String> {
    let target = tmp.join("gallery-rewrite.js");
    let text: String = (0..=earlier)
        .map(|step| {
            format!("vis.p(\"fake_img\",{step},\"vis_image/fake_img_{step}.png\",274,274);\n")
        })
        .collect();
    let mut failed = None;
    let ms = crate::median_ms(opts.min_reps * 10, opts.budget_ms, || {
        if let Err(e) = vis_core::vis_ops::fs::write_bytes_atomic(&target, text.as_bytes()) {
            failed = Some(e.to_string());
        }
    });
    if let Some(e) = failed {
        return Err(format!("gallery bench: {e}"));
    }
    Ok(Row {
        workload: "gallery".into(),
        stage: format!("rewrite@{earlier}"),
        threads: 1,
        median_ms: ms,
        bytes: text.len() as u64,
        mae: None,
        pixels: None,
    })
}

/// The page's time to its first picture and to reading its data, medians over a few opens.
fn page(chromium: &browser::Chromium, tmp: &Path, opts: &Options) -> Vec<Row> {
    let run = tmp.join("gallery-page");
    browser::long_run(&run, PAGE_STEPS);
    let dir = run.join("vis_data");
    let url = browser::file_url(&dir.join(GALLERY_PAGE));
    let bytes = std::fs::metadata(dir.join(GALLERY_DATA)).map_or(0, |m| m.len());
    let (mut first, mut read) = (Vec::new(), Vec::new());
    for _ in 0..opts.min_reps.clamp(3, 7) {
        let page = chromium.open(&url, Duration::from_secs(5));
        let body = page.tags("body").remove(0);
        let ms = |key: &str| body.get(key).and_then(|v| v.parse::<f64>().ok());
        first.extend(ms("data-first-picture-ms"));
        read.extend(ms("data-ready-ms"));
    }
    let row = |stage: &str, times| Row {
        workload: "gallery".into(),
        stage: stage.into(),
        threads: 1,
        median_ms: median(times),
        bytes,
        mae: None,
        pixels: None,
    };
    vec![row("page_read@10k", read), row("first_pic@10k", first)]
}
