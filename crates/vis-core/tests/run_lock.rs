//! One run per work folder: a second run writing into a folder another process writes to is
//! refused at once, backends of one process share the folder, and a rerun after the first ended
//! (however it ended) starts with logs of its own.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use vis_core::{Error, LOCK_FILE, LocalVisBackend, Visualizer, VisualizerConfig};

/// Another process holding the run lock of `dir`, as a running `vis` would.
fn other_run(dir: &Path) -> Child {
    std::fs::create_dir_all(dir).unwrap();
    let lock = dir.join(LOCK_FILE);
    std::fs::write(&lock, "").unwrap();
    let mut child = Command::new("sh")
        .args([
            "-c",
            r#"exec 9<>"$0" && flock --exclusive 9 && echo "pid $$ on elsewhere" >&9 && exec sleep 60"#,
        ])
        .arg(&lock)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until it holds the lock.
    for _ in 0..500 {
        let held = std::fs::File::open(&lock).is_ok_and(|f| f.try_lock().is_err());
        if held && std::fs::read_to_string(&lock).is_ok_and(|t| t.contains("elsewhere")) {
            return child;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the other run never took the lock");
}

fn scalars(vis: &mut Visualizer, step: u64) {
    let values = [("loss".to_owned(), step as f64)].into_iter().collect();
    vis.add_scalars(values, step, None).unwrap();
}

#[test]
fn a_second_run_into_a_busy_folder_is_refused_and_a_rerun_starts_clean() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("work");
    // `Visualizer::local(run)` writes into (and locks) `run/vis_data`.
    let data = vis_core::vis_data_dir(&run);
    let mut other = other_run(&data);
    let err = Visualizer::local(&run).unwrap_err();
    assert!(matches!(err, Error::FolderInUse { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("another run is writing into {}", run.display()))
            && text.contains("on elsewhere"),
        "{text}"
    );
    // The first run ends (killed): its lock goes with it.
    other.kill().unwrap();
    other.wait().unwrap();

    // An earlier run's log, then a rerun: two visualizers of this process share the folder.
    std::fs::write(data.join("scalars.json"), "{\"loss\": 9.0, \"step\": 1}\n").unwrap();
    let mut first = Visualizer::local(&run).unwrap();
    let mut second = Visualizer::new(
        vec![Box::new(LocalVisBackend::new(&data))],
        VisualizerConfig::default(),
    )
    .unwrap();
    scalars(&mut first, 1);
    first.flush().unwrap();
    scalars(&mut second, 2);
    first.close().unwrap();
    second.close().unwrap();
    assert_eq!(
        std::fs::read_to_string(data.join("scalars.json")).unwrap(),
        "{\"loss\": 1.0, \"step\": 1}\n{\"loss\": 2.0, \"step\": 2}\n"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("scalars.json.prev")).unwrap(),
        "{\"loss\": 9.0, \"step\": 1}\n"
    );
    // Once this process is done with the folder, another may take it.
    let mut third = Visualizer::local(&run).unwrap();
    scalars(&mut third, 3);
    third.close().unwrap();
    assert_eq!(
        std::fs::read_to_string(data.join("scalars.json")).unwrap(),
        "{\"loss\": 3.0, \"step\": 3}\n"
    );
}
