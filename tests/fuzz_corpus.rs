//! Replays the committed fuzz seeds (`fuzz/seeds/{target}/`) through the fuzz harness on
//! stable, so that every input the fuzzers found interesting, and every crash they found and we
//! fixed, stays checked in ordinary CI.

// `render` (the fuzz entry with its own scratch folder) is not used here: `render_in` is.
#[allow(dead_code, unreachable_pub)]
#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::PathBuf;

/// The seed files of `target`, sorted; fails when there are none.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
}

/// Runs `f` on every seed of `target`, naming the seed that panics.
fn replay(target: &str, mut f: impl FnMut(&[u8])) {
    for (name, data) in seeds(target) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&data)));
        assert!(outcome.is_ok(), "fuzz seed {target}/{name} fails");
    }
}

#[test]
fn config_seeds() {
    replay("config", harness::config);
}

#[test]
fn render_seeds() {
    let dir = tempfile::tempdir().unwrap();
    replay("render", |data| harness::render_in(dir.path(), data));
}

#[test]
fn encoder_seeds() {
    replay("encoders", harness::encoders);
}

#[test]
fn header_seeds() {
    replay("header", harness::header);
}
