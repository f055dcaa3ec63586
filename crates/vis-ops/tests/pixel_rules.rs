//! Rules of the pixel contract that keep a picture from being silently wrong: bytes are drawn as
//! they are, and per-channel lists are never applied to a grey tensor as if it had colour.

use vis_ops::{ChannelOrder, ImageBatch, PixelMap, RenderSpec, render_grid};

#[test]
fn u8_tensors_are_drawn_as_their_bytes_under_every_map() {
    let bytes: Vec<u8> = vec![0, 200, 10, 100, 255, 7];
    for map in [
        PixelMap::Unit,
        PixelMap::Identity,
        PixelMap::gan(),
        PixelMap::Range {
            lo: None,
            hi: None,
            scale_each: false,
        },
    ] {
        for order in [ChannelOrder::Rgb, ChannelOrder::Bgr] {
            let batch = ImageBatch::new("img", bytes.as_slice(), &[1, 3, 1, 2]).unwrap();
            let spec = RenderSpec {
                map: map.clone(),
                order,
                ..RenderSpec::default()
            };
            let grid = render_grid(&[batch], &spec).unwrap();
            // Planes R = [0, 200], G = [10, 100], B = [255, 7]; BGR input swaps R and B.
            let want: &[u8] = match order {
                ChannelOrder::Rgb => &[0, 10, 255, 200, 100, 7],
                ChannelOrder::Bgr => &[255, 10, 0, 7, 100, 200],
            };
            assert_eq!(grid.as_bytes(), want, "{map:?} {order:?}");
        }
    }
}

#[test]
fn a_grey_tensor_given_three_means_or_stds_is_refused() {
    let grey = vec![0.5f32; 4];
    let colour = vec![0.5f32; 12];
    for (mean, std) in [
        (vec![1.0, 2.0, 3.0], vec![127.5]),
        (vec![127.5], vec![1.0, 2.0, 3.0]),
    ] {
        let spec = RenderSpec {
            map: PixelMap::Denorm { mean, std },
            ..RenderSpec::default()
        };
        let keys = [
            ImageBatch::new("rgb", colour.as_slice(), &[1, 3, 2, 2]).unwrap(),
            ImageBatch::new("mask", grey.as_slice(), &[1, 1, 2, 2]).unwrap(),
        ];
        let err = render_grid(&keys, &spec).unwrap_err().to_string();
        assert!(
            err.starts_with("tensor 'mask' has 1 channel, but ") && err.contains("has 3 values"),
            "{err}"
        );
    }
    // One value serves every channel.
    let spec = RenderSpec {
        map: PixelMap::gan(),
        ..RenderSpec::default()
    };
    let keys = [ImageBatch::new("mask", grey.as_slice(), &[1, 1, 2, 2]).unwrap()];
    assert_eq!(
        render_grid(&keys, &spec).unwrap().as_bytes()[..3],
        [191, 191, 191]
    );
}
