//! Micro benchmarks of the grid pass: each kernel against a memcpy of the same input bytes.
//!
//! `cargo bench -p vis-bench --bench kernels`

use divan::{Bencher, black_box};
use vis_ops::{
    ChannelOrder, GridSpec, ImageBatch, Kernel, PixelMap, Quantize, RenderSpec, Renderer,
};

fn main() {
    divan::main();
}

/// (name, n, h, w, nrow) of the grids measured.
const SHAPES: [(&str, usize, usize, usize, usize); 3] = [
    ("dcgan_64x3x64x64", 64, 64, 64, 8),
    ("large_4x3x512x512", 4, 512, 512, 2),
    ("pix2pix_32x3x256x256", 32, 256, 256, 4),
];

fn input(n: usize, h: usize, w: usize) -> Vec<f32> {
    (0..n * 3 * h * w)
        .map(|i| (i as f32 * 0.000_37).sin() * 1.02)
        .collect()
}

fn spec(nrow: usize) -> RenderSpec {
    RenderSpec {
        map: PixelMap::gan(),
        quantize: Quantize::Truncate,
        order: ChannelOrder::Bgr,
        grid: GridSpec {
            nrow: Some(nrow),
            ..GridSpec::default()
        },
    }
}

#[divan::bench(args = SHAPES.map(|s| s.0))]
fn memcpy(bencher: Bencher, name: &str) {
    let (_, n, h, w, _) = SHAPES.into_iter().find(|s| s.0 == name).unwrap();
    let src = input(n, h, w);
    let mut dst = vec![0.0f32; src.len()];
    bencher
        .counter(divan::counter::BytesCount::of_slice(&src))
        .bench_local(|| dst.copy_from_slice(black_box(&src)));
}

fn grid(bencher: Bencher, name: &str, kernel: Kernel) {
    let (_, n, h, w, nrow) = SHAPES.into_iter().find(|s| s.0 == name).unwrap();
    let src = input(n, h, w);
    let batch = ImageBatch::new("x", src.as_slice(), &[n, 3, h, w]).unwrap();
    let spec = spec(nrow);
    let renderer = Renderer::new(kernel);
    let mut buf = Vec::new();
    bencher
        .counter(divan::counter::BytesCount::of_slice(&src))
        .bench_local(|| {
            renderer
                .grid_into(black_box(std::slice::from_ref(&batch)), &spec, &mut buf)
                .unwrap()
        });
}

#[divan::bench(args = SHAPES.map(|s| s.0))]
fn grid_scalar(bencher: Bencher, name: &str) {
    grid(bencher, name, Kernel::Scalar);
}

#[divan::bench(args = SHAPES.map(|s| s.0))]
fn grid_simd(bencher: Bencher, name: &str) {
    grid(bencher, name, Kernel::Simd);
}

#[divan::bench(args = SHAPES.map(|s| s.0))]
fn grid_wide(bencher: Bencher, name: &str) {
    grid(bencher, name, Kernel::Wide);
}

#[divan::bench(args = SHAPES.map(|s| s.0))]
fn grid_parallel(bencher: Bencher, name: &str) {
    grid(bencher, name, Kernel::Parallel);
}

#[divan::bench(args = SHAPES.map(|s| s.0))]
fn memcpy_new(bencher: Bencher, name: &str) {
    let (_, n, h, w, _) = SHAPES.into_iter().find(|s| s.0 == name).unwrap();
    let src = input(n, h, w);
    bencher
        .counter(divan::counter::BytesCount::of_slice(&src))
        .bench_local(|| black_box(&src).to_vec());
}

#[divan::bench(args = SHAPES.map(|s| s.0))]
fn grid_simd_new(bencher: Bencher, name: &str) {
    let (_, n, h, w, nrow) = SHAPES.into_iter().find(|s| s.0 == name).unwrap();
    let src = input(n, h, w);
    let batch = ImageBatch::new("x", src.as_slice(), &[n, 3, h, w]).unwrap();
    let spec = spec(nrow);
    let renderer = Renderer::new(Kernel::Simd);
    bencher
        .counter(divan::counter::BytesCount::of_slice(&src))
        .bench_local(|| {
            renderer
                .grid(black_box(std::slice::from_ref(&batch)), &spec)
                .unwrap()
        });
}
