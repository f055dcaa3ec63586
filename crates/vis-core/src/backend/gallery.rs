//! `GalleryVisBackend`: one page that shows every picture of a run, at every step.
//!
//! Given the folder `d` a [`LocalVisBackend`](super::LocalVisBackend) writes its pictures under
//! (`d/vis_image/`), it writes `d/index.html` once (atomically, and never again: an existing
//! page is left as it is) and appends one line per picture and per scalar record to
//! `d/gallery-data.js`, which the page loads with a `<script src>` (so it works from `file://`,
//! where `fetch` is blocked, and from any static web server). An append is one `write` of a
//! whole line: constant time, nothing read or rewritten, and a failed write is cut back off.
//!
//! Each line is one call, for example
//! `vis.p("fake_img",100,"vis_image/fake_img_100.png",274,274);` (a picture: name, step, file,
//! width, height) or `vis.s(100,{"loss/loss_gen":0.71});` (scalars at a step).
//!
//! The run's main process writes the page and the scalars; the other ranks add the lines of
//! their own pictures (their share of validation and test results). A new run starts its data
//! afresh, as `scalars.json`: when the main process opens the backend, an earlier run's file is
//! moved to `gallery-data.js.prev`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::run_lock::RunLock;
use super::{Picture, VisBackend, append_line, ensure_dir};
use crate::error::Result;
use crate::rank::is_main_process;
use crate::visualizer::check_picture_name;

/// The page, written once into the folder.
const PAGE: &str = include_str!("gallery.html");

/// The page's file name.
pub const GALLERY_PAGE: &str = "index.html";

/// The data file's name.
pub const GALLERY_DATA: &str = "gallery-data.js";

/// Writes the gallery page of `{save_dir}` and appends a line per picture and scalar record.
#[derive(Clone, Debug)]
pub struct GalleryVisBackend {
    save_dir: PathBuf,
    /// Known once opened: the folder's run lock on the main process, none on other ranks.
    run: Option<Option<Arc<RunLock>>>,
}

impl GalleryVisBackend {
    /// A gallery of the pictures a `LocalVisBackend` writes under `save_dir`.
    pub fn new(save_dir: impl Into<PathBuf>) -> Self {
        Self {
            save_dir: save_dir.into(),
            run: None,
        }
    }

    /// The page.
    pub fn page_path(&self) -> PathBuf {
        self.save_dir.join(GALLERY_PAGE)
    }

    /// The data file the page reads.
    pub fn data_path(&self) -> PathBuf {
        self.save_dir.join(GALLERY_DATA)
    }

    /// Appends `line` to the data file.
    fn append(&mut self, line: &str) -> Result<()> {
        VisBackend::open(self)?;
        append_line(&self.data_path(), line)
    }
}

/// `value` as a JavaScript literal (JSON is one).
fn js(value: impl Into<serde_json::Value>) -> String {
    value.into().to_string()
}

/// A scalar value as JavaScript: `NaN` and the infinities spelled as it knows them.
fn js_number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        js(value)
    }
}

impl VisBackend for GalleryVisBackend {
    fn name(&self) -> &str {
        "GalleryVisBackend"
    }

    fn open(&mut self) -> Result<()> {
        if self.run.is_some() {
            return Ok(());
        }
        let run = if is_main_process()? {
            let run = RunLock::acquire(&self.save_dir)?;
            let page = self.page_path();
            if !page.exists() {
                vis_ops::fs::write_bytes_atomic(&page, PAGE.as_bytes())?;
            }
            // At once, before any rank adds its pictures: the page shows this run only.
            run.start_log(&self.data_path())?;
            Some(run)
        } else {
            None
        };
        self.run = Some(run);
        Ok(())
    }

    fn add_image(&mut self, name: &str, picture: &Picture, step: u64) -> Result<()> {
        check_picture_name(name)?;
        ensure_dir(&self.save_dir)?;
        let file = format!("vis_image/{name}_{step}.{}", picture.extension());
        let (width, height) = picture.size();
        self.append(&format!(
            "vis.p({},{step},{},{width},{height});\n",
            js(name),
            js(file)
        ))
    }

    fn add_scalar(&mut self, name: &str, value: f64, step: u64) -> Result<()> {
        self.add_scalars(&BTreeMap::from([(name.to_owned(), value)]), step, None)
    }

    fn add_scalars(
        &mut self,
        scalars: &BTreeMap<String, f64>,
        step: u64,
        _file_path: Option<&str>,
    ) -> Result<()> {
        VisBackend::open(self)?;
        // Other ranks log nothing (mmengine's `master_only`).
        if !matches!(self.run, Some(Some(_))) {
            return Ok(());
        }
        let fields: Vec<String> = scalars
            .iter()
            .map(|(k, v)| format!("{}:{}", js(k.as_str()), js_number(*v)))
            .collect();
        self.append(&format!("vis.s({step},{{{}}});\n", fields.join(",")))
    }
}
