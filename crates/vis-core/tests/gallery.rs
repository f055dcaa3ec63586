//! The gallery backend's files: the page written once and never again, one whole line per
//! picture and scalar record, a fresh data file per run, and whole lines only when the process
//! is killed at any moment. (The page itself is tested in Chromium: tests/gallery_browser.rs.)

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vis_core::vis_ops::{RgbFrames, RgbImage};
use vis_core::{GALLERY_DATA, GALLERY_PAGE, Picture, Visualizer};

fn grid(w: usize, h: usize) -> Picture {
    Picture::Image(RgbImage::from_raw(w, h, vec![90; w * h * 3]).unwrap())
}

fn data(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("vis_data").join(GALLERY_DATA)).unwrap()
}

#[test]
fn each_picture_and_scalar_record_is_one_line_of_javascript() {
    let dir = tempfile::tempdir().unwrap();
    let mut vis = Visualizer::local(dir.path()).unwrap();
    vis.add_picture("fake_img", grid(6, 4), 20).unwrap();
    let frames = RgbFrames::from_raw(3, 2, 2, vec![0; 3 * 2 * 3 * 2]).unwrap();
    vis.add_picture(
        "ddpm_sample",
        Picture::Gif {
            frames,
            delay_cs: 10,
        },
        20,
    )
    .unwrap();
    // Names and tags are JSON strings: quotes, backslashes and any Unicode come through.
    vis.add_picture("a \"quoted\" name é", grid(1, 1), 21)
        .unwrap();
    let scalars = BTreeMap::from([
        ("loss/loss_gen".to_owned(), 0.5),
        ("tag \"q\" \\".to_owned(), -1.25),
        ("not a number".to_owned(), f64::NAN),
        ("too big".to_owned(), f64::INFINITY),
    ]);
    vis.add_scalars(scalars, 21, None).unwrap();
    vis.add_scalar("quality", 3.0, 40).unwrap();
    vis.close().unwrap();
    assert_eq!(
        data(dir.path()),
        concat!(
            "vis.p(\"fake_img\",20,\"vis_image/fake_img_20.png\",6,4);\n",
            "vis.p(\"ddpm_sample\",20,\"vis_image/ddpm_sample_20.gif\",3,2);\n",
            "vis.p(\"a \\\"quoted\\\" name é\",21,\"vis_image/a \\\"quoted\\\" name é_21.png\",1,1);\n",
            "vis.s(21,{\"loss/loss_gen\":0.5,\"not a number\":NaN,\"tag \\\"q\\\" \\\\\":-1.25,\"too big\":Infinity});\n",
            "vis.s(40,{\"quality\":3.0});\n",
        )
    );
    // The file the line names is the one the local backend wrote.
    assert!(
        dir.path()
            .join("vis_data/vis_image/a \"quoted\" name é_21.png")
            .is_file()
    );
    let page = std::fs::read_to_string(dir.path().join("vis_data").join(GALLERY_PAGE)).unwrap();
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.contains(GALLERY_DATA));
    // Self-contained: nothing is fetched from the network.
    for remote in ["http://", "https://", "//cdn"] {
        let uses: Vec<&str> = page
            .lines()
            .filter(|l| l.contains(remote) && !l.contains("http://www.w3.org/2000/svg"))
            .collect();
        assert!(uses.is_empty(), "{remote}: {uses:?}");
    }
}

#[test]
fn the_page_is_written_once_and_a_new_run_starts_its_data_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let vis_data = dir.path().join("vis_data");
    let mut vis = Visualizer::local(dir.path()).unwrap();
    vis.add_picture("fake_img", grid(2, 2), 1).unwrap();
    vis.close().unwrap();
    // A page the user changed (or an older vis wrote) is left as it is.
    std::fs::write(vis_data.join(GALLERY_PAGE), "my own page").unwrap();
    let mut vis = Visualizer::local(dir.path()).unwrap();
    vis.add_picture("fake_img", grid(2, 2), 2).unwrap();
    vis.close().unwrap();
    assert_eq!(
        std::fs::read_to_string(vis_data.join(GALLERY_PAGE)).unwrap(),
        "my own page"
    );
    assert_eq!(
        data(dir.path()),
        "vis.p(\"fake_img\",2,\"vis_image/fake_img_2.png\",2,2);\n"
    );
    assert_eq!(
        std::fs::read_to_string(vis_data.join(format!("{GALLERY_DATA}.prev"))).unwrap(),
        "vis.p(\"fake_img\",1,\"vis_image/fake_img_1.png\",2,2);\n"
    );
}

/// The environment variable that makes this test binary the writer the test below kills.
const CHILD_DIR: &str = "VIS_GALLERY_WRITER_DIR";

/// Not a test of its own: the child process of the one below, writing until it is killed.
#[test]
fn gallery_writer_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let mut vis = Visualizer::local(&dir).unwrap();
    // Long lines, so that a write spans a page boundary of the file now and then.
    let name = format!("fake_img_{}", "x".repeat(150));
    for step in 0.. {
        vis.add_picture(&name, grid(1, 1), step).unwrap();
        let scalars = (0..20)
            .map(|i| (format!("loss/part_{i}"), step as f64 / 7.0))
            .collect();
        vis.add_scalars(scalars, step, None).unwrap();
    }
}

#[test]
fn a_run_killed_at_any_moment_leaves_whole_lines() {
    let exe = std::env::current_exe().unwrap();
    let mut lines_seen = Vec::new();
    for round in 0..12u64 {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(&exe)
            .args(["--exact", "gallery_writer_child", "--nocapture"])
            .env(CHILD_DIR, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let file = dir.path().join("vis_data").join(GALLERY_DATA);
        // Kill after a different amount of writing each round.
        let wanted = 40 + round * 53;
        let started = Instant::now();
        while std::fs::metadata(&file).map_or(0, |m| m.len()) < wanted * 100 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the writer wrote too little"
            );
            assert!(child.try_wait().unwrap().is_none(), "the writer stopped");
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.ends_with(";\n"), "round {round}: a torn last line");
        for line in text.lines() {
            let whole = (line.starts_with("vis.p(\"fake_img_") || line.starts_with("vis.s("))
                && line.ends_with(");");
            assert!(whole, "round {round}: {line:?}");
        }
        lines_seen.push(text.lines().count());
    }
    eprintln!("lines when killed: {lines_seen:?}");
}
