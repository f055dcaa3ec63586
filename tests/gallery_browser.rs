//! The gallery page in a real browser. Headless Chromium opens the page of a real run's folder
//! (`vis demo gan --iters 60 --interval 20`) from `file://`, as a user double-clicking it does:
//! the latest picture of every name, a deep link to a step, a missing picture file, a torn data
//! file, 10,000 steps of 3 names; and over `http://` a harness (tests/browser/harness.html)
//! drives its controls. Without Chromium these tests print why and pass, except under CI.

mod browser;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use browser::{Chromium, Page, Server, file_url};
use serde_json::Value;
use vis_core::vis_ops::{FrameSpec, RgbFrames};
use vis_core::{GALLERY_DATA, GALLERY_PAGE, Picture, Visualizer};

/// The folder of one short demo run, shared by the tests (which copy it to change it).
fn demo_run() -> &'static Path {
    static RUN: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_vis"))
            .args(["demo", "gan", "--iters", "60", "--interval", "20"])
            .arg("--work-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let page = dir.path().join("vis_data").join(GALLERY_PAGE);
        assert!(
            stdout.contains(&format!("gallery of every step: {}", page.display())),
            "{stdout}"
        );
        let vis_data = dir.path().join("vis_data");
        (dir, vis_data)
    })
    .1
}

/// A copy of the demo's folder to change.
fn copy_of_demo() -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(demo_run(), copy.path());
    copy
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The page's state after its scripts ran, for each section: the step of its first figure.
fn shown_steps(page: &Page) -> BTreeMap<String, String> {
    let mut shown = BTreeMap::new();
    let mut current = None;
    // Sections, then their images, in document order.
    let dom = &page.dom;
    let mut at = 0;
    while let Some(next) = dom[at..].find('<') {
        at += next;
        let rest = &dom[at..];
        if rest.starts_with("<section") {
            let tag = &rest[..rest.find('>').unwrap()];
            let name = tag.split("data-name=\"").nth(1).unwrap();
            current = Some(name[..name.find('"').unwrap()].to_owned());
        } else if rest.starts_with("<img")
            && let Some(name) = current.take()
        {
            let tag = &rest[..rest.find('>').unwrap()];
            let step = tag
                .split("data-step=\"")
                .nth(1)
                .map(|s| s[..s.find('"').unwrap()].to_owned())
                .unwrap_or_default();
            shown.insert(name, step);
        }
        at += 1;
    }
    shown
}

/// The page's own account of what it read.
fn body(page: &Page) -> BTreeMap<String, String> {
    page.tags("body").remove(0)
}

/// The pictures a data file lists: file -> (name, step).
fn listed(data: &str) -> BTreeMap<String, (String, u64)> {
    data.lines()
        .filter_map(|line| line.strip_prefix("vis.p(")?.strip_suffix(");"))
        .map(|args| {
            let values: Value = serde_json::from_str(&format!("[{args}]")).unwrap();
            (
                values[2].as_str().unwrap().to_owned(),
                (
                    values[0].as_str().unwrap().to_owned(),
                    values[1].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

fn open(chromium: &Chromium, dir: &Path, link: &str) -> Page {
    let url = format!("{}{link}", file_url(&dir.join(GALLERY_PAGE)));
    chromium.open(&url, Duration::from_secs(5))
}

#[test]
fn the_demo_gallery_opens_at_the_latest_picture_of_every_name() {
    let Some(chromium) = Chromium::for_test() else {
        return;
    };
    let dir = demo_run();
    let page = open(&chromium, dir, "");
    assert_eq!(page.console, Vec::<String>::new(), "the console");
    let shown = shown_steps(&page);
    assert_eq!(
        shown,
        BTreeMap::from([
            ("fake_img".to_owned(), "60".to_owned()),
            ("test_fake_img".to_owned(), "99".to_owned()),
        ])
    );
    let fake = page.tag_with("img", "alt", "fake_img");
    assert_eq!(fake["src"], "vis_image/fake_img_60.png");
    // Each section has two figures (the second for comparing): no image per step.
    assert_eq!(page.tags("img").len(), 4);
    assert!(page.tag_with("div", "id", "notice").contains_key("hidden"));

    // Every picture under vis_image/ is one the page lists, at the step its name says, and the
    // page counts them all: each name's slider runs over all of its steps.
    let data = std::fs::read_to_string(dir.join(GALLERY_DATA)).unwrap();
    let listed = listed(&data);
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir.join("vis_image"))
        .unwrap()
        .map(|e| format!("vis_image/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    assert_eq!(listed.keys().cloned().collect::<BTreeSet<_>>(), on_disk);
    for (file, (name, step)) in &listed {
        assert_eq!(file, &format!("vis_image/{name}_{step}.png"));
    }
    assert_eq!(body(&page)["data-pictures"], listed.len().to_string());
    for (name, count) in [("fake_img", 3), ("test_fake_img", 100)] {
        let slider = page
            .tags("input")
            .into_iter()
            .filter(|a| a.get("type").map(String::as_str) == Some("range"))
            .find(|a| a.get("max").is_some_and(|m| m == &(count - 1).to_string()));
        assert!(slider.is_some(), "{name}: no slider over {count} steps");
        assert!(
            page.text_of(&format!("pic-{name}"))
                .contains(&format!("of {count}")),
            "{name}"
        );
    }
    // The losses (adversarial and the auxiliary classifier's) and the quality figures, each
    // as a chart.
    let charts: BTreeSet<String> = page
        .tags("svg")
        .into_iter()
        .map(|a| a["data-tag"].clone())
        .collect();
    assert_eq!(
        charts,
        BTreeSet::from([
            "loss/loss_disc".to_owned(),
            "loss/loss_disc_class".to_owned(),
            "loss/loss_gen".to_owned(),
            "loss/loss_gen_class".to_owned(),
            "quality/colour_coverage".to_owned(),
            "quality/confident_shapes".to_owned(),
            "quality/kind_coverage".to_owned(),
            "quality/pixel_statistics_distance".to_owned()
        ])
    );
}

#[test]
fn a_deep_link_opens_the_step_it_names() {
    let Some(chromium) = Chromium::for_test() else {
        return;
    };
    let dir = demo_run();
    let page = open(&chromium, dir, "#name=fake_img&step=40");
    assert_eq!(page.console, Vec::<String>::new());
    let shown = shown_steps(&page);
    assert_eq!(shown["fake_img"], "40");
    assert_eq!(shown["test_fake_img"], "99");
    assert_eq!(
        page.tag_with("img", "alt", "fake_img")["src"],
        "vis_image/fake_img_40.png"
    );
    assert_eq!(
        page.tag_with("section", "data-name", "fake_img")["class"],
        "current"
    );
    // A step between two pictures shows the one before it; another name, its step.
    assert_eq!(
        shown_steps(&open(&chromium, dir, "#name=fake_img&step=59"))["fake_img"],
        "40"
    );
    assert_eq!(
        shown_steps(&open(&chromium, dir, "#name=test_fake_img&step=7"))["test_fake_img"],
        "7"
    );
    // A name the run has no pictures of says so.
    let page = open(&chromium, dir, "#name=fake_imgs&step=40");
    assert!(
        page.text_of("notice")
            .contains("\"fake_imgs\": this run has no pictures of that name"),
        "{}",
        page.text_of("notice")
    );
}

#[test]
fn a_missing_picture_file_shows_a_placeholder_that_names_it() {
    let Some(chromium) = Chromium::for_test() else {
        return;
    };
    let copy = copy_of_demo();
    std::fs::remove_file(copy.path().join("vis_image/fake_img_60.png")).unwrap();
    let page = open(&chromium, copy.path(), "");
    let missing = page
        .tags("div")
        .into_iter()
        .filter(|a| a.get("class").map(String::as_str) == Some("missing"))
        .filter(|a| !a.contains_key("hidden"))
        .count();
    assert_eq!(missing, 1);
    assert!(
        page.text_of("pic-fake_img")
            .contains("picture file missing: vis_image/fake_img_60.png"),
        "{}",
        page.text_of("pic-fake_img")
    );
    // The other pictures are still there.
    assert_eq!(shown_steps(&page)["test_fake_img"], "99");
}

#[test]
fn a_torn_last_line_is_left_out_over_http_and_explained_from_a_file() {
    let Some(chromium) = Chromium::for_test() else {
        return;
    };
    let copy = copy_of_demo();
    let data = copy.path().join(GALLERY_DATA);
    let mut text = std::fs::read_to_string(&data).unwrap();
    // What a machine that lost power mid-write could leave.
    text.push_str("vis.p(\"fake_img\",80,\"vis_im");
    std::fs::write(&data, text).unwrap();

    let server = Server::start(copy.path());
    let page = chromium.open(
        &format!("{}/{GALLERY_PAGE}", server.origin),
        Duration::from_secs(5),
    );
    assert_eq!(shown_steps(&page)["fake_img"], "60");
    assert_eq!(
        page.text_of("notice"),
        "gallery-data.js: 1 partial line left out."
    );
    assert_eq!(body(&page)["data-pictures"], "103");

    let page = open(&chromium, copy.path(), "");
    assert!(
        page.text_of("notice")
            .contains("ends in a partial line (the run stopped while writing it)"),
        "{}",
        page.text_of("notice")
    );
}

/// The harness's account of the controls, on `dir` served over http.
fn drive(chromium: &Chromium, dir: &Path, name: &str, other: &str, more: &str) -> Value {
    std::fs::write(
        dir.join("harness.html"),
        include_str!("browser/harness.html"),
    )
    .unwrap();
    let server = Server::start(dir);
    server
        .append
        .lock()
        .unwrap()
        .insert(format!("/{GALLERY_DATA}"), more.as_bytes().to_vec());
    let page = chromium.open(
        &format!("{}/harness.html?name={name}&other={other}", server.origin),
        Duration::from_secs(30),
    );
    assert_eq!(page.console, Vec::<String>::new(), "the console");
    let seen: Value = serde_json::from_str(&page.text_of("out")).unwrap();
    assert!(seen.get("error").is_none(), "{seen:#}");
    seen
}

#[test]
fn the_controls_move_through_the_steps_and_keep_the_place() {
    let Some(chromium) = Chromium::for_test() else {
        return;
    };
    let copy = copy_of_demo();
    // The run goes on while the page is open: step 80.
    let more = concat!(
        "vis.p(\"fake_img\",80,\"vis_image/fake_img_20.png\",274,274);\n",
        "vis.s(80,{\"loss/loss_gen\":1.5});\n",
    );
    let seen = drive(&chromium, copy.path(), "fake_img", "test_fake_img", more);
    let expected = serde_json::json!({
        "loaded": {
            "fake_img": "vis_image/fake_img_60.png 274x274",
            "test_fake_img": "vis_image/test_fake_img_99.png 32x32",
        },
        "placeholders": 0,
        "compareShown": 0,
        "compareSlider": false,
        "compareSliderOn": true,
        "latest": 60,
        "natural": [274, 274],
        "images": 4,
        "previous": 40,
        "hash": "#name=fake_img&step=40",
        "first": 20,
        "right": 40,
        "left": 20,
        "last": 60,
        "slider": 40,
        "sliderHash": "#name=fake_img&step=40",
        // Another step (the first) beside this one; then the test picture numbered 40.
        "compareSteps": [40, 20],
        "compareOther": [40, 40, "vis_image/test_fake_img_40.png"],
        "compareOff": null,
        "zoom1": "274px",
        "zoom8": "2192px",
        "zoomFit": ["fit", ""],
        "rendering": "pixelated",
        // From the last step, play wrapped around to a later one within 600 ms (250 ms each).
        "played": 40,
        "playLabel": "play",
        "charted": 40,
        "charts": 8,
        "refreshed": [80, 1, 1],
        "sameDocument": true,
        "notice": "",
    });
    let mut got = seen.clone();
    let object = got.as_object_mut().unwrap();
    for timing in ["responseMs", "sliderMs"] {
        object.remove(timing).unwrap();
    }
    // The chart's "now" line stands on the tick of the step it jumped to.
    assert_eq!(object.remove("chartNow"), object.remove("tick"), "{seen:#}");
    assert_eq!(got, expected, "{seen:#}");
}

#[test]
fn ten_thousand_steps_of_three_names_open_and_respond_at_once() {
    let Some(chromium) = Chromium::for_test() else {
        return;
    };
    let run = tempfile::tempdir().unwrap();
    browser::long_run(run.path(), 10_000);
    let dir: PathBuf = run.path().join("vis_data");
    let page = open(&chromium, &dir, "");
    assert_eq!(page.console, Vec::<String>::new());
    let shown = shown_steps(&page);
    assert_eq!(shown.len(), 3);
    assert!(shown.values().all(|s| s == "9999"), "{shown:?}");
    assert_eq!(page.tags("img").len(), 6);
    let body = body(&page);
    assert_eq!(body["data-pictures"], "30000");
    let ready: u64 = body["data-ready-ms"].parse().unwrap();
    let first: u64 = body["data-first-picture-ms"].parse().unwrap();
    // Only a catch for work that grows with the square of the steps (which takes minutes
    // here): the figures themselves are measured by `cargo xtask bench` and in the README.
    assert!(ready < 10_000, "reading 10,000 steps took {ready} ms");
    eprintln!(
        "10,000 steps of 3 names: data read in {ready} ms, first picture at {first} ms, \
         chromium ran {:.2} s",
        page.wall.as_secs_f64()
    );

    let seen = drive(
        &chromium,
        &dir,
        "fake_img",
        "ddpm_sample",
        "vis.p(\"fake_img\",10000,\"vis_image/fake_img_9999.png\",274,274);\n",
    );
    assert_eq!(
        seen["loaded"],
        serde_json::json!({
            "ddpm_sample": "vis_image/ddpm_sample_9999.gif 66x18",
            "fake_img": "vis_image/fake_img_9999.png 274x274",
            "translation_val": "vis_image/translation_val_9999.png 398x134",
        })
    );
    assert_eq!(seen["latest"], 9999);
    assert_eq!(seen["previous"], 9998);
    assert_eq!(seen["images"], 6);
    assert_eq!(seen["refreshed"][0], 10000);
    eprintln!(
        "one step back: {:.1} ms, a slider move: {:.1} ms",
        seen["responseMs"].as_f64().unwrap(),
        seen["sliderMs"].as_f64().unwrap()
    );
}

#[test]
fn an_apng_in_the_gallery_is_an_endless_animation_of_exact_frames_to_chromium() {
    let Some(chromium) = Chromium::for_test() else {
        return;
    };
    let run = tempfile::tempdir().unwrap();
    // Three solid frames, reddish, greenish and bluish, at 29.97 fps (100/2997 s each).
    let colours = [[201u8, 13, 7], [3, 199, 17], [9, 11, 203]];
    let (w, h) = (24, 16);
    let data = colours
        .iter()
        .flat_map(|c| std::iter::repeat_n(*c, w * h).flatten())
        .collect();
    let mut vis = Visualizer::local(run.path()).unwrap();
    vis.add_picture(
        "lossless",
        Picture::Apng {
            frames: RgbFrames::from_raw(w, h, 3, data).unwrap(),
            delay: FrameSpec {
                n_skip: 1,
                fps: 29.97,
            }
            .apng_delay(),
        },
        1,
    )
    .unwrap();
    vis.close().unwrap();
    let dir = run.path().join("vis_data");
    std::fs::write(
        dir.join("animation.html"),
        include_str!("browser/animation.html"),
    )
    .unwrap();
    let server = Server::start(&dir);
    let page = chromium.open(
        &format!("{}/animation.html?name=lossless", server.origin),
        Duration::from_secs(30),
    );
    assert_eq!(page.console, Vec::<String>::new(), "the console");
    let seen: Value = serde_json::from_str(&page.text_of("out")).unwrap();
    // Chromium keeps frame durations in whole milliseconds: 100/2997 s is 33 ms to it (the
    // file's exact fraction is checked by the decoders of tests/golden.rs and vis-ops).
    let ms = 33;
    let frame = |centre: &str| serde_json::json!({"ms": ms, "centre": centre});
    assert_eq!(
        seen,
        serde_json::json!({
            "src": "vis_image/lossless_1.png",
            "shown": [24, 16],
            "type": "image/png",
            "animated": true,
            "frameCount": 3,
            "repetitionCount": "Infinity",
            "frames": [frame("201,13,7"), frame("3,199,17"), frame("9,11,203")],
        }),
        "{seen:#}"
    );
}
