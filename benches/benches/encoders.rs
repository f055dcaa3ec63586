//! Micro benchmarks of the encoders on a smooth 530x530 grid (the dcgan workload's size): vis's
//! PNG path against the `png` crate's fdeflate path, and the GIF palettes per frame and global.
//!
//! `cargo bench -p vis-bench --bench encoders`

use divan::{Bencher, black_box};
use vis_ops::{GifPalette, PngSpeed, RgbFrames, RgbImage, encode_gif, encode_png};

fn main() {
    divan::main();
}

/// A smooth picture with grain, like a GAN's samples.
fn picture(w: usize, h: usize, seed: u32) -> RgbImage {
    let mut x = seed | 1;
    let data = (0..w * h * 3)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let (px, c) = (i / 3, i % 3);
            let (col, row) = ((px % w) as f32, (px / w) as f32);
            let v = 128.0 + 90.0 * ((col * 0.03 + c as f32).sin() * (row * 0.02).cos());
            (v + (x % 9) as f32 - 4.0) as u8
        })
        .collect();
    RgbImage::from_raw(w, h, data).unwrap()
}

#[divan::bench]
fn png_vis_fast(bencher: Bencher) {
    let image = picture(530, 530, 1);
    let mut out = Vec::new();
    bencher.bench_local(|| {
        out.clear();
        encode_png(black_box(&image), PngSpeed::Fast, &mut out).unwrap();
    });
}

#[divan::bench]
fn png_crate_fdeflate(bencher: Bencher) {
    let image = picture(530, 530, 1);
    let mut out = Vec::new();
    bencher.bench_local(|| {
        out.clear();
        let mut e = png::Encoder::new(&mut out, 530, 530);
        e.set_color(png::ColorType::Rgb);
        e.set_compression(png::Compression::Fast);
        let mut w = e.write_header().unwrap();
        w.write_image_data(black_box(image.as_bytes())).unwrap();
        w.finish().unwrap();
    });
}

fn frames() -> RgbFrames {
    let images: Vec<RgbImage> = (0..10).map(|t| picture(266, 266, 1 + t)).collect();
    RgbFrames::from_images(&images).unwrap()
}

#[divan::bench(args = [GifPalette::PerFrame, GifPalette::Global])]
fn gif_ten_frames(bencher: Bencher, palette: GifPalette) {
    let frames = frames();
    let mut out = Vec::new();
    bencher.bench_local(|| {
        out.clear();
        encode_gif(black_box(&frames), 2, palette, &mut out).unwrap();
    });
}
