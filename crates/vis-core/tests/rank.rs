//! A process of rank 1: the training hook draws nothing and never touches the model (mmengine's
//! `master_only`), while validation and test pictures of its own share are saved.
//! Its own test binary: it sets `RANK` for the whole process.

mod common;

use std::sync::Arc;

use common::{FakeEngine, Recorded, Recorder, image};
use vis_core::{
    ConcatConfig, ConcatImageVisualizer, DataSample, GalleryVisBackend, HookConfig,
    LocalVisBackend, Picture, TensorboardVisBackend, VisualizationHook, Visualizer,
    VisualizerConfig,
};

#[test]
fn rank_one_writes_nothing() {
    // SAFETY: this test binary has this one test, so no other thread reads the environment.
    unsafe { std::env::set_var("RANK", "1") };
    let seen = Recorded::default();
    let vis = Visualizer::new(
        vec![Box::new(Recorder(Arc::clone(&seen)))],
        VisualizerConfig::default(),
    )
    .unwrap();
    let cfg =
        HookConfig::from_json(r#"{"interval": 1, "vis_kwargs_list": {"type": "GAN"}}"#).unwrap();
    let mut hook: VisualizationHook<FakeEngine> = VisualizationHook::new(cfg, vis).unwrap();
    assert!(!hook.is_main_process());
    let mut engine = FakeEngine::new(4);
    for i in 0..3 {
        hook.after_train_iter(&mut engine, i).unwrap();
    }
    hook.after_test_iter(0, &[DataSample::new().with("img", image(0.0))])
        .unwrap();
    hook.close().unwrap();
    assert_eq!(engine.forward_calls, 0);
    assert!(engine.mode_log.is_empty());

    let config = ConcatConfig {
        fn_key: "p".into(),
        img_keys: vec!["img".into()],
        pixel_range: Default::default(),
        bgr2rgb: false,
    };
    let mut concat =
        ConcatImageVisualizer::new(config, vec![Box::new(Recorder(Arc::clone(&seen)))]).unwrap();
    concat
        .add_datasample(
            &DataSample::new().with("p", "a.png").with("img", image(0.0)),
            1,
        )
        .unwrap();
    concat.close().unwrap();
    // Every rank saves its own share of the validation and test results (MMagic's
    // `BasicVisualizationHook` and `ConcatImageVisualizer` are not `master_only`).
    assert_eq!(common::names(&seen), [("a".to_owned(), 1)]);

    // The backends: no scalars, no config, no event file, no gallery page and no run lock on
    // rank 1 (mmengine's `master_only`); a picture handed to the local backend (a rank's own
    // validation or test share) is still written, and the gallery's data lists it.
    let dir = tempfile::tempdir().unwrap();
    let mut vis = Visualizer::new(
        vec![
            Box::new(LocalVisBackend::new(dir.path())),
            Box::new(GalleryVisBackend::new(dir.path())),
            Box::new(TensorboardVisBackend::new(dir.path())),
        ],
        VisualizerConfig::default(),
    )
    .unwrap();
    let losses = [("loss".to_owned(), 1.0)].into_iter().collect();
    vis.add_scalars(losses, 1, Some("losses.json")).unwrap();
    vis.add_scalar("quality", 2.0, 1).unwrap();
    vis.add_config(serde_json::json!({"interval": 1})).unwrap();
    let picture = Picture::Image(vis_core::vis_ops::RgbImage::from_raw(1, 1, vec![0; 3]).unwrap());
    vis.add_picture("val_img", picture, 5).unwrap();
    vis.close().unwrap();
    assert_eq!(
        common::all_files(dir.path()),
        ["gallery-data.js", "vis_image/val_img_5.png"]
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("gallery-data.js")).unwrap(),
        "vis.p(\"val_img\",5,\"vis_image/val_img_5.png\",1,1);\n"
    );
}
