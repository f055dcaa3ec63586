//! The README's restoration snippet: input, output and ground truth side by side for every
//! validation and test sample, named after the sample's file, as MMagic's BasicVisualizationHook
//! with ConcatImageVisualizer.
use candle_core::{Device, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join("vis-readme-restoration");
    std::fs::create_dir_all(&dir)?;
    std::env::set_current_dir(&dir)?;
    std::fs::write(
        "concat.toml",
        "fn_key = \"img_path\"\nimg_keys = [\"input\", \"pred\", \"gt\"]\npixel_range = { input = [0.0, 1.0], pred = [0.0, 1.0], gt = [0.0, 1.0] }\n",
    )?;
    std::fs::write("basic.toml", "interval = { val = 1, test = 1 }\n")?;
    let image = |v: f32| Tensor::full(v, (3, 8, 8), &Device::Cpu);
    let (input, pred, gt) = (image(0.2)?, image(0.5)?, image(0.6)?);
    let (batch_idx, global_iter) = (0, 1000);
    // --- README ---
    use vis_candle::prelude::*;

    // concat.toml: fn_key = "img_path", img_keys = ["input", "pred", "gt"],
    //              pixel_range = { input = [0.0, 1.0], pred = [0.0, 1.0], gt = [0.0, 1.0] }
    let concat = ConcatImageVisualizer::new(
        ConcatConfig::from_file("concat.toml".as_ref())?,
        vec![Box::new(LocalVisBackend::new("work_dirs/sr/vis_data"))],
    )?;
    let mut hook =
        BasicVisualizationHook::new(BasicHookConfig::from_file("basic.toml".as_ref())?, concat);
    // In the validation (or test) loop, for each batch of the model's outputs:
    let outputs = vec![
        DataSample::new()
            .with("img_path", "data/val/0801.png") // the file name: 0801_{step}.png
            .with("input", to_vis("input", &input)?) // Candle tensors [C, H, W] in [0, 1]
            .with("pred", to_vis("pred", &pred)?)
            .with("gt", to_vis("gt", &gt)?),
    ];
    hook.after_iter(Mode::Val, batch_idx, &outputs, global_iter)?;
    hook.close()?; // work_dirs/sr/vis_data/vis_image/0801_1000.png
    // --- end README ---
    assert!(std::path::Path::new("work_dirs/sr/vis_data/vis_image/0801_1000.png").is_file());
    Ok(())
}
