//! `VisualizationHook` pins the behaviours MMagic's own tests pin, plus vis's deliberate fixes,
//! through a fake engine and a backend that records the real pictures.

mod common;

use std::sync::Arc;

use common::{FakeEngine, Inputs, Recorded, image, recording};
use serde_json::json;
use vis_core::{
    DataSample, Error, HookConfig, HubValue, MaxSave, Picture, Tensor, VisualizationHook,
};

fn config(v: serde_json::Value) -> HookConfig {
    HookConfig::from_json(&v.to_string()).unwrap()
}

fn hook(v: serde_json::Value) -> (VisualizationHook<FakeEngine>, Recorded) {
    let (vis, seen) = recording();
    (VisualizationHook::new(config(v), vis).unwrap(), seen)
}

/// Pictures recorded so far (after a flush).
fn pictures(h: &mut VisualizationHook<FakeEngine>, seen: &Recorded) -> Vec<(String, u64, Picture)> {
    h.flush().unwrap();
    seen.lock().unwrap().clone()
}

fn grid(p: &Picture) -> &vis_core::vis_ops::RgbImage {
    match p {
        Picture::Image(i) => i,
        _ => panic!("an image was expected"),
    }
}

/// Cells of 4x4 images with padding 2: (width, height) of `cols` x `rows`.
fn size(cols: usize, rows: usize) -> (usize, usize) {
    (cols * 6 + 2, rows * 6 + 2)
}

/// The red byte at the centre of cell (`col`, `row`).
fn cell(p: &Picture, col: usize, row: usize) -> u8 {
    let g = grid(p);
    let (x, y) = (2 + col * 6 + 1, 2 + row * 6 + 1);
    g.as_bytes()[(y * g.width() + x) * 3]
}

/// The byte MMagic draws for a value `v` (x * 127.5 + 127.5, truncated).
fn byte(v: f32) -> u8 {
    (v * 127.5 + 127.5).clamp(0.0, 255.0) as u8
}

#[test]
fn defaults_match_mmagic_and_one_table_becomes_a_list() {
    let d = HookConfig::default();
    assert_eq!(d.interval, 1000);
    assert!(d.fixed_input && d.save_at_test && !d.show);
    assert_eq!((d.n_samples, d.n_row), (64, None));
    assert_eq!(d.max_save_at_test, MaxSave::Limit(100));
    assert_eq!(d.wait_time, 0.0);
    let one = config(json!({"interval": 10, "vis_kwargs_list": {"type": "Noise"}}));
    assert_eq!(one.vis_kwargs_list.len(), 1);
    assert_eq!(one.vis_kwargs_list[0].kind, "Noise");
    let two = config(json!({"vis_kwargs_list": [{"type": "Noise"}, {"type": "Translation"}]}));
    assert_eq!(two.vis_kwargs_list.len(), 2);
}

#[test]
fn gan_alias_samples_noise_and_truncates_to_n_samples() {
    let (mut h, seen) =
        hook(json!({"interval": 10, "vis_kwargs_list": {"type": "GAN"}, "n_samples": 9}));
    let mut engine = FakeEngine::new(10);
    h.vis_sample(&mut engine, 0).unwrap();
    let pics = pictures(&mut h, &seen);
    assert_eq!(pics.len(), 1);
    let (name, step, pic) = &pics[0];
    assert_eq!((name.as_str(), *step), ("gan", 1));
    // 9 samples, ceil(sqrt(9)) = 3 per row.
    assert_eq!(pic.size(), size(3, 3));
    // The grid shows the first 9 noise values kept in the buffer.
    let Some([Inputs::Noise(noise)]) = h.fixed_inputs("Noise") else {
        panic!("one noise batch should be kept");
    };
    assert_eq!(noise.len(), 10);
    for (i, &v) in noise.iter().take(9).enumerate() {
        assert_eq!(cell(pic, i % 3, i / 3), byte(v), "cell {i}");
    }
}

#[test]
fn fixed_input_reuses_the_first_inputs_and_not_fixed_draws_new_ones() {
    for fixed in [true, false] {
        let (mut h, seen) =
            hook(json!({"vis_kwargs_list": {"type": "GAN"}, "n_samples": 9, "fixed_input": fixed}));
        let mut engine = FakeEngine::new(10);
        h.vis_sample(&mut engine, 0).unwrap();
        h.vis_sample(&mut engine, 1).unwrap();
        let pics = pictures(&mut h, &seen);
        assert_eq!(pics[1].1, 2);
        assert_eq!(pics[0].2 == pics[1].2, fixed, "fixed_input = {fixed}");
        assert_eq!(h.fixed_inputs("Noise").is_some(), fixed);
    }
}

#[test]
fn the_model_runs_once_per_sampler_batch() {
    let (mut h, seen) = hook(json!({"vis_kwargs_list": {"type": "GAN"}, "n_samples": 25}));
    let mut engine = FakeEngine::new(10);
    h.vis_sample(&mut engine, 0).unwrap();
    assert_eq!(
        engine.forward_calls, 3,
        "ceil(25 / 10) batches, each forward once"
    );
    assert_eq!(pictures(&mut h, &seen)[0].2.size(), size(5, 5));
    // Evaluation mode while sampling, training mode after.
    assert_eq!(engine.mode_log, vec![false, true]);
}

#[test]
fn translation_aliases_sample_train_val_and_test_data() {
    let (mut h, seen) = hook(json!({
        "vis_kwargs_list": [
            {"type": "Translation"},
            {"type": "TranslationVal", "name": "cyclegan_val"},
            {"type": "TranslationTest"}
        ],
        "n_samples": 9,
        "n_row": 9
    }));
    let mut engine = FakeEngine::new(4);
    h.vis_sample(&mut engine, 0).unwrap();
    let pics = pictures(&mut h, &seen);
    let names: Vec<&str> = pics.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(
        names,
        vec!["translation", "cyclegan_val", "translationtest"]
    );
    // One row: the data sets' first 9 items in order; the test set holds 5, each drawn once
    // (a DataLoader ends there), and the row has as many cells.
    for (pic, set, index) in [
        (&pics[0].2, 0, (0..9).collect::<Vec<_>>()),
        (&pics[1].2, 1, (0..9).collect()),
        (&pics[2].2, 2, (0..5).collect()),
    ] {
        assert_eq!(pic.size(), size(index.len(), 1));
        for (i, &k) in index.iter().enumerate() {
            assert_eq!(
                cell(pic, i, 0),
                byte(engine.datasets[set][k]),
                "set {set} cell {i}"
            );
        }
    }
}

#[test]
fn ddpm_alias_draws_a_gif_with_n_skip() {
    let (mut h, seen) = hook(json!({"vis_kwargs_list": {"type": "DDPMDenoising"}}));
    let mut engine = FakeEngine::new(4);
    h.vis_sample(&mut engine, 9).unwrap();
    let pics = pictures(&mut h, &seen);
    let (name, step, Picture::Gif { frames, delay_cs }) = &pics[0] else {
        panic!("a GIF was expected");
    };
    assert_eq!((name.as_str(), *step), ("ddpm_sample", 10));
    // 16 samples, 4 per row; 250 steps with n_skip 100: 0, 100, 200 and the last.
    assert_eq!((frames.width(), frames.height()), size(4, 4));
    assert_eq!(frames.len(), 4);
    // MMagic's backend plays at 60 fps: 1.67 cs, never under 2.
    assert_eq!(*delay_cs, 2);
    assert_eq!(engine.forward_calls, 4);

    // The user's n_skip and fps win over the alias's.
    let (mut h, seen) = hook(
        json!({"vis_kwargs_list": {"type": "DDPMDenoising", "n_skip": 50, "fps": 10, "n_samples": 4}}),
    );
    h.vis_sample(&mut engine, 0).unwrap();
    let Picture::Gif { frames, delay_cs } = &pictures(&mut h, &seen)[0].2 else {
        panic!("a GIF was expected");
    };
    assert_eq!((frames.len(), *delay_cs), (6, 10));
    assert_eq!((frames.width(), frames.height()), size(4, 1));
}

#[test]
fn after_train_iter_follows_the_interval() {
    let (mut h, seen) =
        hook(json!({"interval": 2, "vis_kwargs_list": {"type": "GAN"}, "n_samples": 9}));
    let mut engine = FakeEngine::new(10);
    for i in 0..3 {
        h.after_train_iter(&mut engine, i).unwrap();
    }
    let pics = pictures(&mut h, &seen);
    assert_eq!(pics.len(), 1);
    assert_eq!(pics[0].1, 2);

    let (mut never, seen) = hook(json!({"interval": 0, "vis_kwargs_list": {"type": "GAN"}}));
    for i in 0..5 {
        never.after_train_iter(&mut engine, i).unwrap();
    }
    assert!(pictures(&mut never, &seen).is_empty());
}

#[test]
fn outputs_with_several_elements_count_by_forward_pass() {
    // n_samples 3, batch 2: ceil(3 / 2) = 2 passes of 4 elements each, all 8 drawn (MMagic).
    let (mut h, seen) = hook(
        json!({"interval": 2, "vis_kwargs_list": {"type": "GAN"}, "n_samples": 3, "n_row": 8}),
    );
    let mut engine = FakeEngine::new(2);
    engine.outputs_per_call = Some(4);
    for i in 0..3 {
        h.after_train_iter(&mut engine, i).unwrap();
    }
    let pics = pictures(&mut h, &seen);
    assert_eq!(pics.len(), 1);
    assert_eq!(pics[0].2.size(), size(8, 1));
}

#[test]
fn message_hub_forms_and_their_errors() {
    let feat = Tensor::from_vec(vec![0.25f32; 4 * 3 * 4 * 4], &[4, 3, 4, 4]).unwrap();
    let cases = [
        (json!("feat_map"), vec![("train_feat_map", size(2, 2))]),
        (json!(["feat_map"]), vec![("train_feat_map", size(2, 2))]),
        (
            json!({"key": "feat_map", "vis_mode": "image"}),
            vec![("train_feat_map", size(2, 2))],
        ),
        // A table without vis_mode is an image (MMagic's dict form raises KeyError).
        (
            json!({"key": "feat_map"}),
            vec![("train_feat_map", size(2, 2))],
        ),
        (
            json!([{"key": "feat_map"}, {"key": "x_t"}]),
            vec![("train_feat_map", size(2, 2)), ("train_x_t", (4, 4))],
        ),
    ];
    for (form, want) in cases {
        let (mut h, seen) = hook(
            json!({"interval": 2, "vis_kwargs_list": {"type": "GAN"}, "n_samples": 9, "message_hub_vis_kwargs": form}),
        );
        h.message_hub()
            .set_vis_result("feat_map", HubValue::Tensor(feat.clone()));
        h.message_hub().set_vis_result(
            "x_t",
            HubValue::Samples(vec![DataSample::new().with("x_t", image(0.5))]),
        );
        let mut engine = FakeEngine::new(10);
        for i in 0..3 {
            h.after_train_iter(&mut engine, i).unwrap();
        }
        let pics = pictures(&mut h, &seen);
        let got: Vec<(&str, (usize, usize))> = pics[1..]
            .iter()
            .map(|p| (p.0.as_str(), p.2.size()))
            .collect();
        assert_eq!(got, want, "{form}");
        assert_eq!(pics[0].0, "gan");
        // The same step as the sampler grid of that call (MMagic's is one less).
        assert!(pics.iter().all(|p| p.1 == 2));
    }

    let (mut h, _) = hook(
        json!({"interval": 1, "vis_kwargs_list": {"type": "GAN"}, "n_samples": 2, "message_hub_vis_kwargs": "error"}),
    );
    let mut engine = FakeEngine::new(2);
    let err = h.after_train_iter(&mut engine, 0).unwrap_err().to_string();
    assert!(err.contains("no vis_results"), "{err}");
    h.message_hub()
        .set_vis_result("feat_map", HubValue::Tensor(feat.clone()));
    let err = h.after_train_iter(&mut engine, 0).unwrap_err().to_string();
    assert!(
        err.contains("'error' is not in the message hub's vis_results (it holds: feat_map)"),
        "{err}"
    );
    h.message_hub()
        .set_vis_result("error", HubValue::Json(json!("feat_map")));
    let err = h.after_train_iter(&mut engine, 0).unwrap_err().to_string();
    assert!(
        err.contains("neither a tensor nor a list of samples"),
        "{err}"
    );
    assert!(engine.train, "the model is back in training mode");
}

/// A test output like MMagic's test: an image, two nested samples and a dotted key.
fn test_output(v: f32) -> DataSample {
    DataSample::new()
        .with("gt_img", image(v))
        .with("ema", DataSample::new().with("fake_img", image(v + 0.1)))
        .with("orig", DataSample::new().with("fake_img", image(v + 0.2)))
        .with("new_model", DataSample::new().with("x_t", image(v + 0.3)))
}

#[test]
fn test_time_keys_names_steps_and_limits() {
    let (mut h, seen) = hook(json!({
        "max_save_at_test": null,
        "test_vis_keys": ["ema", "orig", "new_model.x_t", "gt_img"],
        "vis_kwargs_list": {"type": "GAN"}
    }));
    let outputs: Vec<DataSample> = (0..4).map(|i| test_output(i as f32 / 10.0)).collect();
    h.after_test_iter(0, &outputs).unwrap();
    h.after_test_iter(1, &outputs[..2]).unwrap();
    let pics = pictures(&mut h, &seen);
    assert_eq!(pics.len(), 4 * 6);
    for (k, (name, step, pic)) in pics.iter().enumerate() {
        let (sample, key) = (k / 4, k % 4);
        // A running count of test samples (MMagic's batch_idx * len(outputs) + i would give the
        // short second batch indices 2 and 3, overwriting earlier files).
        assert_eq!(*step, sample as u64);
        let names = ["test_ema", "test_orig", "test_new_model_x_t", "test_gt_img"];
        assert_eq!(name, names[key]);
        // One bare image per picture.
        assert_eq!(pic.size(), (4, 4));
        let v = (sample % 4) as f32 / 10.0 + [0.1, 0.2, 0.3, 0.0][key];
        assert_eq!(grid(pic).as_bytes()[0], byte(v));
    }

    // Without keys: every image key of the sample (here only gt_img).
    let (mut h, seen) = hook(json!({"vis_kwargs_list": {"type": "GAN"}}));
    h.after_test_iter(0, &outputs[..1]).unwrap();
    let pics = pictures(&mut h, &seen);
    assert_eq!(
        pics.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
        vec!["test_gt_img"]
    );
    let only_nested =
        [DataSample::new().with("ema", DataSample::new().with("fake_img", image(0.0)))];
    let err = h.after_test_iter(0, &only_nested).unwrap_err().to_string();
    assert!(
        err.contains("holds no image [C, H, W] among its keys (ema)"),
        "{err}"
    );

    // At most max_save_at_test samples, counted across batches.
    let (mut h, seen) = hook(
        json!({"max_save_at_test": 3, "test_vis_keys": "ema", "vis_kwargs_list": {"type": "GAN"}}),
    );
    h.after_test_iter(0, &outputs[..2]).unwrap();
    h.after_test_iter(1, &outputs[..2]).unwrap();
    let steps: Vec<u64> = pictures(&mut h, &seen).iter().map(|p| p.1).collect();
    assert_eq!(steps, vec![0, 1, 2]);

    let (mut h, seen) = hook(json!({"save_at_test": false, "vis_kwargs_list": {"type": "GAN"}}));
    h.after_test_iter(0, &outputs).unwrap();
    assert!(pictures(&mut h, &seen).is_empty());
}

#[test]
fn after_val_iter_does_nothing() {
    let (mut h, seen) = hook(json!({"vis_kwargs_list": {"type": "GAN"}}));
    h.after_val_iter(0, &[test_output(0.0)]).unwrap();
    assert!(pictures(&mut h, &seen).is_empty());
}

#[test]
fn a_failing_or_panicking_model_is_an_error_and_training_goes_on() {
    let (mut h, seen) = hook(
        json!({"interval": 1, "vis_kwargs_list": {"type": "GAN", "name": "fake_img"}, "n_samples": 4}),
    );
    let mut engine = FakeEngine::new(4);
    engine.fail_forward = true;
    let err = h.after_train_iter(&mut engine, 0).unwrap_err();
    assert!(matches!(err, Error::Engine { .. }));
    assert!(
        err.to_string()
            .contains("sampling 'fake_img': out of memory"),
        "{err}"
    );
    assert_eq!(engine.mode_log, vec![false, true]);

    engine.fail_forward = false;
    engine.panic_forward = true;
    let err = h.after_train_iter(&mut engine, 1).unwrap_err();
    assert!(matches!(err, Error::EnginePanic { .. }), "{err}");
    assert!(err.to_string().contains("the fake model exploded"), "{err}");
    assert!(engine.train);

    engine.panic_forward = false;
    h.after_train_iter(&mut engine, 2).unwrap();
    let pics = pictures(&mut h, &seen);
    assert_eq!(pics.len(), 1);
    assert_eq!(pics[0].1, 3);
}

#[test]
fn fixed_inputs_survive_a_new_hook_through_the_engine() {
    let mut first = FakeEngine::new(4);
    let (mut h1, seen1) = hook(json!({"vis_kwargs_list": {"type": "GAN"}, "n_samples": 8}));
    h1.vis_sample(&mut first, 0).unwrap();
    // A resumed run: a new engine (other noise) over the same store, a new hook.
    let mut resumed = FakeEngine::new(4);
    resumed.rng = 99;
    resumed.store = Arc::clone(&first.store);
    let (mut h2, seen2) = hook(json!({"vis_kwargs_list": {"type": "GAN"}, "n_samples": 8}));
    h2.vis_sample(&mut resumed, 500).unwrap();
    assert_eq!(
        pictures(&mut h1, &seen1)[0].2,
        pictures(&mut h2, &seen2)[0].2
    );
    assert_eq!(
        resumed.store.lock().unwrap().len(),
        1,
        "saved once, by the first run"
    );
}

#[test]
fn config_errors_name_the_field_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let err = |path: std::path::PathBuf| HookConfig::from_file(&path).unwrap_err().to_string();
    let e = err(write("a.toml", "interval = 10\nbogus = 1\n"));
    assert!(
        e.contains("a.toml") && e.contains("unknown field `bogus`"),
        "{e}"
    );
    let e = err(write("b.json", r#"{"interval": "often"}"#));
    assert!(
        e.contains("b.json: field `interval`") && e.contains("invalid type"),
        "{e}"
    );
    let e = err(write("c.toml", "n_samples = 0\n"));
    assert!(
        e.contains("c.toml: field `n_samples`: must be at least 1"),
        "{e}"
    );
    let e = err(write(
        "d.json",
        r#"{"vis_kwargs_list": [{"type": "GAN"}, {"type": "Gann"}]}"#,
    ));
    assert!(
        e.contains(
            "field `vis_kwargs_list[1].type`: unknown sampler type 'Gann'; known types: Noise"
        ),
        "{e}"
    );
    let e = err(write(
        "e.json",
        r#"{"vis_kwargs_list": {"type": "GAN", "n_samples": -3}}"#,
    ));
    assert!(e.contains("e.json: field `vis_kwargs_list"), "{e}");
    let e = err(write("f.toml", "show = true\n"));
    assert!(e.contains("field `show`") && e.contains("no window"), "{e}");
    let e = err(write("g.yaml", "interval: 1\n"));
    assert!(e.contains(".json or .toml"), "{e}");
    let e = err(write("h.toml", "message_hub_vis_kwargs = 3\n"));
    assert!(e.contains("a key, a table {key, vis_mode}"), "{e}");
    let e = err(write("i.toml", "interval = 10\n[vis_kwargs_list\n"));
    assert!(e.contains("i.toml"), "{e}");
    // Frames longer than the format holds: a GIF's 655.35 s, an APNG's 65535 s.
    let e = err(write(
        "j.toml",
        "[[vis_kwargs_list]]\ntype = \"DDPMDenoising\"\nfps = 0.001\n",
    ));
    assert!(
        e.contains("field `vis_kwargs_list[0].fps`: fps = 0.001 asks for frames of 1000 s, longer than the 655.35 s a GIF frame can last"),
        "{e}"
    );
    HookConfig::from_file(&write(
        "apng.toml",
        "[[vis_kwargs_list]]\ntype = \"DDPMDenoising\"\nvis_mode = \"apng\"\nfps = 0.001\n",
    ))
    .unwrap();

    // interval 0 is allowed; max_save_at_test "all" works in TOML.
    let ok = HookConfig::from_file(&write("ok.toml", "interval = 0\nmax_save_at_test = \"all\"\n[[vis_kwargs_list]]\ntype = \"DDPMDenoising\"\nn_skip = 50\n")).unwrap();
    assert_eq!((ok.interval, ok.max_save_at_test), (0, MaxSave::All));
    assert_eq!(ok.vis_kwargs_list[0].extra["n_skip"], json!(50));
}

/// A backend that fails every picture whose name starts with `fail`.
struct FailsSome;

impl vis_core::VisBackend for FailsSome {
    fn name(&self) -> &str {
        "FailsSome"
    }

    fn add_image(&mut self, name: &str, _: &Picture, _: u64) -> vis_core::Result<()> {
        if name.starts_with("fail") {
            return Err(Error::Sample(format!("{name}: disk on fire")));
        }
        Ok(())
    }
}

#[test]
fn a_reported_failure_never_stops_the_pictures_after_it() {
    let seen = Recorded::default();
    let vis = vis_core::Visualizer::new(
        vec![
            Box::new(FailsSome),
            Box::new(common::Recorder(Arc::clone(&seen))),
        ],
        vis_core::VisualizerConfig::default(),
    )
    .unwrap();
    let cfg = config(json!({
        "interval": 1,
        "test_vis_keys": "gt_img",
        "vis_kwargs_list": [{"type": "GAN", "name": "first"}, {"type": "GAN", "name": "second"}]
    }));
    let mut h: VisualizationHook<FakeEngine> = VisualizationHook::new(cfg, vis).unwrap();
    let mut engine = FakeEngine::new(4);
    // A picture that fails, handled by the writer before the next call: its failure is then
    // pending, and the next call's first picture reports it.
    let failing = |h: &mut VisualizationHook<FakeEngine>, step: u64| {
        let before = seen.lock().unwrap().len();
        let picture =
            Picture::Image(vis_core::vis_ops::RgbImage::from_raw(1, 1, vec![0; 3]).unwrap());
        h.visualizer().add_picture("fail", picture, step).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while seen.lock().unwrap().len() == before && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
    };
    failing(&mut h, 7);
    let err = h.after_train_iter(&mut engine, 0).unwrap_err().to_string();
    assert!(err.contains("picture 'fail' at step 7:"), "{err}");
    failing(&mut h, 8);
    let outputs: Vec<DataSample> = (0..5).map(|i| test_output(i as f32 / 10.0)).collect();
    let err = h.after_test_iter(0, &outputs).unwrap_err().to_string();
    assert!(err.contains("picture 'fail' at step 8:"), "{err}");
    h.flush().unwrap();
    // Every picture of both calls was drawn and written.
    let names = common::names(&seen);
    let expected: Vec<(String, u64)> = [("fail", 7), ("first", 1), ("second", 1), ("fail", 8)]
        .into_iter()
        .map(|(n, s)| (n.to_owned(), s))
        .chain((0..5).map(|i| ("test_gt_img".to_owned(), i)))
        .collect();
    assert_eq!(names, expected);
}
