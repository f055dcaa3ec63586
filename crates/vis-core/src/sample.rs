//! Data samples: what a model's forward pass returns for one input, as MMagic's `DataSample` —
//! named tensors (an image `[C, H, W]`, a sequence `[T, C, H, W]`), nested samples, and text
//! such as file paths, in insertion order.

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// A value in a data sample.
#[derive(Clone, Debug)]
pub enum Value {
    /// A tensor: an image `[C, H, W]`, a sequence `[T, C, H, W]`, or anything else.
    Tensor(Tensor),
    /// A nested sample (MMagic's `ema=DataSample(fake_img=...)`).
    Sample(DataSample),
    /// Text, such as the path of the input image.
    Text(String),
    /// Several texts.
    Texts(Vec<String>),
    /// Any other metadata.
    Json(serde_json::Value),
}

impl Value {
    /// What kind of value this is, for messages.
    pub fn kind(&self) -> String {
        match self {
            Value::Tensor(t) => format!("a tensor of shape {:?}", t.shape()),
            Value::Sample(_) => "a nested sample".to_owned(),
            Value::Text(_) => "text".to_owned(),
            Value::Texts(_) => "a list of texts".to_owned(),
            Value::Json(_) => "metadata".to_owned(),
        }
    }
}

impl From<Tensor> for Value {
    fn from(t: Tensor) -> Self {
        Value::Tensor(t)
    }
}

impl From<DataSample> for Value {
    fn from(s: DataSample) -> Self {
        Value::Sample(s)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

/// A data sample: named values in insertion order.
#[derive(Clone, Debug, Default)]
pub struct DataSample {
    fields: Vec<(String, Value)>,
}

impl DataSample {
    /// An empty sample.
    pub fn new() -> Self {
        Self::default()
    }

    /// This sample with `key` set to `value`.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.insert(key, value);
        self
    }

    /// Sets `key` to `value` (replacing, in place, a value already there).
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        match self.fields.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.fields.push((key, value)),
        }
    }

    /// The value at `key` (a plain key, not a dotted path).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Keys and values in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The keys, in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(k, _)| k.as_str())
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when the sample holds nothing.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Keys (not starting with `_`) whose value is a tensor of `ndim` dimensions: how MMagic
    /// picks what to draw when no key is named (3 for images, 4 for sequences).
    pub fn tensor_keys(&self, ndim: usize) -> Vec<&str> {
        self.iter()
            .filter(|(k, v)| {
                !k.starts_with('_') && matches!(v, Value::Tensor(t) if t.ndim() == ndim)
            })
            .map(|(k, _)| k)
            .collect()
    }

    /// The tensor to draw for `key`, MMagic's `_get_vis_data_by_key`: a dotted path (`a.b`)
    /// walks nested samples; a nested sample with exactly one tensor (among keys not starting
    /// with `_`) stands for that tensor.
    pub fn vis_tensor(&self, key: &str) -> Result<&Tensor> {
        let mut here = self;
        let mut value: Option<&Value> = None;
        for (i, part) in key.split('.').enumerate() {
            if i > 0 {
                here = match value {
                    Some(Value::Sample(s)) => s,
                    Some(other) => {
                        return Err(Error::Sample(format!(
                            "cannot look up '{part}' in '{key}': the value before it is {}",
                            other.kind()
                        )));
                    }
                    None => here,
                };
            }
            value = Some(here.get(part).ok_or_else(|| {
                let keys: Vec<&str> = here.keys().collect();
                Error::Sample(format!(
                    "key '{key}' not found: no '{part}' among {}",
                    if keys.is_empty() {
                        "no keys at all".to_owned()
                    } else {
                        format!("the keys {}", keys.join(", "))
                    }
                ))
            })?);
        }
        match value {
            Some(Value::Tensor(t)) => Ok(t),
            Some(Value::Sample(s)) => {
                let tensors: Vec<(&str, &Tensor)> = s
                    .iter()
                    .filter(|(k, _)| !k.starts_with('_'))
                    .filter_map(|(k, v)| match v {
                        Value::Tensor(t) => Some((k, t)),
                        _ => None,
                    })
                    .collect();
                match tensors.as_slice() {
                    [(_, t)] => Ok(t),
                    _ => Err(Error::Sample(format!(
                        "key '{key}' is a nested sample with {} tensors ({}); name one, as '{key}.<name>'",
                        tensors.len(),
                        tensors
                            .iter()
                            .map(|(k, _)| *k)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))),
                }
            }
            Some(other) => Err(Error::Sample(format!(
                "key '{key}' holds {}, not a tensor to draw",
                other.kind()
            ))),
            None => Err(Error::Sample(
                "an empty key names nothing to draw".to_owned(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize]) -> Tensor {
        Tensor::from_vec(vec![0.0f32; shape.iter().product()], shape).unwrap()
    }

    #[test]
    fn finds_tensors_by_dotted_key_and_single_element_samples() {
        let s = DataSample::new()
            .with("gt_img", t(&[3, 6, 6]))
            .with("ema", DataSample::new().with("fake_img", t(&[3, 6, 6])))
            .with(
                "new_model",
                DataSample::new()
                    .with("x_t", t(&[3, 6, 6]))
                    .with("_meta", t(&[3, 6, 6])),
            )
            .with("seq", t(&[4, 3, 6, 6]))
            .with("_hidden", t(&[3, 6, 6]))
            .with("path", "dir/a.png");
        assert_eq!(s.vis_tensor("gt_img").unwrap().shape(), &[3, 6, 6]);
        assert_eq!(s.vis_tensor("ema").unwrap().shape(), &[3, 6, 6]);
        assert_eq!(s.vis_tensor("new_model.x_t").unwrap().shape(), &[3, 6, 6]);
        assert_eq!(s.vis_tensor("new_model").unwrap().shape(), &[3, 6, 6]);
        assert_eq!(s.tensor_keys(3), vec!["gt_img"]);
        assert_eq!(s.tensor_keys(4), vec!["seq"]);
        let err = |k: &str| s.vis_tensor(k).unwrap_err().to_string();
        assert!(err("missing").contains("no 'missing' among the keys gt_img, ema"));
        assert!(err("path").contains("holds text"));
        assert!(err("gt_img.x").contains("the value before it is a tensor"));
        assert!(err("ema.nope").contains("no 'nope' among the keys fake_img"));
        let two = DataSample::new().with(
            "pair",
            DataSample::new()
                .with("a", t(&[3, 2, 2]))
                .with("b", t(&[3, 2, 2])),
        );
        assert!(
            two.vis_tensor("pair")
                .unwrap_err()
                .to_string()
                .contains("2 tensors (a, b)")
        );
    }
}
