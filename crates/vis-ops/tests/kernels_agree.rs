//! The SIMD (portable and fastest) and parallel kernels draw exactly the scalar reference's bytes on random grids:
//! odd widths, 1 to 70 images, one to three keys of 1 or 3 channels, sequences, every map,
//! every quantize rule and both channel orders, f32/f16/bf16/u8, whole batches and batches of
//! separate images, NaN and infinities sprinkled in.

use proptest::prelude::*;
use vis_ops::half::{bf16, f16};
use vis_ops::{
    ChannelOrder, Elements, FrameSpec, GridSpec, ImageBatch, Kernel, PixelMap, Quantize,
    RenderSpec, Renderer,
};

#[derive(Clone, Copy, Debug)]
enum Dtype {
    F32,
    F16,
    Bf16,
    U8,
}

/// One random drawing request; the data comes from `seed`.
#[derive(Clone, Debug)]
struct Request {
    n: usize,
    t: Option<usize>,
    h: usize,
    w: usize,
    channels: Vec<usize>,
    dtype: Dtype,
    separate_images: bool,
    spec: RenderSpec,
    seed: u64,
    special_every: u64,
}

fn map() -> impl Strategy<Value = PixelMap> {
    let list = || {
        prop_oneof![
            prop::collection::vec(-200.0f64..200.0, 1),
            prop::collection::vec(-200.0f64..200.0, 3),
        ]
    };
    let end = || prop_oneof![Just(None), (-3.0f64..3.0).prop_map(Some)];
    prop_oneof![
        Just(PixelMap::Unit),
        Just(PixelMap::Identity),
        Just(PixelMap::gan()),
        (list(), list()).prop_map(|(mean, std)| PixelMap::Denorm { mean, std }),
        (end(), end(), any::<bool>()).prop_map(|(a, b, scale_each)| {
            let (lo, hi) = match (a, b) {
                (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
                other => other,
            };
            PixelMap::Range { lo, hi, scale_each }
        }),
    ]
}

fn spec() -> impl Strategy<Value = RenderSpec> {
    (
        map(),
        prop_oneof![
            Just(Quantize::RoundHalfUp),
            Just(Quantize::Truncate),
            Just(Quantize::RoundHalfEven)
        ],
        any::<bool>(),
        prop_oneof![Just(None), (1usize..12).prop_map(Some)],
        0usize..4,
        any::<u8>(),
    )
        .prop_map(|(map, quantize, bgr, nrow, padding, pad_byte)| RenderSpec {
            map,
            quantize,
            order: if bgr {
                ChannelOrder::Bgr
            } else {
                ChannelOrder::Rgb
            },
            grid: GridSpec {
                nrow,
                padding,
                pad_byte,
                pad_to_nrow: false,
            },
        })
}

fn request() -> impl Strategy<Value = Request> {
    (
        1usize..=70,
        prop_oneof![Just(None), (1usize..4).prop_map(Some)],
        1usize..6,
        1usize..=67,
        prop::collection::vec(prop_oneof![Just(1usize), Just(3usize)], 1..=3),
        prop_oneof![
            Just(Dtype::F32),
            Just(Dtype::F16),
            Just(Dtype::Bf16),
            Just(Dtype::U8)
        ],
        any::<bool>(),
        spec(),
        any::<u64>(),
        2u64..50,
    )
        .prop_map(
            |(n, t, h, w, channels, dtype, separate_images, spec, seed, special_every)| Request {
                n,
                t,
                h,
                w,
                channels,
                dtype,
                separate_images,
                spec,
                seed,
                special_every,
            },
        )
}

/// A tiny deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Mostly values in [-1.5, 1.5]; every so often NaN, an infinity or a huge value.
    fn value(&mut self, special_every: u64) -> f32 {
        let r = self.next();
        if r.is_multiple_of(special_every) {
            [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30][(r >> 32) as usize % 5]
        } else {
            ((r >> 40) as f32 / (1u64 << 24) as f32) * 3.0 - 1.5
        }
    }
}

/// A key's data in its dtype.
enum Owned {
    F32(Vec<f32>),
    F16(Vec<f16>),
    Bf16(Vec<bf16>),
    U8(Vec<u8>),
}

impl Owned {
    fn data(&self) -> Elements<'_> {
        match self {
            Owned::F32(d) => Elements::F32(d),
            Owned::F16(d) => Elements::F16(d),
            Owned::Bf16(d) => Elements::Bf16(d),
            Owned::U8(d) => Elements::U8(d),
        }
    }
}

fn draw(req: &Request, keys: &[ImageBatch<'_>], kernel: Kernel) -> Vec<u8> {
    let r = Renderer::new(kernel);
    match req.t {
        None => r.grid(keys, &req.spec).unwrap().into_bytes(),
        Some(_) => r
            .frames(
                keys,
                &req.spec,
                &FrameSpec {
                    n_skip: 2,
                    fps: 10.0,
                },
            )
            .unwrap()
            .as_bytes()
            .to_vec(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn simd_and_parallel_equal_the_scalar_reference(req in request()) {
        // A grey key takes one mean and std (three are refused: they are per input channel).
        let mut req = req;
        if req.channels.contains(&1)
            && let PixelMap::Denorm { mean, std } = &mut req.spec.map
        {
            mean.truncate(1);
            std.truncate(1);
        }
        let mut rng = Rng(req.seed);
        let owned: Vec<Owned> = req
            .channels
            .iter()
            .map(|&c| {
                let len = req.n * req.t.unwrap_or(1) * c * req.h * req.w;
                let v: Vec<f32> = (0..len).map(|_| rng.value(req.special_every)).collect();
                match req.dtype {
                    Dtype::F32 => Owned::F32(v),
                    Dtype::F16 => Owned::F16(v.iter().map(|&x| f16::from_f32(x)).collect()),
                    Dtype::Bf16 => Owned::Bf16(v.iter().map(|&x| bf16::from_f32(x)).collect()),
                    Dtype::U8 => Owned::U8(v.iter().map(|&x| (x * 100.0 + 128.0) as u8).collect()),
                }
            })
            .collect();
        let keys: Vec<ImageBatch<'_>> = owned
            .iter()
            .zip(&req.channels)
            .enumerate()
            .map(|(i, (o, &c))| {
                let image: Vec<usize> = match req.t {
                    None => vec![c, req.h, req.w],
                    Some(t) => vec![t, c, req.h, req.w],
                };
                let per_image: usize = image.iter().product();
                if req.separate_images {
                    let images = (0..req.n)
                        .map(|k| o.data().get(k * per_image..(k + 1) * per_image).unwrap())
                        .collect();
                    ImageBatch::from_images(format!("key{i}"), images, &image).unwrap()
                } else {
                    let mut shape = vec![req.n];
                    shape.extend(&image);
                    ImageBatch::new(format!("key{i}"), o.data(), &shape).unwrap()
                }
            })
            .collect();
        let want = draw(&req, &keys, Kernel::Scalar);
        for kernel in [Kernel::Wide, Kernel::Simd, Kernel::Parallel, Kernel::Auto] {
            let got = draw(&req, &keys, kernel);
            prop_assert!(got == want, "{:?} differs from the scalar reference", kernel);
        }
    }
}
