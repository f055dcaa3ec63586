//! Tensors as data samples hold them: a shape and a shared, contiguous storage that lends its
//! elements for drawing. Storage can be vis's own buffers or a framework's (vis-candle lends
//! Candle's CPU storage in place), and a tensor can be a view of part of it (one sample of a
//! batch) without copying.

use std::fmt;
use std::sync::Arc;

use half::{bf16, f16};
use vis_ops::Elements;

use crate::error::{Error, Result};

/// Elements lent by a storage for as long as the value lives.
pub trait Lent {
    /// The elements.
    fn elements(&self) -> Elements<'_>;
}

/// A contiguous, row-major buffer of elements that tensors view.
pub trait TensorStorage: Send + Sync + fmt::Debug {
    /// Number of elements.
    fn len(&self) -> usize;

    /// True when there is no element.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lends the elements (for instance holding a read lock) until the returned value drops.
    fn lend(&self) -> Result<Box<dyn Lent + '_>>;
}

/// vis's own storage: owned vectors.
#[derive(Clone, Debug, PartialEq)]
pub enum OwnedStorage {
    /// 32-bit floats.
    F32(Vec<f32>),
    /// IEEE half floats.
    F16(Vec<f16>),
    /// bfloat16.
    Bf16(Vec<bf16>),
    /// Bytes.
    U8(Vec<u8>),
}

impl Lent for OwnedStorage {
    fn elements(&self) -> Elements<'_> {
        match self {
            OwnedStorage::F32(d) => Elements::F32(d),
            OwnedStorage::F16(d) => Elements::F16(d),
            OwnedStorage::Bf16(d) => Elements::Bf16(d),
            OwnedStorage::U8(d) => Elements::U8(d),
        }
    }
}

impl TensorStorage for OwnedStorage {
    fn len(&self) -> usize {
        self.elements().len()
    }

    fn lend(&self) -> Result<Box<dyn Lent + '_>> {
        Ok(Box::new(OwnedLend(self)))
    }
}

/// Lends an [`OwnedStorage`] by reference.
struct OwnedLend<'a>(&'a OwnedStorage);

impl Lent for OwnedLend<'_> {
    fn elements(&self) -> Elements<'_> {
        self.0.elements()
    }
}

/// A tensor: a view of `shape` elements starting at `offset` in a shared storage.
#[derive(Clone)]
pub struct Tensor {
    storage: Arc<dyn TensorStorage>,
    offset: usize,
    shape: Vec<usize>,
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor{:?}", self.shape)
    }
}

/// The element count of `shape`, or an error naming it when it overflows.
fn numel(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            Error::Sample(format!(
                "shape {shape:?} has more elements than fit in memory"
            ))
        })
}

impl Tensor {
    /// A tensor of `shape` over all of `storage`; the element counts must agree.
    pub fn new(storage: Arc<dyn TensorStorage>, shape: &[usize]) -> Result<Self> {
        let n = numel(shape)?;
        if n != storage.len() {
            return Err(Error::Sample(format!(
                "a tensor of shape {shape:?} needs {n} elements, its storage holds {}",
                storage.len()
            )));
        }
        Ok(Self {
            storage,
            offset: 0,
            shape: shape.to_vec(),
        })
    }

    /// A tensor owning `data` (f32, f16, bf16 or u8) of `shape`.
    pub fn from_vec<T>(data: Vec<T>, shape: &[usize]) -> Result<Self>
    where
        OwnedStorage: From<Vec<T>>,
    {
        Self::new(Arc::new(OwnedStorage::from(data)), shape)
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The `i`-th slice along the first dimension, sharing the storage.
    pub fn index(&self, i: usize) -> Result<Tensor> {
        let (&first, rest) = self
            .shape
            .split_first()
            .ok_or_else(|| Error::Sample("a tensor of rank 0 cannot be indexed".to_owned()))?;
        if i >= first {
            return Err(Error::Sample(format!(
                "index {i} is out of bounds for a tensor of shape {:?}",
                self.shape
            )));
        }
        let inner: usize = rest.iter().product();
        Ok(Tensor {
            storage: Arc::clone(&self.storage),
            offset: self.offset + i * inner,
            shape: rest.to_vec(),
        })
    }

    /// Lends this tensor's elements until the returned value drops.
    pub fn lend(&self) -> Result<LentTensor<'_>> {
        Ok(LentTensor {
            guard: self.storage.lend()?,
            range: self.offset..self.offset + self.numel(),
        })
    }
}

/// A tensor's elements, lent.
pub struct LentTensor<'a> {
    guard: Box<dyn Lent + 'a>,
    range: std::ops::Range<usize>,
}

impl LentTensor<'_> {
    /// The tensor's elements (empty if the storage shrank, which it cannot for vis's own).
    pub fn elements(&self) -> Elements<'_> {
        let all = self.guard.elements();
        all.get(self.range.clone())
            .unwrap_or_else(|| all.get(0..0).unwrap_or(all))
    }
}

impl From<Vec<f32>> for OwnedStorage {
    fn from(d: Vec<f32>) -> Self {
        OwnedStorage::F32(d)
    }
}

impl From<Vec<f16>> for OwnedStorage {
    fn from(d: Vec<f16>) -> Self {
        OwnedStorage::F16(d)
    }
}

impl From<Vec<bf16>> for OwnedStorage {
    fn from(d: Vec<bf16>) -> Self {
        OwnedStorage::Bf16(d)
    }
}

impl From<Vec<u8>> for OwnedStorage {
    fn from(d: Vec<u8>) -> Self {
        OwnedStorage::U8(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_share_storage() {
        let t = Tensor::from_vec((0..24).map(|i| i as f32).collect(), &[2, 3, 4]).unwrap();
        let second = t.index(1).unwrap();
        assert_eq!(second.shape(), &[3, 4]);
        let lent = second.lend().unwrap();
        let Elements::F32(data) = lent.elements() else {
            panic!("f32 expected")
        };
        assert_eq!(data.first(), Some(&12.0));
        assert_eq!(data.len(), 12);
        assert!(t.index(2).is_err());
        assert!(Tensor::from_vec(vec![0.0f32; 5], &[2, 3]).is_err());
    }
}
