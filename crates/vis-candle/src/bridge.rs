//! Candle tensors into vis: a CPU tensor that is contiguous is lent to the grid kernel in place
//! (it holds Candle's storage read lock while drawing); a strided one is made contiguous once,
//! one on another device is copied to the CPU once. f32, f16 and bf16 are read as they are,
//! u8 as bytes; f64 is narrowed to f32 once. Shapes are checked: rank 3 (`[C, H, W]`), 4 or 5
//! with 1 or 3 channels in the third dimension from the end, nothing empty. What vis keeps is
//! detached: a model's op graph never outlives its forward pass because vis holds an output.

use std::ops::Deref;
use std::sync::Arc;

use candle_core::{CpuStorage, DType, Device, Storage, Tensor};
use vis_core::{DataSample, Lent, TensorStorage};
use vis_ops::Elements;

use crate::error::{Error, Result};

/// A contiguous CPU Candle tensor as vis-core storage.
#[derive(Debug)]
struct CandleStorage {
    tensor: Tensor,
}

/// Candle's storage, read-locked for as long as the kernel reads it.
struct CandleLend<G> {
    guard: G,
    start: usize,
    end: usize,
}

impl<G: Deref<Target = Storage>> Lent for CandleLend<G> {
    fn elements(&self) -> Elements<'_> {
        let range = self.start..self.end;
        // The storage was checked to be CPU and of a drawable dtype when it was wrapped;
        // anything else lends nothing, which the grid pass reports as a size mismatch.
        match &*self.guard {
            Storage::Cpu(CpuStorage::F32(v)) => Elements::F32(v.get(range).unwrap_or_default()),
            Storage::Cpu(CpuStorage::F16(v)) => Elements::F16(v.get(range).unwrap_or_default()),
            Storage::Cpu(CpuStorage::BF16(v)) => Elements::Bf16(v.get(range).unwrap_or_default()),
            Storage::Cpu(CpuStorage::U8(v)) => Elements::U8(v.get(range).unwrap_or_default()),
            _ => Elements::U8(&[]),
        }
    }
}

impl TensorStorage for CandleStorage {
    fn len(&self) -> usize {
        self.tensor.elem_count()
    }

    fn lend(&self) -> vis_core::Result<Box<dyn Lent + '_>> {
        let (guard, layout) = self.tensor.storage_and_layout();
        let (start, end) = layout.contiguous_offsets().ok_or_else(|| {
            vis_core::Error::Sample("a Candle tensor lost its contiguous layout".into())
        })?;
        Ok(Box::new(CandleLend { guard, start, end }))
    }
}

/// Checks `tensor` for drawing and returns it contiguous on the CPU in a drawable dtype,
/// copying only when it must.
fn drawable(name: &str, tensor: &Tensor) -> Result<Tensor> {
    let err = |message: String| Error::Tensor {
        name: name.to_owned(),
        message,
    };
    let dims = tensor.dims();
    if !(3..=5).contains(&dims.len()) {
        return Err(err(format!(
            "shape {dims:?} has rank {}; vis draws [C, H, W], [N, C, H, W], [T, C, H, W] or \
             [N, T, C, H, W]",
            dims.len()
        )));
    }
    // More than three channels are drawn as MMagic's visualizer draws them: the first three.
    let channels = dims.get(dims.len() - 3).copied().unwrap_or(0);
    if channels == 2 {
        return Err(err(format!(
            "shape {dims:?} has {channels} channels in dimension {}; vis draws 1 (grey) or 3 \
             (colour) channels, or the first three of more",
            dims.len() - 3
        )));
    }
    if tensor.elem_count() == 0 {
        return Err(err(format!("shape {dims:?} holds no element")));
    }
    let tensor = match tensor.dtype() {
        DType::F32 | DType::F16 | DType::BF16 | DType::U8 => tensor.clone(),
        DType::F64 => tensor.to_dtype(DType::F32)?,
        other => {
            return Err(err(format!(
                "dtype {other:?} cannot be drawn; convert to f32, f16, bf16 or u8"
            )));
        }
    };
    let tensor = match tensor.device() {
        Device::Cpu => tensor,
        _ => tensor.to_device(&Device::Cpu)?,
    };
    // Candle has no no-grad mode: a forward pass through trainable weights records its op
    // graph, which holds every activation of the pass. Detached, the picture keeps only its
    // own storage, and the graph goes when the model's output does.
    Ok(tensor.contiguous()?.detach())
}

/// A vis-core tensor over `tensor` (named `name` in errors), sharing its storage when it is a
/// contiguous CPU tensor.
pub fn to_vis(name: &str, tensor: &Tensor) -> Result<vis_core::Tensor> {
    let tensor = drawable(name, tensor)?;
    let shape = tensor.dims().to_vec();
    Ok(vis_core::Tensor::new(
        Arc::new(CandleStorage { tensor }),
        &shape,
    )?)
}

/// One data sample per index of the first dimension of every tensor of `keys` (all of the
/// same length): key `k` of sample `i` is a view of `tensor[i]`, copied to no new buffer.
pub fn samples_from_batch(keys: &[(&str, &Tensor)]) -> Result<Vec<DataSample>> {
    let Some((first_key, first)) = keys.first() else {
        return Ok(Vec::new());
    };
    let n = first.dims().first().copied().unwrap_or(0);
    let mut samples = vec![DataSample::new(); n];
    for (key, tensor) in keys {
        let len = tensor.dims().first().copied().unwrap_or(0);
        if len != n {
            return Err(Error::Tensor {
                name: (*key).to_owned(),
                message: format!("holds {len} samples where '{first_key}' holds {n}"),
            });
        }
        let batch = to_vis(key, tensor)?;
        for (i, sample) in samples.iter_mut().enumerate() {
            sample.insert(*key, batch.index(i)?);
        }
    }
    Ok(samples)
}
