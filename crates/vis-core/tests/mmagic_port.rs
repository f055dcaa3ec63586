//! Cases of MMagic's own test suite (open-mmlab/mmagic at 0a560bba), ported to vis's API: the
//! visualizer's grid sizes, channels, the hook's config defaults and its test-time saving. Each
//! test names the MMagic file and lines it comes from; where MMagic's assert checks nothing
//! (an unasserted `osp.exists`, a mock never asserted), its intent is what is checked here.

mod common;

use common::{FakeEngine, recording};
use serde_json::json;
use vis_core::{
    DataSample, DrawRequest, Extra, HookConfig, HubValue, Picture, Tensor, VisMode,
    VisualizationHook,
};

/// randn-like values, deterministic.
fn noise(shape: &[usize], seed: u32) -> Tensor {
    let n: usize = shape.iter().product();
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    let data = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x % 1000) as f32 / 500.0 - 1.0
        })
        .collect();
    Tensor::from_vec(data, shape).unwrap()
}

/// tests/test_visualization/test_visualizer.py:17-31: three samples with a colour and a grey
/// image, a nested sample with a sequence, a sequence, and a nested sample with one image.
fn visualizer_samples() -> Vec<DataSample> {
    (0..3)
        .map(|i| {
            DataSample::new()
                .with("fake_img", noise(&[3, 16, 16], i))
                .with("gt_img", noise(&[1, 16, 16], 10 + i))
                .with(
                    "ema",
                    DataSample::new().with("fake_img", noise(&[10, 3, 16, 16], 20 + i)),
                )
                .with("gif", noise(&[10, 3, 16, 16], 30 + i))
                .with(
                    "something",
                    DataSample::new().with(
                        "new",
                        DataSample::new().with("img", noise(&[3, 16, 16], 40 + i)),
                    ),
                )
        })
        .collect()
}

fn draw(
    samples: &[DataSample],
    keys: Option<&[&str]>,
    vis_mode: VisMode,
    n_row: Option<usize>,
) -> Picture {
    let (vis, _) = recording();
    let keys: Option<Vec<String>> = keys.map(|k| k.iter().map(|s| (*s).to_owned()).collect());
    vis.draw(&DrawRequest {
        name: "x",
        samples,
        target_keys: keys.as_deref(),
        vis_mode,
        n_row,
        step: 0,
        extra: &Extra::new(),
        pixels: None,
    })
    .unwrap()
}

/// (width, height) of a picture, or of one frame and the frame count.
fn size(p: &Picture) -> (usize, usize, usize) {
    match p {
        Picture::Image(i) => (i.width(), i.height(), 1),
        Picture::Gif { frames, .. } | Picture::Apng { frames, .. } => {
            (frames.width(), frames.height(), frames.len())
        }
    }
}

#[test]
fn add_datasample_pads_each_key_to_n_row() {
    let samples = visualizer_samples();
    // test_visualizer.py:33: two keys of 3 samples, n_row ceil(sqrt(3)) = 2, each key padded
    // to 4: a (74, 38, 3) array, 38 wide and 74 high.
    let both = ["fake_img", "gt_img"];
    assert_eq!(
        size(&draw(&samples, Some(&both), VisMode::Image, None)),
        (38, 74, 1)
    );
    // :42, keys found by themselves: the [C, H, W] ones, fake_img and gt_img.
    assert_eq!(
        size(&draw(&samples, None, VisMode::Image, None)),
        (38, 74, 1)
    );
    // :77, n_row = 4 above the 3 samples: each key padded to 4, (38, 74, 3), where a
    // torchvision grid would be 56 wide.
    assert_eq!(
        size(&draw(&samples, Some(&both), VisMode::Image, Some(4))),
        (74, 38, 1)
    );
    // :59, n_row = 3 and a nested key holding one image: (20, 56, 3).
    let nested = ["something.new"];
    assert_eq!(
        size(&draw(&samples, Some(&nested), VisMode::Image, Some(3))),
        (56, 20, 1)
    );
    // :50, a GIF of the [T, C, H, W] keys found by themselves (gif only): 10 frames of 38x38.
    assert_eq!(
        size(&draw(&samples, None, VisMode::Gif, None)),
        (38, 38, 10)
    );
    // :67, a GIF of a nested sample's sequence, n_row 2.
    let ema = ["ema"];
    assert_eq!(
        size(&draw(&samples, Some(&ema), VisMode::Gif, Some(2))),
        (38, 38, 10)
    );
}

#[test]
fn channels_beyond_three_are_drawn_as_mmagic_keeps_them_and_two_are_an_error() {
    // mmagic/visualization/visualizer.py:50-66: `image[:, [2, 1, 0], ...]` of whatever it is
    // given; the hook test (test_visualization_hook.py:380) sends a [4, 16, 4, 4] feature map.
    // Channel c of this tensor holds the value 10 * c (0..150), drawn with the identity map.
    let planes: Vec<f32> = (0..16).flat_map(|c| vec![10.0 * c as f32; 4]).collect();
    let feat = Tensor::from_vec(planes, &[16, 2, 2]).unwrap();
    let samples = [DataSample::new().with("feat_map", feat)];
    let (vis, _) = recording();
    let bgr = vis_core::PixelSpec {
        order: vis_core::vis_ops::ChannelOrder::Bgr,
        ..vis_core::PixelSpec::default()
    };
    let request = DrawRequest {
        name: "train_feat_map",
        samples: &samples,
        target_keys: None,
        vis_mode: VisMode::Image,
        n_row: None,
        step: 1,
        extra: &Extra::new(),
        pixels: Some(&bgr),
    };
    let picture = vis.draw(&request).unwrap();
    let Picture::Image(image) = picture else {
        panic!("an image")
    };
    // In MMagic's BGR: R from channel 2, G from 1, B from 0; the map x * 127.5 + 127.5 takes
    // 20 -> 255 (clamped), 10 -> 255, 0 -> 127.
    assert_eq!(&image.as_bytes()[..3], &[255, 255, 127]);

    let two = Tensor::from_vec(vec![0.0f32; 8], &[2, 2, 2]).unwrap();
    let samples = [DataSample::new().with("feat_map", two)];
    let err = vis
        .draw(&DrawRequest {
            samples: &samples,
            ..request
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("2 channels"), "{err}");
}

#[test]
fn a_sixteen_channel_message_hub_tensor_is_drawn() {
    // test_visualization_hook.py:356-400: vis_results = {feat_map: randn(4, 16, 4, 4)}, drawn
    // as train_feat_map with 4 samples (MMagic's 'feature_map' mode has no drawing code; vis
    // draws it as an image).
    let (vis, seen) = recording();
    let config = HookConfig::from_json(
        &json!({"interval": 2, "n_samples": 9, "vis_kwargs_list": {"type": "GAN"},
                "message_hub_vis_kwargs": "feat_map"})
        .to_string(),
    )
    .unwrap();
    let mut hook: VisualizationHook<FakeEngine> = VisualizationHook::new(config, vis).unwrap();
    hook.message_hub()
        .set_vis_result("feat_map", HubValue::Tensor(noise(&[4, 16, 4, 4], 5)));
    let mut engine = FakeEngine::new(10);
    for batch_idx in 0..3 {
        hook.after_train_iter(&mut engine, batch_idx).unwrap();
    }
    hook.flush().unwrap();
    let pictures = seen.lock().unwrap();
    let names: Vec<&str> = pictures.iter().map(|p| p.0.as_str()).collect();
    // One visualization (batch_idx 1 of 0..3 with interval 2): the GAN grid and the map.
    assert_eq!(names, ["gan", "train_feat_map"]);
    // 4 samples of 4x4, 2 per row.
    assert_eq!(pictures[1].2.size(), (14, 14));
}

#[test]
fn config_defaults_as_mmagic_s_test_init() {
    // test_visualization_hook.py:91-107.
    let one =
        HookConfig::from_json(r#"{"interval": 10, "vis_kwargs_list": {"type": "Noise"}}"#).unwrap();
    assert_eq!(one.interval, 10);
    assert_eq!(one.vis_kwargs_list.len(), 1);
    assert_eq!(one.vis_kwargs_list[0].kind, "Noise");
    assert_eq!(one.n_samples, 64);
    assert!(!one.show);
    let two = HookConfig::from_json(
        r#"{"vis_kwargs_list": [{"type": "Noise"}, {"type": "Translation"}]}"#,
    )
    .unwrap();
    assert_eq!(two.vis_kwargs_list.len(), 2);
    // test_visualization_hook.py:400 draws a message-hub key with vis_mode 'feature_map', for
    // which MMagic's visualizer has no drawing method; vis says so when the config is read.
    let err = HookConfig::from_json(
        r#"{"message_hub_vis_kwargs": {"key": "feat_map", "vis_mode": "feature_map"}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown variant `feature_map`"), "{err}");
    // MMagic's show=True empties the visualizer's backends and warns; vis has no window, so it
    // is a config error that says so (a deliberate difference).
    let err = HookConfig::from_json(r#"{"show": true}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no window"), "{err}");
}

#[test]
fn test_time_indices_count_samples_from_the_first_call() {
    // test_visualization_hook.py:598-618: max_save_at_test 3, test_vis_keys 'ema', 4 outputs.
    // MMagic numbers a sample `batch_idx * len(outputs) + i`: at batch 42 that is 168 on, past
    // the limit, and nothing is saved; at batch 0, three. vis counts the samples seen since
    // the test loop's first call (a deliberate difference: a short last batch cannot overwrite
    // earlier files), so the first three samples it sees are saved, whatever their batch.
    let outputs: Vec<DataSample> = (0..4)
        .map(|i| {
            DataSample::new().with(
                "ema",
                DataSample::new().with("fake_img", noise(&[3, 6, 6], i)),
            )
        })
        .collect();
    let config = HookConfig::from_json(
        r#"{"max_save_at_test": 3, "test_vis_keys": "ema", "vis_kwargs_list": {"type": "GAN"}}"#,
    )
    .unwrap();
    let (vis, seen) = recording();
    let mut hook: VisualizationHook<FakeEngine> = VisualizationHook::new(config, vis).unwrap();
    hook.after_test_iter(0, &outputs).unwrap();
    hook.flush().unwrap();
    let steps: Vec<u64> = seen.lock().unwrap().iter().map(|p| p.1).collect();
    assert_eq!(steps, [0, 1, 2]);
    // Each picture is the bare 6x6 image: one sample, n_row 1 (make_grid returns a lone image
    // without a border).
    assert!(seen.lock().unwrap().iter().all(|p| p.2.size() == (6, 6)));
}
