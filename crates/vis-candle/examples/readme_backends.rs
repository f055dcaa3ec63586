//! The README's backends snippet: local files, the gallery and TensorBoard fed by one
//! visualizer, with the losses and the config beside the pictures.
use std::collections::BTreeMap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join("vis-readme-backends");
    std::fs::create_dir_all(&dir)?;
    std::env::set_current_dir(&dir)?;
    let hook_config = vis_candle::prelude::HookConfig::from_toml("interval = 100")?;
    let (losses, step) = (BTreeMap::from([("loss_gen".to_owned(), 1.25)]), 10);
    // --- README ---
    use vis_candle::prelude::*;

    let data = vis_candle::core::vis_data_dir("work_dirs/demo"); // work_dirs/demo/vis_data
    let mut visualizer = Visualizer::new(
        vec![
            Box::new(LocalVisBackend::new(&data)), // vis_image/, scalars.json, config.json
            Box::new(GalleryVisBackend::new(&data)), // index.html, gallery-data.js
            Box::new(TensorboardVisBackend::new(&data)), // events.out.tfevents.*
        ],
        VisualizerConfig::default(),
    )?;
    visualizer.add_scalars(losses, step, None)?; // BTreeMap<String, f64>
    visualizer.add_config(serde_json::to_value(&hook_config)?)?;
    visualizer.close()?;
    // --- end README ---
    Ok(())
}
