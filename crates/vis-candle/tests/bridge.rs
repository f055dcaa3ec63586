//! The tensor bridge: every dtype, in place when contiguous, strided and offset views, outputs
//! kept without their op graph, and the errors for what cannot be drawn.

use candle_core::{DType, Device, IndexOp, Tensor};
use vis_candle::bridge::{samples_from_batch, to_vis};
use vis_ops::Elements;

fn ramp(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::arange(0f32, n as f32, &Device::Cpu)
        .unwrap()
        .affine(1.0 / n as f64, -0.5)
        .unwrap()
        .reshape(shape)
        .unwrap()
}

/// The elements a vis tensor lends, as f32.
fn lent_f32(t: &vis_core::Tensor) -> Vec<f32> {
    let lent = t.lend().unwrap();
    match lent.elements() {
        Elements::F32(v) => v.to_vec(),
        Elements::F16(v) => v.iter().map(|x| x.to_f32()).collect(),
        Elements::Bf16(v) => v.iter().map(|x| x.to_f32()).collect(),
        Elements::U8(v) => v.iter().map(|&x| f32::from(x)).collect(),
    }
}

/// The address of the first element a vis tensor lends.
fn lent_ptr(t: &vis_core::Tensor) -> usize {
    let lent = t.lend().unwrap();
    match lent.elements() {
        Elements::F32(v) => v.as_ptr() as usize,
        Elements::F16(v) => v.as_ptr() as usize,
        Elements::Bf16(v) => v.as_ptr() as usize,
        Elements::U8(v) => v.as_ptr() as usize,
    }
}

/// The address of a contiguous CPU tensor's first element.
fn candle_ptr(t: &Tensor) -> usize {
    use candle_core::{CpuStorage, Storage};
    let (storage, layout) = t.storage_and_layout();
    let start = layout.start_offset();
    match &*storage {
        Storage::Cpu(CpuStorage::F32(v)) => v[start..].as_ptr() as usize,
        Storage::Cpu(CpuStorage::F16(v)) => v[start..].as_ptr() as usize,
        Storage::Cpu(CpuStorage::BF16(v)) => v[start..].as_ptr() as usize,
        Storage::Cpu(CpuStorage::U8(v)) => v[start..].as_ptr() as usize,
        _ => unreachable!(),
    }
}

#[test]
fn every_dtype_is_read_in_place() {
    let base = ramp(&[2, 3, 4, 5]);
    for dtype in [DType::F32, DType::F16, DType::BF16, DType::U8] {
        let t = if dtype == DType::U8 {
            base.affine(400.0, 200.0).unwrap().to_dtype(dtype).unwrap()
        } else {
            base.to_dtype(dtype).unwrap()
        };
        let v = to_vis("x", &t).unwrap();
        assert_eq!(v.shape(), &[2, 3, 4, 5]);
        assert_eq!(lent_ptr(&v), candle_ptr(&t), "{dtype:?} was copied");
        let expected: Vec<f32> = t
            .to_dtype(DType::F32)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(lent_f32(&v), expected, "{dtype:?}");
    }
}

#[test]
fn strided_tensors_are_made_contiguous_and_offset_views_are_lent_in_place() {
    let base = ramp(&[2, 3, 4, 5]);
    // A transposed (non-contiguous) tensor: the values in logical order.
    let transposed = base.transpose(2, 3).unwrap();
    assert!(!transposed.is_contiguous());
    let v = to_vis("x", &transposed).unwrap();
    assert_eq!(v.shape(), &[2, 3, 5, 4]);
    let expected: Vec<f32> = transposed.flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(lent_f32(&v), expected);
    // The second sample of the batch: contiguous at an offset, so not copied.
    let second = base.i(1).unwrap();
    assert!(second.is_contiguous());
    let v = to_vis("x", &second).unwrap();
    assert_eq!(v.shape(), &[3, 4, 5]);
    assert_eq!(lent_ptr(&v), candle_ptr(&second));
    assert_eq!(
        lent_f32(&v),
        second.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
    // A channel slice of every sample is strided: copied once, values right.
    let narrow = base.narrow(1, 0, 1).unwrap();
    let v = to_vis("x", &narrow).unwrap();
    assert_eq!(v.shape(), &[2, 1, 4, 5]);
    assert_eq!(
        lent_f32(&v),
        narrow.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
    // f64 is narrowed to f32 once.
    let v = to_vis("x", &base.to_dtype(DType::F64).unwrap()).unwrap();
    assert_eq!(
        lent_f32(&v),
        base.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
}

#[test]
fn what_cannot_be_drawn_is_an_error_naming_the_tensor() {
    let cases = [
        (ramp(&[3, 4]), "rank 2"),
        (ramp(&[1, 2, 3, 4, 5, 6]), "rank 6"),
        (ramp(&[2, 2, 4, 4]), "2 channels"),
        (ramp(&[2, 4, 4]), "2 channels"),
        (
            Tensor::zeros((0, 3, 4, 4), DType::F32, &Device::Cpu).unwrap(),
            "no element",
        ),
        (ramp(&[3, 4, 4]).to_dtype(DType::I64).unwrap(), "dtype I64"),
    ];
    for (tensor, expected) in cases {
        let err = to_vis("fake_img", &tensor).unwrap_err().to_string();
        assert!(err.contains("fake_img") && err.contains(expected), "{err}");
    }
}

/// A custom op that records when Candle drops it: the op graph of a tensor made by it holds it
/// for as long as any tensor of that graph lives.
struct Watched(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for Watched {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl candle_core::CustomOp1 for Watched {
    fn name(&self) -> &'static str {
        "watched"
    }

    fn cpu_fwd(
        &self,
        storage: &candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let candle_core::CpuStorage::F32(v) = storage else {
            candle_core::bail!("f32 only");
        };
        let (start, end) = layout.contiguous_offsets().unwrap();
        Ok((
            candle_core::CpuStorage::F32(v[start..end].iter().map(|x| x * 2.0).collect()),
            layout.shape().clone(),
        ))
    }
}

#[test]
fn an_output_of_trainable_weights_is_kept_without_its_op_graph() {
    let weights = candle_core::Var::from_tensor(&ramp(&[4, 3, 2, 2])).unwrap();
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fake = weights
        .apply_op1(Watched(std::sync::Arc::clone(&dropped)))
        .unwrap()
        .tanh()
        .unwrap();
    assert!(
        fake.track_op(),
        "a forward pass through a Var records its graph"
    );
    let want = fake.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let samples = samples_from_batch(&[("fake_img", &fake)]).unwrap();
    drop(fake);
    assert!(
        dropped.load(std::sync::atomic::Ordering::SeqCst),
        "the samples hold the model's op graph"
    );
    let got: Vec<f32> = samples
        .iter()
        .flat_map(|s| lent_f32(s.vis_tensor("fake_img").unwrap()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn batches_become_one_sample_per_index_sharing_the_storage() {
    let fake = ramp(&[4, 3, 2, 2]);
    let gt = ramp(&[4, 1, 2, 2]);
    let samples = samples_from_batch(&[("fake_img", &fake), ("gt_img", &gt)]).unwrap();
    assert_eq!(samples.len(), 4);
    for (i, s) in samples.iter().enumerate() {
        let f = s.vis_tensor("fake_img").unwrap();
        assert_eq!(f.shape(), &[3, 2, 2]);
        assert_eq!(
            lent_f32(f),
            fake.i(i)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        );
        assert_eq!(lent_ptr(f), candle_ptr(&fake.i(i).unwrap()));
        assert_eq!(s.vis_tensor("gt_img").unwrap().shape(), &[1, 2, 2]);
    }
    let short = ramp(&[3, 3, 2, 2]);
    let err = samples_from_batch(&[("fake_img", &fake), ("gt_img", &short)]).unwrap_err();
    assert!(err.to_string().contains("gt_img"), "{err}");
}

#[test]
fn drawn_through_the_visualizer_as_vis_ops_draws_the_same_floats() {
    use vis_core::{DrawRequest, Extra, Picture, VisMode, Visualizer, VisualizerConfig};
    let fake = ramp(&[5, 3, 6, 7]).affine(3.0, 0.0).unwrap(); // beyond [-1, 1]: clamped
    let samples = samples_from_batch(&[("fake_img", &fake)]).unwrap();
    let visualizer = Visualizer::new(Vec::new(), VisualizerConfig::default()).unwrap();
    let extra = Extra::new();
    let picture = visualizer
        .draw(&DrawRequest {
            name: "fake_img",
            samples: &samples,
            target_keys: None,
            vis_mode: VisMode::Image,
            n_row: Some(2),
            step: 1,
            extra: &extra,
            pixels: None,
        })
        .unwrap();
    let Picture::Image(drawn) = picture else {
        panic!("an image")
    };
    let data: Vec<f32> = fake.flatten_all().unwrap().to_vec1().unwrap();
    let batch = vis_ops::ImageBatch::new("fake_img", data.as_slice(), &[5, 3, 6, 7]).unwrap();
    let config = VisualizerConfig::default();
    let spec = vis_ops::RenderSpec {
        map: config.pixels.map.clone(),
        quantize: config.pixels.quantize,
        order: config.pixels.order,
        grid: vis_ops::GridSpec {
            nrow: Some(2),
            padding: config.padding,
            pad_byte: config.pad_byte,
            pad_to_nrow: false,
        },
    };
    let expected = vis_ops::render_grid(&[batch], &spec).unwrap();
    assert_eq!(drawn.as_bytes(), expected.as_bytes());
}
