//! Every Rust snippet of the README is part of a program in `crates/vis-candle/examples/`, which
//! `cargo test` builds: each ```rust block must stand in one of those files, line for line
//! (indentation aside), so a snippet that stops compiling, or drifts from its program, fails.

use std::path::Path;

/// The lines of `text`, trimmed, blank ones left out.
fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn every_rust_snippet_of_the_readme_is_in_a_built_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let examples: Vec<(String, Vec<String>)> =
        std::fs::read_dir(root.join("crates/vis-candle/examples"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                (p.display().to_string(), lines(&text))
            })
            .collect();
    let mut snippets = 0;
    for block in readme.split("```rust\n").skip(1) {
        let snippet = lines(block.split("\n```").next().unwrap());
        snippets += 1;
        let found = examples.iter().any(|(_, program)| {
            program
                .windows(snippet.len())
                .any(|window| window == snippet.as_slice())
        });
        assert!(
            found,
            "a README snippet is in no example program:\n{}",
            snippet.join("\n")
        );
    }
    assert!(snippets >= 5, "only {snippets} snippets found");
}
