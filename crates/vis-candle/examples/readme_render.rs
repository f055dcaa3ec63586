//! The README's "As a library" snippet: floats to a PNG grid with the pixel path alone.
fn main() -> Result<(), vis_candle::ops::Error> {
    let samples = vec![0.25f32; 64 * 3 * 32 * 32];
    let dir = std::env::temp_dir();
    std::env::set_current_dir(&dir).map_err(|source| vis_candle::ops::Error::Io {
        action: "entering",
        path: dir.clone(),
        source,
    })?;
    // --- README ---
    use vis_candle::ops::{
        ChannelOrder, GridSpec, ImageBatch, PixelMap, PngSpeed, Quantize, RenderSpec,
    };

    let batch = ImageBatch::new("fake_img", samples.as_slice(), &[64, 3, 32, 32])?; // f32, f16 or bf16
    let spec = RenderSpec {
        map: PixelMap::gan(),         // x * 127.5 + 127.5: outputs in [-1, 1]
        quantize: Quantize::Truncate, // MMagic's astype(np.uint8); RoundHalfUp is torchvision's
        order: ChannelOrder::Rgb,     // ChannelOrder::Bgr for MMagic's BGR samples
        grid: GridSpec {
            nrow: Some(8),
            ..GridSpec::default()
        },
    };
    let grid = vis_candle::ops::render_grid(&[batch], &spec)?; // 274 x 274 RGB
    vis_candle::ops::fs::write_atomic("fake_img_1000.png".as_ref(), |w| {
        vis_candle::ops::encode_png(&grid, PngSpeed::Fast, w)
    })?;
    // --- end README ---
    assert_eq!((grid.width(), grid.height()), (274, 274));
    Ok(())
}
