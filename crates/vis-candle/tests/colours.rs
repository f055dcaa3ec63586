//! A Candle model's colours are right by default, and MMagic's conventions are one setting away:
//! a pure-red RGB sample in [-1, 1] through the README's hook snippet and a config without pixel
//! settings is drawn red, with `color_order = "bgr"` blue; `target_mean`, `target_std` and
//! `quantize` are read at the top level, per vis-kwargs entry and per message-hub entry.

use std::path::Path;

use candle_core::{Device, Tensor};
use vis_candle::prelude::*;

/// A model whose every output is one image: red in RGB, [-1, 1].
struct Red {
    device: Device,
}

impl GenerativeModel for Red {
    fn device(&self) -> &Device {
        &self.device
    }

    fn noise(&self, num_batches: usize, rng: &mut SeededRng) -> vis_candle::Result<Tensor> {
        rng.normal(&[num_batches, 1], &self.device)
    }

    fn set_train(&mut self, _: bool) {}

    fn val_step(&mut self, inputs: &Inputs) -> vis_candle::Result<Vec<DataSample>> {
        let n = inputs.len();
        // Channel 0 at +1 (full), channels 1 and 2 at -1 (none): pure red, 2x2.
        let red = Tensor::new(
            &[[[1f32; 2]; 2], [[-1f32; 2]; 2], [[-1f32; 2]; 2]],
            &self.device,
        )?;
        let batch = red.unsqueeze(0)?.repeat((n, 1, 1, 1))?;
        samples_from_batch(&[("fake_img", &batch)])
    }
}

/// The README's hook snippet with `config` as hook.toml: the first pixel of the grid drawn at
/// step 1, from the PNG file written.
fn first_pixel(dir: &Path, config: &str) -> [u8; 3] {
    std::fs::write(dir.join("hook.toml"), config).unwrap();
    let mut engine = CandleEngine::new(
        Red {
            device: Device::Cpu,
        },
        4,
        0,
    );
    let config = HookConfig::from_file(&dir.join("hook.toml")).unwrap();
    let mut hook = VisualizationHook::new(config, Visualizer::local(dir).unwrap()).unwrap();
    hook.after_train_iter(&mut engine, 0).unwrap();
    hook.close().unwrap();
    let png = dir.join("vis_data/vis_image/fake_img_1.png");
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut buf).unwrap();
    // Four images of 2x2 with a border of 2: pixel (2, 2) is the first image's first pixel.
    let width = reader.info().width as usize;
    let at = (2 * width + 2) * 3;
    [buf[at], buf[at + 1], buf[at + 2]]
}

const GAN: &str =
    "interval = 1\nn_samples = 4\nvis_kwargs_list = { type = \"GAN\", name = \"fake_img\" }\n";

#[test]
fn a_red_rgb_sample_is_drawn_red_by_default_and_blue_in_mmagic_s_order() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(first_pixel(dir.path(), GAN), [255, 0, 0]);
    let dir = tempfile::tempdir().unwrap();
    let bgr = format!("color_order = \"bgr\"\n{GAN}");
    assert_eq!(first_pixel(dir.path(), &bgr), [0, 0, 255]);
}

#[test]
fn the_pixel_settings_are_read_at_every_level_and_the_nearest_wins() {
    // A [0, 1] model would take target_mean = 0, target_std = 255; here the red sample's -1 and
    // +1 under mean 100, std 50 give 50 and 150; round or truncate alike on whole values.
    let dir = tempfile::tempdir().unwrap();
    let top = format!("target_mean = 100\ntarget_std = 50\n{GAN}");
    assert_eq!(first_pixel(dir.path(), &top), [150, 50, 50]);
    // Per channel, in input order.
    let dir = tempfile::tempdir().unwrap();
    let per_channel = format!("target_mean = [100, 10, 20]\ntarget_std = 50\n{GAN}");
    assert_eq!(first_pixel(dir.path(), &per_channel), [150, 0, 0]);
    // An entry's own settings win over the hook's.
    let dir = tempfile::tempdir().unwrap();
    let entry = "interval = 1\nn_samples = 4\ncolor_order = \"bgr\"\n\
                 vis_kwargs_list = { type = \"GAN\", name = \"fake_img\", color_order = \"rgb\", quantize = \"round\", target_std = 127.4 }\n";
    // 1 * 127.4 + 127.5 = 254.9: rounded to 255 (truncated it would be 254).
    assert_eq!(first_pixel(dir.path(), entry), [255, 0, 0]);
}

#[test]
fn wrong_pixel_settings_are_errors_naming_the_field() {
    for (config, field) in [
        (
            "target_mean = [1, 2]",
            "field `target_mean`: give one value or three",
        ),
        (
            "vis_kwargs_list = { type = \"GAN\", target_std = [1, 2, 3, 4] }",
            "field `vis_kwargs_list[0].target_std`: give one value or three",
        ),
        (
            "color_order = \"rbg\"",
            "field `color_order`: unknown variant `rbg`",
        ),
        (
            "quantize = \"floor\"",
            "field `quantize`: unknown variant `floor`",
        ),
        (
            "message_hub_vis_kwargs = { key = \"x\", color_order = \"grb\" }",
            "field `message_hub_vis_kwargs",
        ),
    ] {
        let err = HookConfig::from_toml(config).unwrap_err().to_string();
        assert!(err.starts_with(field), "{config}: {err}");
    }
}
