//! Tensors read from a `.safetensors` file (from PyTorch, Candle, numpy or anything else),
//! decoded into owned, aligned buffers that [`ImageBatch`] views borrow: f32, f16, bf16, and
//! u8 (drawn only when asked for by name).

use std::path::Path;

use half::{bf16, f16};
use safetensors::{Dtype, SafeTensors};

use crate::batch::{Elements, ImageBatch};
use crate::error::{Error, Result};

/// Owned elements of one tensor.
#[derive(Clone, Debug, PartialEq)]
enum Floats {
    F32(Vec<f32>),
    F16(Vec<f16>),
    Bf16(Vec<bf16>),
    U8(Vec<u8>),
}

/// One tensor of a file: its name, shape, and either its floats or the unsupported dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct FileTensor {
    name: String,
    shape: Vec<usize>,
    data: Result<Floats, String>,
}

impl FileTensor {
    /// The tensor's name in the file.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tensor's shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// True for f32, f16 and bf16 tensors of rank 4 or 5: the ones drawn by default.
    pub fn is_drawable(&self) -> bool {
        matches!(
            self.data,
            Ok(Floats::F32(_) | Floats::F16(_) | Floats::Bf16(_))
        ) && matches!(self.shape.len(), 4 | 5)
    }

    /// A checked view of the tensor for drawing.
    pub fn batch(&self) -> Result<ImageBatch<'_>> {
        ImageBatch::new(self.name.clone(), self.elements()?, &self.shape)
    }

    /// The tensor's elements, or an error for a type vis cannot draw.
    pub fn elements(&self) -> Result<Elements<'_>> {
        Ok(match &self.data {
            Ok(Floats::F32(d)) => Elements::F32(d),
            Ok(Floats::F16(d)) => Elements::F16(d),
            Ok(Floats::Bf16(d)) => Elements::Bf16(d),
            Ok(Floats::U8(d)) => Elements::U8(d),
            Err(dtype) => {
                return Err(Error::TensorFile(format!(
                    "tensor '{}' is {dtype}; vis draws f32, f16, bf16 or u8 tensors",
                    self.name
                )));
            }
        })
    }
}

/// All tensors of a `.safetensors` file, in name order.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorFile {
    tensors: Vec<FileTensor>,
}

impl TensorFile {
    /// Reads and decodes `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            action: "reading",
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes).map_err(|e| match e {
            Error::TensorFile(msg) => Error::TensorFile(format!("{}: {msg}", path.display())),
            other => other,
        })
    }

    /// Decodes the bytes of a `.safetensors` file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::TensorFile(format!("not a valid safetensors file ({e})")))?;
        let mut tensors: Vec<FileTensor> = st
            .iter()
            .map(|(name, view)| {
                let raw = view.data();
                let data = match view.dtype() {
                    Dtype::F32 => Ok(Floats::F32(decode(raw, f32::from_le_bytes))),
                    Dtype::F16 => Ok(Floats::F16(decode(raw, |b| {
                        f16::from_bits(u16::from_le_bytes(b))
                    }))),
                    Dtype::BF16 => Ok(Floats::Bf16(decode(raw, |b| {
                        bf16::from_bits(u16::from_le_bytes(b))
                    }))),
                    Dtype::U8 => Ok(Floats::U8(raw.to_vec())),
                    other => Err(format!("{other:?}")),
                };
                FileTensor {
                    name: name.to_owned(),
                    shape: view.shape().to_vec(),
                    data,
                }
            })
            .collect();
        tensors.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self { tensors })
    }

    /// Every tensor, in name order.
    pub fn tensors(&self) -> &[FileTensor] {
        &self.tensors
    }

    /// The tensor called `name`, or an error listing the names there are.
    pub fn get(&self, name: &str) -> Result<&FileTensor> {
        self.tensors.iter().find(|t| t.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.tensors.iter().map(|t| t.name.as_str()).collect();
            Error::TensorFile(format!(
                "no tensor named '{name}'; the file holds: {}",
                if names.is_empty() {
                    "nothing".to_owned()
                } else {
                    names.join(", ")
                }
            ))
        })
    }

    /// The tensors `names` in that order, or when `names` is empty every f32/f16/bf16 tensor of
    /// rank 4 or 5 by name.
    pub fn select(&self, names: &[String]) -> Result<Vec<&FileTensor>> {
        if names.is_empty() {
            let all: Vec<&FileTensor> = self.tensors.iter().filter(|t| t.is_drawable()).collect();
            if all.is_empty() {
                return Err(Error::TensorFile(
                    "the file holds no f32, f16 or bf16 tensor of rank 4 or 5 to draw".into(),
                ));
            }
            return Ok(all);
        }
        names.iter().map(|n| self.get(n)).collect()
    }
}

/// Decodes little-endian elements of `N` bytes.
fn decode<T, const N: usize>(raw: &[u8], from: impl Fn([u8; N]) -> T) -> Vec<T> {
    let (chunks, _) = raw.as_chunks::<N>();
    chunks.iter().map(|c| from(*c)).collect()
}
