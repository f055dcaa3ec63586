//! The one error type of vis-ops: every way a request for a picture can be wrong.

use std::path::PathBuf;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong between float tensors and a picture on disk.
///
/// Every message says what was wrong and what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No tensor was given to draw.
    #[error("nothing to draw: pass at least one tensor")]
    NoKeys,

    /// A tensor's rank is neither 4 nor 5.
    #[error(
        "tensor '{key}' has shape {shape:?} (rank {}); expected rank 4 [N, C, H, W] or rank 5 [N, T, C, H, W]",
        shape.len()
    )]
    Rank {
        /// Name of the tensor.
        key: String,
        /// The shape it has.
        shape: Vec<usize>,
    },

    /// A tensor has 2 channels: neither grey nor colour.
    #[error(
        "tensor '{key}' has {channels} channels in shape {shape:?}; vis draws 1 (grey) or 3 (colour) channels, or the first three of more"
    )]
    Channels {
        /// Name of the tensor.
        key: String,
        /// The channel count it has.
        channels: usize,
        /// Its whole shape.
        shape: Vec<usize>,
    },

    /// A tensor has a zero-sized dimension.
    #[error(
        "tensor '{key}' has an empty dimension in shape {shape:?}; every dimension must be at least 1"
    )]
    EmptyDimension {
        /// Name of the tensor.
        key: String,
        /// Its shape.
        shape: Vec<usize>,
    },

    /// The element count of a shape overflows the address space.
    #[error("tensor '{key}' shape {shape:?} has more elements than this machine can address")]
    ShapeOverflow {
        /// Name of the tensor.
        key: String,
        /// Its shape.
        shape: Vec<usize>,
    },

    /// A view's data does not hold exactly the elements its shape says.
    #[error(
        "tensor '{key}' with shape {shape:?} needs {expected} elements but its data holds {actual}"
    )]
    DataLength {
        /// Name of the tensor.
        key: String,
        /// Its shape.
        shape: Vec<usize>,
        /// Elements the shape needs.
        expected: usize,
        /// Elements the data holds.
        actual: usize,
    },

    /// Tensors stacked into one grid disagree in a dimension other than channels.
    #[error(
        "tensor '{key}' has {dim} = {actual} but '{first}' has {dim} = {expected}; tensors drawn together must agree in N, T, H and W (only channels may differ)"
    )]
    ShapeMismatch {
        /// The tensor that disagrees.
        key: String,
        /// The first tensor, which sets the shape.
        first: String,
        /// The dimension that differs (`N`, `T`, `H`, `W` or `rank`).
        dim: &'static str,
        /// The first tensor's value.
        expected: usize,
        /// This tensor's value.
        actual: usize,
    },

    /// Rank-5 (sequence) tensors were given to the single-grid path, or rank-4 to the frames path.
    #[error("{0}")]
    WrongMode(&'static str),

    /// `nrow` is zero.
    #[error("nrow must be at least 1 (or absent for ceil(sqrt(N)))")]
    ZeroNrow,

    /// A per-channel list (mean or std) has the wrong number of values.
    #[error("{what} has {len} values; give 1 (for every channel) or 3 (one per input channel)")]
    ChannelList {
        /// `mean` or `std`.
        what: &'static str,
        /// How many values it has.
        len: usize,
    },

    /// A one-channel tensor was given three means or stds, which are indexed by input channel.
    #[error(
        "tensor {key} has 1 channel, but {what} has {len} values (one per input channel); give one value for a grey tensor, or draw it apart from the colour ones"
    )]
    GreyChannelList {
        /// Name of the grey tensor, quoted.
        key: String,
        /// `mean` or `std`.
        what: &'static str,
        /// How many values it has.
        len: usize,
    },

    /// A pixel-map parameter is NaN or infinite, or a range is reversed.
    #[error("{0}")]
    BadMapParameter(String),

    /// `n_skip` is zero.
    #[error("n_skip must be at least 1")]
    ZeroSkip,

    /// `fps` is not a positive finite number.
    #[error("fps must be a positive finite number, got {0}")]
    BadFps(f64),

    /// Frames slower than the animation format can hold.
    #[error(
        "fps = {fps} asks for frames of {} s, longer than the {longest} s {format} frame can last; give fps = {} or more",
        significant(1.0 / fps, false),
        significant(1.0 / longest, true)
    )]
    FrameTooLong {
        /// The frames per second asked for.
        fps: f64,
        /// `a GIF` or `an APNG`.
        format: &'static str,
        /// The longest frame the format holds, in seconds.
        longest: f64,
    },

    /// The grid would be larger than the output format or memory allows.
    #[error(
        "a {width}x{height} picture is too large: {limit}; use fewer images, a smaller padding or a different nrow"
    )]
    TooLarge {
        /// Picture width in pixels (saturated).
        width: usize,
        /// Picture height in pixels (saturated).
        height: usize,
        /// Which limit it breaks.
        limit: &'static str,
    },

    /// A render would hold more than [`MAX_PICTURE_BYTES`](crate::MAX_PICTURE_BYTES) at its
    /// peak; the message says what takes the room.
    #[error("{0}")]
    MemoryLimit(String),

    /// The memory for a picture could not be allocated.
    #[error("could not allocate {bytes} bytes for a {width}x{height} picture")]
    OutOfMemory {
        /// Bytes asked for.
        bytes: usize,
        /// Picture width.
        width: usize,
        /// Picture height.
        height: usize,
    },

    /// A picture's buffer does not match its width and height.
    #[error("an RGB picture of {width}x{height} needs {expected} bytes, got {actual}")]
    ImageBuffer {
        /// Width.
        width: usize,
        /// Height.
        height: usize,
        /// Bytes needed.
        expected: usize,
        /// Bytes given.
        actual: usize,
    },

    /// Frames of one animation differ in size, or there are none.
    #[error("{0}")]
    Frames(String),

    /// The PNG encoder failed.
    #[error("PNG encoding failed: {0}")]
    Png(#[from] png::EncodingError),

    /// The GIF encoder failed.
    #[error("GIF encoding failed: {0}")]
    Gif(#[from] gif::EncodingError),

    /// A `.safetensors` file is malformed, or lacks the tensor asked for, or holds it in a type
    /// that cannot be drawn.
    #[error("{0}")]
    TensorFile(String),

    /// A value that would become a file name is not a plain name (a path, a folder name,
    /// control characters, too long).
    #[error(
        "{what} {name} cannot be used in a file name: {reason}; give a plain name (no '/', '\\' or control characters, not '.' or '..')"
    )]
    FileName {
        /// Where the value comes from (`vis_kwargs_list[0].name`, `fn_key 'img_path'`, ...).
        what: String,
        /// The value, quoted and escaped for printing.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Reading or writing a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`writing`, `creating a temporary file in`, ...).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// `x` with 4 significant digits, rounded up when `up` (so that the value printed still
/// satisfies a lower bound), without trailing zeros.
fn significant(x: f64, up: bool) -> String {
    if !(x.is_finite() && x > 0.0) {
        return x.to_string();
    }
    let scale = 10f64.powi(3 - x.log10().floor() as i32);
    let scaled = x * scale;
    let rounded = if up { scaled.ceil() } else { scaled.round() } / scale;
    let decimals = (x.log10().floor() as i32 - 3).min(0).unsigned_abs() as usize;
    let text = format!("{rounded:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}
