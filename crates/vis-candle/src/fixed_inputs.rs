//! Fixed inputs on disk, so a resumed run draws its grids from the same inputs:
//! `{save_dir}/vis_inputs/{sampler}.safetensors`, one tensor per batch and key
//! (`{batch}/noise`, `{batch}/{data key}`), the arguments and the entry's kwargs as JSON in the
//! file's metadata.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use crate::data::Batch;
use crate::error::{Error, Result};
use crate::model::{InputBatch, Inputs};

/// The format tag written into every file's metadata.
const FORMAT: &str = "vis-fixed-inputs/1";

/// The file of `buffer_key` under `dir` (`vis_inputs`); the key is the resolved sampler's name
/// (`Noise`, `Data`, ...), which holds no path separator.
pub(crate) fn path_of(dir: &Path, buffer_key: &str) -> PathBuf {
    let safe: String = buffer_key
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{safe}.safetensors"))
}

/// Saves `inputs` to `path` (atomically, creating its folder).
pub(crate) fn save(path: &Path, inputs: &[Inputs]) -> Result<()> {
    let file_err = |message: String| Error::File {
        path: path.to_owned(),
        message,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| file_err(format!("cannot create its folder: {e}")))?;
    }
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    let mut kinds = Vec::new();
    let mut arguments = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        match input.batch() {
            InputBatch::Noise(t) => {
                kinds.push("noise");
                tensors.push((format!("{i}/noise"), cpu(t)?));
            }
            InputBatch::Data(batch) => {
                kinds.push("data");
                for (key, t) in batch {
                    tensors.push((format!("{i}/{key}"), cpu(t)?));
                }
            }
            InputBatch::Arguments(kwargs) => {
                kinds.push("arguments");
                arguments.push(serde_json::Value::Object(kwargs.clone()));
            }
        }
    }
    // The entry's kwargs, kept beside the inputs as a record (a resumed run passes the kwargs
    // of its config as it is now).
    let kwargs = inputs
        .first()
        .map(|i| serde_json::Value::Object(i.kwargs().clone()))
        .unwrap_or_default();
    let metadata = HashMap::from([
        ("format".to_owned(), FORMAT.to_owned()),
        ("kinds".to_owned(), kinds.join(",")),
        (
            "arguments".to_owned(),
            serde_json::Value::Array(arguments).to_string(),
        ),
        ("kwargs".to_owned(), kwargs.to_string()),
    ]);
    let bytes = safetensors::serialize(
        tensors.iter().map(|(name, t)| (name.as_str(), t)),
        Some(metadata),
    )
    .map_err(|e| file_err(format!("cannot serialise the inputs: {e}")))?;
    vis_ops::fs::write_bytes_atomic(path, &bytes).map_err(|e| file_err(e.to_string()))
}

/// The inputs saved at `path`, on `device`; `None` when there is no such file.
pub(crate) fn load(path: &Path, device: &Device) -> Result<Option<Vec<Inputs>>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::File {
                path: path.to_owned(),
                message: format!("cannot read the saved fixed inputs: {e}"),
            });
        }
    };
    let bad = |message: String| Error::File {
        path: path.to_owned(),
        message: format!(
            "{message}; it is not a fixed-inputs file vis wrote: remove it to draw new inputs"
        ),
    };
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(format!("unreadable header ({e})")))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    if meta.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(bad("no vis format tag".into()));
    }
    let mut tensors = candle_core::safetensors::load_buffer(&bytes, device)
        .map_err(|e| bad(format!("unreadable tensors ({e})")))?;
    let arguments: Vec<serde_json::Value> =
        serde_json::from_str(meta.get("arguments").map(String::as_str).unwrap_or("[]"))
            .map_err(|e| bad(format!("unreadable arguments ({e})")))?;
    let mut arguments = arguments.into_iter();
    let kinds = meta.get("kinds").map(String::as_str).unwrap_or("");
    let mut inputs = Vec::new();
    for (i, kind) in kinds.split(',').filter(|k| !k.is_empty()).enumerate() {
        let input = match kind {
            "noise" => Inputs::noise(
                tensors
                    .remove(&format!("{i}/noise"))
                    .ok_or_else(|| bad(format!("batch {i} has no noise")))?,
            ),
            "data" => {
                let prefix = format!("{i}/");
                let keys: Vec<String> = tensors
                    .keys()
                    .filter(|k| k.starts_with(&prefix))
                    .cloned()
                    .collect();
                let mut batch = Batch::new();
                for key in keys {
                    if let Some(t) = tensors.remove(&key) {
                        batch.insert(key.trim_start_matches(&prefix).to_owned(), t);
                    }
                }
                Inputs::data(batch)
            }
            "arguments" => match arguments.next() {
                Some(serde_json::Value::Object(map)) => Inputs::arguments(map),
                _ => return Err(bad(format!("batch {i} has no arguments table"))),
            },
            other => return Err(bad(format!("batch {i} is of unknown kind '{other}'"))),
        };
        inputs.push(input);
    }
    Ok(Some(inputs))
}

/// `t` contiguous on the CPU, for serialising.
fn cpu(t: &Tensor) -> Result<Tensor> {
    Ok(t.to_device(&Device::Cpu)?.contiguous()?)
}
