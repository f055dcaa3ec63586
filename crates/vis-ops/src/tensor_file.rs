//! Tensors read from a `.safetensors` file (from PyTorch, Candle, numpy or anything else) with
//! bounded memory: the header is read and checked first (a regular file only, its length against
//! the file's size, at most [`MAX_HEADER_BYTES`]), then only the tensors asked for are read, each
//! into an owned, aligned buffer allocated with `try_reserve`, that [`ImageBatch`] views borrow:
//! f32, f16, bf16, and u8 (bytes, drawn as they are).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use half::{bf16, f16};
use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::{Dtype, SafeTensorError};

use crate::batch::{BatchDims, Elements, ImageBatch, check_shape};
use crate::error::{Error, Result};
use crate::fs::quote;

/// The longest header vis reads: 1 MiB, room for over 10,000 tensors (a file of samples holds
/// a few). Parsed, a header takes about 17 times its size: a 16 MiB one of 284,000 tensors took
/// 285 MB.
pub const MAX_HEADER_BYTES: usize = 1 << 20;

/// The most names a message lists before it says how many more there are.
const LISTED_NAMES: usize = 12;

/// Owned elements of one tensor.
#[derive(Clone, Debug, PartialEq)]
enum Floats {
    F32(Vec<f32>),
    F16(Vec<f16>),
    Bf16(Vec<bf16>),
    U8(Vec<u8>),
}

/// One tensor of a file as its header describes it: name, element type and shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorEntry {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    /// Start and end of its bytes after the header.
    offsets: (usize, usize),
}

impl TensorEntry {
    /// The tensor's name in the file.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tensor's shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The element type's name (`F32`, `U8`, `I64`, ...), as safetensors spells it.
    pub fn dtype_name(&self) -> String {
        format!("{:?}", self.dtype)
    }

    /// Whether vis can draw this element type: f32, f16, bf16 or u8.
    pub fn has_drawable_dtype(&self) -> bool {
        matches!(
            self.dtype,
            Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::U8
        )
    }

    /// Whether its elements are bytes (`u8`), which vis draws as they are.
    pub fn is_bytes(&self) -> bool {
        self.dtype == Dtype::U8
    }

    /// True for f32, f16 and bf16 tensors of rank 4 or 5: the ones drawn by default.
    pub fn is_drawable(&self) -> bool {
        matches!(self.dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16)
            && matches!(self.shape.len(), 4 | 5)
    }

    /// The bytes its data takes in the file, and in memory once read.
    pub fn data_bytes(&self) -> usize {
        self.offsets.1 - self.offsets.0
    }

    /// Its dimensions as a batch to draw, checked (rank, channels, empty dimensions) without
    /// reading its data.
    pub fn dims(&self) -> Result<BatchDims> {
        Ok(check_shape(&self.name, &self.shape)?.0)
    }

    /// `name [shape] dtype`, for messages.
    fn describe(&self) -> String {
        format!(
            "{} {:?} {}",
            quote(&self.name),
            self.shape,
            self.dtype_name()
        )
    }
}

/// One tensor read from a file: its name, shape and elements.
#[derive(Clone, Debug, PartialEq)]
pub struct FileTensor {
    name: String,
    shape: Vec<usize>,
    data: Floats,
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

    /// A checked view of the tensor for drawing.
    pub fn batch(&self) -> Result<ImageBatch<'_>> {
        ImageBatch::new(self.name.clone(), self.elements(), &self.shape)
    }

    /// The tensor's elements.
    pub fn elements(&self) -> Elements<'_> {
        match &self.data {
            Floats::F32(d) => Elements::F32(d),
            Floats::F16(d) => Elements::F16(d),
            Floats::Bf16(d) => Elements::Bf16(d),
            Floats::U8(d) => Elements::U8(d),
        }
    }
}

/// Where the file's bytes are.
#[derive(Debug)]
enum Source {
    File(std::fs::File),
    Memory(Vec<u8>),
}

/// A `.safetensors` file whose header has been read and checked; tensors are read one at a time.
#[derive(Debug)]
pub struct TensorFile {
    source: Source,
    /// The file's path, for messages (empty for bytes in memory).
    path: std::path::PathBuf,
    /// Where the tensors' bytes start: after the length and the header.
    data_start: usize,
    /// Every tensor, in name order.
    entries: Vec<TensorEntry>,
}

/// "not a valid safetensors file (...)" with the crate's own words for what is wrong.
fn invalid(e: SafeTensorError) -> Error {
    Error::TensorFile(format!("not a valid safetensors file ({e})"))
}

impl TensorFile {
    /// Opens `path` and reads its header, refusing at once what is not a regular file (a FIFO,
    /// a folder, a device), a header longer than the file or than [`MAX_HEADER_BYTES`], and a
    /// header whose tensors do not cover the file exactly.
    pub fn open(path: &Path) -> Result<Self> {
        let named = |e: Error| match e {
            Error::TensorFile(msg) => Error::TensorFile(format!("{}: {msg}", path.display())),
            other => other,
        };
        let file = open_regular(path)?;
        let len = file
            .metadata()
            .map_err(|source| Error::Io {
                action: "reading",
                path: path.to_path_buf(),
                source,
            })?
            .len();
        let mut source = Source::File(file);
        let len =
            usize::try_from(len).map_err(|_| named(invalid(SafeTensorError::HeaderTooLarge)))?;
        Self::parse(&mut source, len)
            .map(|(data_start, entries)| Self {
                source,
                path: path.to_path_buf(),
                data_start,
                entries,
            })
            .map_err(|e| match e {
                Error::Io { source, .. } => Error::Io {
                    action: "reading",
                    path: path.to_path_buf(),
                    source,
                },
                other => named(other),
            })
    }

    /// Reads the header of a `.safetensors` file held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        let len = bytes.len();
        let mut source = Source::Memory(bytes);
        let (data_start, entries) = Self::parse(&mut source, len)?;
        Ok(Self {
            source,
            path: std::path::PathBuf::new(),
            data_start,
            entries,
        })
    }

    /// The header of a file of `len` bytes: where the data starts, and the tensors by name.
    fn parse(source: &mut Source, len: usize) -> Result<(usize, Vec<TensorEntry>)> {
        let mut prefix = [0u8; 8];
        if len < prefix.len() {
            return Err(invalid(SafeTensorError::HeaderTooSmall));
        }
        read_at(source, 0, &mut prefix)?;
        let n = u64::from_le_bytes(prefix);
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n <= MAX_HEADER_BYTES)
            .ok_or_else(|| invalid(SafeTensorError::HeaderTooLarge))?;
        let data_start = n
            .checked_add(prefix.len())
            .filter(|&end| end <= len)
            .ok_or_else(|| invalid(SafeTensorError::InvalidHeaderLength))?;
        let mut header = Vec::new();
        header
            .try_reserve_exact(n)
            .map_err(|_| invalid(SafeTensorError::HeaderTooLarge))?;
        header.resize(n, 0);
        read_at(source, prefix.len(), &mut header)?;
        let text =
            std::str::from_utf8(&header).map_err(|e| invalid(SafeTensorError::InvalidHeader(e)))?;
        // The crate's own checks: offsets in order without gaps, sizes matching shapes.
        let metadata: Metadata = serde_json::from_str(text)
            .map_err(|e| invalid(SafeTensorError::InvalidHeaderDeserialization(e)))?;
        if data_start.checked_add(metadata.data_len()) != Some(len) {
            return Err(invalid(SafeTensorError::MetadataIncompleteBuffer));
        }
        let mut entries: Vec<TensorEntry> = metadata
            .tensors()
            .into_iter()
            .map(|(name, info): (String, &TensorInfo)| TensorEntry {
                name,
                dtype: info.dtype,
                shape: info.shape.clone(),
                offsets: info.data_offsets,
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((data_start, entries))
    }

    /// Every tensor, in name order.
    pub fn tensors(&self) -> &[TensorEntry] {
        &self.entries
    }

    /// The tensor called `name`, or an error listing the names there are.
    pub fn get(&self, name: &str) -> Result<&TensorEntry> {
        self.entries.iter().find(|t| t.name == name).ok_or_else(|| {
            Error::TensorFile(format!(
                "no tensor named {}; the file holds: {}",
                quote(name),
                self.list(|t| quote(&t.name))
            ))
        })
    }

    /// The tensors `names` in that order, or when `names` is empty every f32/f16/bf16 tensor of
    /// rank 4 or 5 by name; an error says what the file holds and how to pick a tensor.
    pub fn select(&self, names: &[String]) -> Result<Vec<&TensorEntry>> {
        if names.is_empty() {
            let all: Vec<&TensorEntry> = self.entries.iter().filter(|t| t.is_drawable()).collect();
            if all.is_empty() {
                return Err(Error::TensorFile(format!(
                    "the file holds no f32, f16 or bf16 tensor of rank 4 or 5 to draw; it holds: {}; name one with --tensor NAME (u8 tensors are drawn when named)",
                    self.list(TensorEntry::describe)
                )));
            }
            return Ok(all);
        }
        names.iter().map(|n| self.get(n)).collect()
    }

    /// The tensors, described by `show`, at most [`LISTED_NAMES`] of them and a count of the
    /// rest.
    fn list(&self, show: impl Fn(&TensorEntry) -> String) -> String {
        if self.entries.is_empty() {
            return "nothing".to_owned();
        }
        let mut shown: Vec<String> = self.entries.iter().take(LISTED_NAMES).map(show).collect();
        if self.entries.len() > LISTED_NAMES {
            shown.push(format!("and {} more", self.entries.len() - LISTED_NAMES));
        }
        shown.join(", ")
    }

    /// Reads the data of `entry` (a tensor of this file) into memory, refusing element types
    /// vis cannot draw; an allocation that fails is an error.
    pub fn read(&mut self, entry: &TensorEntry) -> Result<FileTensor> {
        let bytes = entry.data_bytes();
        let start = self
            .data_start
            .checked_add(entry.offsets.0)
            .ok_or_else(|| invalid(SafeTensorError::InvalidOffset(entry.name.clone())))?;
        let data = match entry.dtype {
            Dtype::F32 => Floats::F32(self.read_elements(start, bytes, |x: f32| {
                f32::from_bits(u32::from_le(x.to_bits()))
            })?),
            Dtype::F16 => Floats::F16(self.read_elements(start, bytes, |x: f16| {
                f16::from_bits(u16::from_le(x.to_bits()))
            })?),
            Dtype::BF16 => Floats::Bf16(self.read_elements(start, bytes, |x: bf16| {
                bf16::from_bits(u16::from_le(x.to_bits()))
            })?),
            Dtype::U8 => Floats::U8(self.read_elements(start, bytes, |x: u8| x)?),
            other => {
                return Err(Error::TensorFile(format!(
                    "tensor {} is {other:?}; vis draws f32, f16, bf16 or u8 tensors",
                    quote(&entry.name)
                )));
            }
        };
        Ok(FileTensor {
            name: entry.name.clone(),
            shape: entry.shape.clone(),
            data,
        })
    }

    /// `bytes` bytes from `start` as little-endian elements of `T`, fixed by `from_le`.
    fn read_elements<T: bytemuck::Pod>(
        &mut self,
        start: usize,
        bytes: usize,
        from_le: impl Fn(T) -> T,
    ) -> Result<Vec<T>> {
        let count = bytes / std::mem::size_of::<T>();
        let mut out: Vec<T> = Vec::new();
        out.try_reserve_exact(count).map_err(|_| {
            Error::TensorFile(format!(
                "could not allocate {bytes} bytes to read a tensor; draw fewer or smaller tensors"
            ))
        })?;
        out.resize(count, T::zeroed());
        read_at(&mut self.source, start, bytemuck::cast_slice_mut(&mut out)).map_err(
            |e| match e {
                Error::Io { source, .. } => Error::Io {
                    action: "reading",
                    path: self.path.clone(),
                    source,
                },
                other => other,
            },
        )?;
        if cfg!(target_endian = "big") {
            for x in &mut out {
                *x = from_le(*x);
            }
        }
        Ok(out)
    }
}

/// Opens `path` for reading without blocking on a FIFO, and refuses anything but a regular file.
fn open_regular(path: &Path) -> Result<std::fs::File> {
    let io = |source| Error::Io {
        action: "reading",
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one;
        // it changes nothing for regular files.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(io)?;
    let kind = file.metadata().map_err(io)?.file_type();
    if kind.is_file() {
        return Ok(file);
    }
    let what = if kind.is_dir() {
        "a folder"
    } else if is_fifo(&kind) {
        "a FIFO (named pipe)"
    } else {
        "a device or other special file"
    };
    Err(Error::TensorFile(format!(
        "{}: is {what}, not a regular file; save the tensors to a file and give its path",
        path.display()
    )))
}

#[cfg(unix)]
fn is_fifo(kind: &std::fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt;
    kind.is_fifo()
}

#[cfg(not(unix))]
fn is_fifo(_: &std::fs::FileType) -> bool {
    false
}

/// Fills `buf` from `source` at byte `offset`.
fn read_at(source: &mut Source, offset: usize, buf: &mut [u8]) -> Result<()> {
    let short = || invalid(SafeTensorError::MetadataIncompleteBuffer);
    match source {
        Source::Memory(bytes) => {
            let part = offset
                .checked_add(buf.len())
                .and_then(|end| bytes.get(offset..end))
                .ok_or_else(short)?;
            buf.copy_from_slice(part);
            Ok(())
        }
        Source::File(file) => {
            let io = |source: std::io::Error| match source.kind() {
                std::io::ErrorKind::UnexpectedEof => short(),
                _ => Error::Io {
                    action: "reading",
                    path: std::path::PathBuf::new(),
                    source,
                },
            };
            file.seek(SeekFrom::Start(offset as u64)).map_err(io)?;
            file.read_exact(buf).map_err(io)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(tensors: &[(&str, Dtype, Vec<usize>, usize)]) -> Vec<u8> {
        let data: Vec<Vec<u8>> = tensors
            .iter()
            .map(|(_, _, _, bytes)| (0..*bytes).map(|i| i as u8).collect())
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
            .iter()
            .zip(&data)
            .map(|((name, dtype, shape, _), d)| {
                (
                    (*name).to_owned(),
                    safetensors::tensor::TensorView::new(*dtype, shape.clone(), d).unwrap(),
                )
            })
            .collect();
        safetensors::serialize(views, None).unwrap()
    }

    #[test]
    fn reads_only_what_it_is_asked_for_and_checks_the_header() {
        let bytes = file(&[
            ("b", Dtype::F32, vec![1, 1, 2, 2], 16),
            ("a", Dtype::U8, vec![1, 3, 1, 1], 3),
            ("c", Dtype::I64, vec![2], 16),
        ]);
        let mut f = TensorFile::from_bytes(bytes.clone()).unwrap();
        let names: Vec<&str> = f.tensors().iter().map(TensorEntry::name).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let a = f.get("a").unwrap().clone();
        assert!(a.is_bytes() && !a.is_drawable() && a.has_drawable_dtype());
        let t = f.read(&a).unwrap();
        assert_eq!(t.elements().len(), 3);
        let c = f.get("c").unwrap().clone();
        assert!(f.read(&c).unwrap_err().to_string().contains("I64"));
        let err = f.get("d\n").unwrap_err().to_string();
        assert_eq!(err, "no tensor named 'd\\n'; the file holds: 'a', 'b', 'c'");
        // Cut short, padded, or a header length past the end.
        for broken in [
            bytes[..bytes.len() - 1].to_vec(),
            [bytes.clone(), vec![0]].concat(),
            [(u64::MAX).to_le_bytes().to_vec(), bytes[8..].to_vec()].concat(),
            [(1000u64).to_le_bytes().to_vec(), bytes[8..].to_vec()].concat(),
            vec![0; 8],
            vec![1, 2],
        ] {
            let err = TensorFile::from_bytes(broken).unwrap_err().to_string();
            assert!(err.starts_with("not a valid safetensors file ("), "{err}");
        }
    }

    #[test]
    fn long_lists_are_cut_with_a_count() {
        let names: Vec<String> = (0..40).map(|i| format!("t{i:02}")).collect();
        let tensors: Vec<(&str, Dtype, Vec<usize>, usize)> = names
            .iter()
            .map(|n| (n.as_str(), Dtype::I32, vec![1], 4))
            .collect();
        let f = TensorFile::from_bytes(file(&tensors)).unwrap();
        let err = f.select(&[]).unwrap_err().to_string();
        assert!(
            err.contains("'t11' [1] I32, and 28 more; name one with --tensor NAME"),
            "{err}"
        );
    }
}
