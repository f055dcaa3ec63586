//! vis-ops: the pixel path of vis.
//!
//! Float tensors (f32, f16 or bf16; `[N, C, H, W]` images or `[N, T, C, H, W]` sequences) become
//! an RGB grid in one fused pass (map, clamp, quantize, channel order, tiling) that reproduces
//! torchvision's `make_grid` + `save_image` and MMagic's visualizer byte for byte, then PNG,
//! APNG or animated GIF files, written atomically.
//!
//! ```
//! use vis_ops::{ImageBatch, PixelMap, RenderSpec, render_grid};
//! let data = vec![0.5f32; 4 * 3 * 8 * 8];
//! let batch = ImageBatch::new("fake_img", data.as_slice(), &[4, 3, 8, 8])?;
//! let spec = RenderSpec { map: PixelMap::gan(), ..RenderSpec::default() };
//! let grid = render_grid(&[batch], &spec)?;
//! assert_eq!((grid.width(), grid.height()), (22, 22));
//! # Ok::<(), vis_ops::Error>(())
//! ```
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod batch;
mod error;
pub mod fs;
mod gif;
mod image;
mod kernel;
mod layout;
mod memory;
mod pixel;
mod png;
mod render;
mod spec;
mod tensor_file;

pub use batch::{BatchDims, Elements, ImageBatch, Sample};
pub use error::{Error, Result};
pub use gif::{GifPalette, encode_gif};
pub use image::{RgbFrames, RgbImage, RgbView};
pub use kernel::{Kernel, PARALLEL_MIN_PIXELS};
pub use layout::{GridLayout, MAX_PICTURE_BYTES, MAX_SIDE, default_nrow, picture_bytes};
pub use memory::{Encoding, RenderMemory};
#[doc(hidden)]
pub use png::bench as png_bench;
pub use png::{PngSpeed, encode_apng, encode_png};
pub use render::{Renderer, render_frames, render_grid};
pub use spec::{
    AnimationFormat, ChannelOrder, FrameDelay, FrameSpec, GridSpec, PixelMap, Quantize, RenderSpec,
};
pub use tensor_file::{FileTensor, MAX_HEADER_BYTES, TensorEntry, TensorFile};

/// Re-exported so callers can build f16/bf16 views without naming the crate themselves.
pub use half;
