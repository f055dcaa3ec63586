//! Every file name vis forms from a config or data value stays inside the save folder: names
//! that are paths, folder names, empty or carry control characters are refused with an error that
//! names the value, and nothing lands outside the folder the user gave.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{FakeEngine, Recorded, Recorder, image};
use serde_json::json;
use vis_core::{
    ConcatConfig, ConcatImageVisualizer, DataSample, HookConfig, LocalVisBackend, Picture,
    VisBackend, VisualizationHook, Visualizer,
};

/// Names an attacker or a careless config gives; `outside` is an absolute path next to the save
/// folder.
fn hostile(outside: &Path) -> Vec<String> {
    vec![
        "../x".into(),
        "../../x".into(),
        format!("{}/x", outside.display()),
        "a/b".into(),
        "dir/".into(),
        "a\\b".into(),
        "a\0b".into(),
        "line\nbreak".into(),
        "\u{1b}[31mred".into(),
        String::new(),
        ".".into(),
        "..".into(),
        "x".repeat(300),
    ]
}

fn picture() -> Picture {
    Picture::Image(vis_core::vis_ops::RgbImage::from_raw(1, 1, vec![1, 2, 3]).unwrap())
}

/// The printed form of a value in an error: escaped, so no raw control character shows.
fn printed(name: &str) -> String {
    vis_core::vis_ops::fs::quote(name)
}

#[test]
fn config_values_that_become_file_names_are_checked_naming_the_field() {
    let outside = Path::new("/tmp/outside");
    for bad in hostile(outside) {
        for (config, field) in [
            (
                json!({"vis_kwargs_list": {"type": "GAN", "name": bad}}),
                "vis_kwargs_list[0].name",
            ),
            (
                json!({"message_hub_vis_kwargs": ["ok", bad]}),
                "message_hub_vis_kwargs[1].key",
            ),
            (json!({"test_vis_keys": bad}), "test_vis_keys[0]"),
        ] {
            let err = HookConfig::from_json(&config.to_string());
            // An empty vis-kwargs name means "the default", as MMagic's `if not name`.
            if bad.is_empty() && field.starts_with("vis_kwargs_list") {
                assert!(err.is_ok());
                continue;
            }
            let err = err.unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("field `{field}`: ")) && err.contains("file name"),
                "{bad:?}: {err}"
            );
            assert!(
                !err.contains('\n') && !err.contains('\0') && !err.contains('\u{1b}'),
                "{err:?}"
            );
        }
    }
}

#[test]
fn nothing_is_written_outside_the_save_folder() {
    let root = tempfile::tempdir().unwrap();
    let save = root.path().join("run");
    let outside = root.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let names = hostile(&outside);

    // The visualizer refuses on the caller's thread, before anything is queued.
    let mut vis = Visualizer::local(&save).unwrap();
    for bad in &names {
        let err = vis.add_picture(bad, picture(), 1).unwrap_err().to_string();
        assert!(
            err.contains("the picture name") && err.contains(&printed(bad)),
            "{bad:?}: {err}"
        );
    }
    let far = format!("{}/x.json", outside.display());
    for file in [
        "../up.json",
        "../../up.json",
        far.as_str(),
        "sub/x.json",
        "a\\b.json",
        "a\0b.json",
        "",
        ".",
        "..",
        "scalars.json",
        "x.txt",
    ] {
        let scalars = [("loss".to_owned(), 1.0)].into_iter().collect();
        let err = vis
            .add_scalars(scalars, 1, Some(file))
            .unwrap_err()
            .to_string();
        assert!(err.contains("file_path"), "{file:?}: {err}");
    }
    vis.add_picture("fake_img", picture(), 1).unwrap();
    vis.close().unwrap();

    // A backend called directly refuses too.
    let mut local = LocalVisBackend::new(&save);
    for bad in &names {
        assert!(local.add_image(bad, &picture(), 2).is_err(), "{bad:?}");
    }

    // Test keys come from the data.
    let config = HookConfig::from_json(r#"{"vis_kwargs_list": {"type": "GAN"}}"#).unwrap();
    let mut hook: VisualizationHook<FakeEngine> =
        VisualizationHook::new(config, Visualizer::local(&save).unwrap()).unwrap();
    for bad in &names {
        let sample = DataSample::new().with(bad.clone(), image(0.5));
        let err = hook.after_test_iter(0, &[sample]);
        // `test_` is a plain name; `.` and `..` are dotted paths to no key.
        match bad.as_str() {
            "" => assert!(err.is_ok()),
            "." | ".." => assert!(err.unwrap_err().to_string().contains("not found")),
            _ => {
                let err = err.unwrap_err().to_string();
                assert!(err.contains("the picture name"), "{bad:?}: {err}");
            }
        }
    }
    hook.close().unwrap();

    // fn_key values are paths: their basename names the file, and one that has none is refused.
    let concat_config: ConcatConfig =
        serde_json::from_value(json!({"fn_key": "path", "img_keys": ["img"]})).unwrap();
    let mut concat =
        ConcatImageVisualizer::new(concat_config, vec![Box::new(LocalVisBackend::new(&save))])
            .unwrap();
    for path in ["..", "dir/", ".hidden.png", "/", "a/\n.png"] {
        let sample = DataSample::new().with("path", path).with("img", image(0.1));
        let err = concat.add_datasample(&sample, 3).unwrap_err().to_string();
        assert!(
            err.starts_with("fn_key 'path' holds ") && err.contains("basename"),
            "{path:?}: {err}"
        );
    }
    let far = format!("{}/../../etc/passwd.png", outside.display());
    let sample = DataSample::new().with("path", far).with("img", image(0.1));
    concat.add_datasample(&sample, 3).unwrap();
    concat.close().unwrap();

    let files = common::all_files(root.path());
    // `Visualizer::local` writes into `vis_data/` (mmengine's layout) with its gallery, a
    // backend given the folder writes there directly.
    let expected: Vec<String> = [
        "run/.vis-run.lock",
        "run/vis_data/.vis-run.lock",
        "run/vis_data/gallery-data.js",
        "run/vis_data/gallery-data.js.prev",
        "run/vis_data/index.html",
        "run/vis_data/vis_image/fake_img_1.png",
        "run/vis_data/vis_image/test__0.png",
        "run/vis_image/passwd_3.png",
    ]
    .iter()
    .map(|p| (*p).to_owned())
    .collect();
    // `add_scalars` was refused every time: no scalars.json either.
    assert_eq!(files, expected);
}

#[test]
fn two_samples_of_one_step_never_share_a_file() {
    let seen = Recorded::default();
    let config: ConcatConfig =
        serde_json::from_value(json!({"fn_key": "path", "img_keys": ["img"]})).unwrap();
    let mut concat =
        ConcatImageVisualizer::new(config, vec![Box::new(Recorder(Arc::clone(&seen)))]).unwrap();
    let sample = |path: &str| DataSample::new().with("path", path).with("img", image(0.1));
    for path in [
        "calendar/0001.png",
        "city/0001.png",
        "city/0001.png",
        "foliage/0001.jpg",
    ] {
        concat.add_datasample(&sample(path), 10).unwrap();
    }
    // A new step starts afresh.
    concat.add_datasample(&sample("city/0001.png"), 20).unwrap();
    concat.close().unwrap();
    assert_eq!(
        common::names(&seen),
        [
            ("0001", 10),
            ("0001.2", 10),
            // The same sample again overwrites its own picture, as it would in MMagic.
            ("0001.2", 10),
            ("0001.3", 10),
            ("0001", 20),
        ]
        .map(|(n, s)| (n.to_owned(), s))
    );
}
