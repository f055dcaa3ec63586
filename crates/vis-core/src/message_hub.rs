//! The message hub: pictures a model leaves for the hook while it trains (mmengine's
//! `MessageHub` runtime info `vis_results`).

use crate::sample::DataSample;
use crate::tensor::Tensor;

/// A value in `vis_results`.
#[derive(Clone, Debug)]
pub enum HubValue {
    /// A batch `[N, ...]`: each of its N slices becomes a sample holding it under the key.
    Tensor(Tensor),
    /// Samples, drawn as they are.
    Samples(Vec<DataSample>),
    /// Anything else (which cannot be drawn).
    Json(serde_json::Value),
}

/// Runtime information shared between a training step and the hook.
#[derive(Clone, Debug, Default)]
pub struct MessageHub {
    vis_results: Option<Vec<(String, HubValue)>>,
}

impl MessageHub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `vis_results[key]`.
    pub fn set_vis_result(&mut self, key: impl Into<String>, value: HubValue) {
        let key = key.into();
        let results = self.vis_results.get_or_insert_with(Vec::new);
        match results.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => results.push((key, value)),
        }
    }

    /// Replaces `vis_results` as a whole.
    pub fn set_vis_results(&mut self, results: impl IntoIterator<Item = (String, HubValue)>) {
        self.vis_results = Some(results.into_iter().collect());
    }

    /// `vis_results`, if set.
    pub fn vis_results(&self) -> Option<&[(String, HubValue)]> {
        self.vis_results.as_deref()
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.vis_results = None;
    }
}
