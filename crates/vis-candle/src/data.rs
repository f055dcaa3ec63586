//! Datasets and batches: what the training loop and the `Data`/`ValData`/`TestData` samplers
//! read. An example is a map of named CPU tensors (`[C, H, W]` images and the like); a batch
//! stacks examples along a new first dimension.

use std::collections::BTreeMap;
use std::sync::Arc;

use candle_core::Tensor;

use crate::error::{Error, Result};
use crate::rng::SeededRng;

/// One example: named tensors, for instance `img` `[3, 32, 32]`.
pub type Example = BTreeMap<String, Tensor>;

/// Examples stacked: every tensor has the batch as its first dimension.
pub type Batch = BTreeMap<String, Tensor>;

/// A dataset that can be read at any index, as a map-style PyTorch dataset.
pub trait Dataset: Send + Sync {
    /// Number of examples.
    fn len(&self) -> usize;

    /// True when there is no example.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The example at `index` (below `len()`).
    fn get(&self, index: usize) -> Result<Example>;
}

/// Stacks examples into a batch; every example must have the same keys and shapes.
pub fn collate(examples: &[Example]) -> Result<Batch> {
    let first = examples
        .first()
        .ok_or_else(|| Error::Dataset("a batch needs at least one example".into()))?;
    let mut batch = Batch::new();
    for key in first.keys() {
        let tensors = examples
            .iter()
            .map(|e| {
                e.get(key).ok_or_else(|| {
                    Error::Dataset(format!(
                        "an example lacks the key '{key}' the first one has"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let stacked = Tensor::stack(&tensors, 0).map_err(|e| {
            Error::Dataset(format!("the examples' '{key}' tensors do not stack: {e}"))
        })?;
        batch.insert(key.clone(), stacked);
    }
    Ok(batch)
}

/// Endless batches of `batch_size` examples: in order, or shuffled every epoch with a seeded
/// generator. Batches run across the end of the data, so every batch is full.
pub struct Loader {
    dataset: Arc<dyn Dataset>,
    batch_size: usize,
    shuffle: Option<SeededRng>,
    order: Vec<usize>,
    position: usize,
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("len", &self.dataset.len())
            .field("batch_size", &self.batch_size)
            .field("shuffle", &self.shuffle.is_some())
            .field("position", &self.position)
            .finish()
    }
}

impl Loader {
    /// Batches of `batch_size` from `dataset`, shuffled with `shuffle` when given.
    pub fn new(
        dataset: Arc<dyn Dataset>,
        batch_size: usize,
        shuffle: Option<SeededRng>,
    ) -> Result<Self> {
        if dataset.is_empty() {
            return Err(Error::Dataset("the dataset is empty".into()));
        }
        if batch_size == 0 {
            return Err(Error::Dataset("the batch size must be at least 1".into()));
        }
        let mut loader = Self {
            order: (0..dataset.len()).collect(),
            dataset,
            batch_size,
            shuffle,
            position: 0,
        };
        loader.reshuffle();
        Ok(loader)
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The dataset read.
    pub fn dataset(&self) -> &Arc<dyn Dataset> {
        &self.dataset
    }

    fn reshuffle(&mut self) {
        if let Some(rng) = &mut self.shuffle {
            // Fisher-Yates with the seeded generator.
            for i in (1..self.order.len()).rev() {
                let j = rng.below(i + 1);
                self.order.swap(i, j);
            }
        }
    }

    /// The next batch.
    pub fn next_batch(&mut self) -> Result<Batch> {
        let mut examples = Vec::with_capacity(self.batch_size);
        while examples.len() < self.batch_size {
            if self.position >= self.order.len() {
                self.position = 0;
                self.reshuffle();
            }
            let index = self.order.get(self.position).copied().unwrap_or(0);
            examples.push(self.dataset.get(index)?);
            self.position += 1;
        }
        collate(&examples)
    }
}
