//! The few TensorFlow protobuf messages an event file needs (`event.proto`, `summary.proto`,
//! `tensor.proto`, `tensor_shape.proto`), written out with `prost`'s derive: field numbers and
//! types as in TensorFlow, fields vis does not write left out (a reader skips unknown fields).

/// `tensorflow.Event`: one record of an event file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// The training step.
    #[prost(int64, tag = "2")]
    pub step: i64,
    /// What the event carries.
    #[prost(oneof = "event::What", tags = "3, 5")]
    pub what: Option<event::What>,
}

/// The payloads of an [`Event`].
pub mod event {
    /// `Event.what`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum What {
        /// The file's first event: `brain.Event:2`.
        #[prost(string, tag = "3")]
        FileVersion(String),
        /// Summary values (images, scalars, text).
        #[prost(message, tag = "5")]
        Summary(super::Summary),
    }
}

/// `tensorflow.Summary`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    /// Its values.
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// `tensorflow.Summary.Value`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryValue {
    /// The tag TensorBoard groups by (`fake_img`, `loss/g`).
    #[prost(string, tag = "1")]
    pub tag: String,
    /// Which plugin shows it (text).
    #[prost(message, optional, tag = "9")]
    pub metadata: Option<SummaryMetadata>,
    /// The value.
    #[prost(oneof = "summary_value::Kind", tags = "2, 4, 8")]
    pub kind: Option<summary_value::Kind>,
}

/// The kinds of a [`SummaryValue`].
pub mod summary_value {
    /// `Summary.Value.value`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        /// A scalar.
        #[prost(float, tag = "2")]
        SimpleValue(f32),
        /// An encoded image (PNG, or an animated GIF).
        #[prost(message, tag = "4")]
        Image(super::Image),
        /// A tensor (the text plugin's strings).
        #[prost(message, tag = "8")]
        Tensor(super::TensorProto),
    }
}

/// `tensorflow.Summary.Image`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Image {
    /// Height in pixels.
    #[prost(int32, tag = "1")]
    pub height: i32,
    /// Width in pixels.
    #[prost(int32, tag = "2")]
    pub width: i32,
    /// 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA.
    #[prost(int32, tag = "3")]
    pub colorspace: i32,
    /// The encoded picture.
    #[prost(bytes = "vec", tag = "4")]
    pub encoded_image_string: Vec<u8>,
}

/// `tensorflow.SummaryMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryMetadata {
    /// The plugin that shows the value.
    #[prost(message, optional, tag = "1")]
    pub plugin_data: Option<PluginData>,
}

/// `tensorflow.SummaryMetadata.PluginData`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PluginData {
    /// `text`, `scalars`, `images`.
    #[prost(string, tag = "1")]
    pub plugin_name: String,
    /// Plugin-specific content.
    #[prost(bytes = "vec", tag = "2")]
    pub content: Vec<u8>,
}

/// `tensorflow.DataType.DT_STRING`.
pub const DT_STRING: i32 = 7;

/// `tensorflow.TensorProto`, for strings only.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// The element type ([`DT_STRING`]).
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    /// The shape.
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShapeProto>,
    /// The strings.
    #[prost(bytes = "vec", repeated, tag = "8")]
    pub string_val: Vec<Vec<u8>>,
}

/// `tensorflow.TensorShapeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    /// The dimensions.
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<Dim>,
}

/// `tensorflow.TensorShapeProto.Dim`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Dim {
    /// Its size.
    #[prost(int64, tag = "1")]
    pub size: i64,
}
