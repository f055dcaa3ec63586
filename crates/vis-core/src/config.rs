//! Hook configuration with MMagic's field names and defaults, read from JSON or TOML, checked
//! once, with errors that name the field and the file.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Extra vis-kwargs that pass through to the sampler and the backends (`n_skip`, `fps`,
/// `forward_kwargs`, ...).
pub type Extra = serde_json::Map<String, serde_json::Value>;

/// One value or a list of them (MMagic accepts both).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a value or a list of values")]
pub enum OneOrMany<T> {
    /// A single value.
    One(T),
    /// A list.
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    /// The values as a list.
    pub fn to_vec(&self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// How samples are drawn: one grid (`image`) or an animation over timesteps (`gif`, or `apng`
/// to keep every pixel).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VisMode {
    /// A grid of images `[C, H, W]`.
    #[default]
    Image,
    /// An animated GIF of sequences `[T, C, H, W]`: at most 256 colours a frame, delays in
    /// whole centiseconds.
    Gif,
    /// An animated PNG of sequences `[T, C, H, W]`: every frame exactly the grid pass's bytes,
    /// delays of exactly `1 / fps` seconds. Written as `{name}_{step}.png`.
    Apng,
}

impl VisMode {
    /// Its name in a config: `image`, `gif` or `apng`.
    pub fn as_str(self) -> &'static str {
        match self {
            VisMode::Image => "image",
            VisMode::Gif => "gif",
            VisMode::Apng => "apng",
        }
    }

    /// The animation it draws sequences `[T, C, H, W]` as; `None` for a grid of images.
    pub fn animation(self) -> Option<vis_ops::AnimationFormat> {
        match self {
            VisMode::Image => None,
            VisMode::Gif => Some(vis_ops::AnimationFormat::Gif),
            VisMode::Apng => Some(vis_ops::AnimationFormat::Apng),
        }
    }
}

/// A field that is present, `null` included: `Some(None)` for `null`, where a missing field
/// stays `None` (through `#[serde(default)]`).
fn present<'de, D, T>(deserializer: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Some(Option::deserialize(deserializer)?))
}

/// One entry of `vis_kwargs_list`: a sampler (or alias) and how to draw what it yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VisKwargs {
    /// A sampler (`Noise`, `Arguments`, `Data`, `ValData`, `TestData`) or an alias (`GAN`,
    /// `SinGAN`, `Translation`, `TranslationVal`, `TranslationTest`, `DDPMDenoising`),
    /// case-insensitive.
    #[serde(rename = "type")]
    pub kind: String,
    /// File name prefix. Absent (`None`): the alias's, else the type lower-cased; given but
    /// empty or `null` (`Some("")`, `Some(None)`): the type lower-cased, as MMagic's
    /// `if not name`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<Option<String>>,
    /// Samples to draw; defaults to the alias's, else the hook's `n_samples`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_samples: Option<usize>,
    /// Images per row; defaults to the alias's, else the hook's `n_row`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_row: Option<usize>,
    /// Reuse the first run's inputs; defaults to the hook's `fixed_input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_input: Option<bool>,
    /// Keys to draw (dotted paths allowed); all image (or sequence) keys when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_keys: Option<OneOrMany<String>>,
    /// `image` or `gif`; defaults to the alias's, else `image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vis_mode: Option<VisMode>,
    /// Channel order of the model's images: `rgb` or `bgr` (default: the hook's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color_order: Option<ColorOrder>,
    /// The mean of the de-normalisation `x * std + mean`: one value, or one per input channel
    /// (default: the hook's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_mean: Option<OneOrMany<f64>>,
    /// The std of the de-normalisation (default: the hook's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_std: Option<OneOrMany<f64>>,
    /// How values become bytes: `truncate` or `round` (default: the hook's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantize: Option<QuantizeMode>,
    /// Everything else, for the sampler and the backends.
    #[serde(flatten)]
    pub extra: Extra,
}

impl VisKwargs {
    /// Its pixel settings.
    pub fn pixels(&self) -> PixelOptions {
        pixel_options(
            self.color_order,
            &self.target_mean,
            &self.target_std,
            self.quantize,
        )
    }

    /// Kwargs of `kind` with nothing else set.
    pub fn of(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            name: None,
            n_samples: None,
            n_row: None,
            fixed_input: None,
            target_keys: None,
            vis_mode: None,
            color_order: None,
            target_mean: None,
            target_std: None,
            quantize: None,
            extra: Extra::new(),
        }
    }
}

/// The channel order of a model's images (MMagic's `color_order`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorOrder {
    /// Red, green, blue: Candle's and the `image` crate's.
    Rgb,
    /// Blue, green, red: MMagic's, whose pipeline reads images with OpenCV.
    Bgr,
}

/// How values become bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuantizeMode {
    /// `trunc`: MMagic's `astype(np.uint8)` and Candle's cast to `u8`.
    Truncate,
    /// Half up: torchvision's `save_image`.
    Round,
}

/// The pixel settings of a config, a vis-kwargs entry or a message-hub entry, where given.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PixelOptions {
    /// `color_order`.
    pub color_order: Option<ColorOrder>,
    /// `target_mean`.
    pub target_mean: Option<Vec<f64>>,
    /// `target_std`.
    pub target_std: Option<Vec<f64>>,
    /// `quantize`.
    pub quantize: Option<QuantizeMode>,
}

impl PixelOptions {
    /// These, with `fallback`'s where these give none.
    pub fn or(self, fallback: &PixelOptions) -> PixelOptions {
        PixelOptions {
            color_order: self.color_order.or(fallback.color_order),
            target_mean: self.target_mean.or_else(|| fallback.target_mean.clone()),
            target_std: self.target_std.or_else(|| fallback.target_std.clone()),
            quantize: self.quantize.or(fallback.quantize),
        }
    }

    /// Whether nothing is given.
    pub fn is_empty(&self) -> bool {
        *self == PixelOptions::default()
    }

    /// Checks the values: one or three finite means and stds. Errors name `field_prefix` and
    /// the field.
    fn validate(&self, field_prefix: &str) -> Result<()> {
        for (name, values) in [
            ("target_mean", &self.target_mean),
            ("target_std", &self.target_std),
        ] {
            let Some(values) = values else { continue };
            let field = format!("{field_prefix}{name}");
            if values.len() != 1 && values.len() != 3 {
                return Err(Error::Config {
                    file: None,
                    field,
                    message: format!(
                        "give one value or three (one per input channel), not {}",
                        values.len()
                    ),
                });
            }
            if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
                return Err(Error::Config {
                    file: None,
                    field,
                    message: format!("{bad} is not a finite number"),
                });
            }
        }
        Ok(())
    }
}

/// The pixel settings given by the four fields of a config table.
fn pixel_options(
    color_order: Option<ColorOrder>,
    target_mean: &Option<OneOrMany<f64>>,
    target_std: &Option<OneOrMany<f64>>,
    quantize: Option<QuantizeMode>,
) -> PixelOptions {
    PixelOptions {
        color_order,
        target_mean: target_mean.as_ref().map(OneOrMany::to_vec),
        target_std: target_std.as_ref().map(OneOrMany::to_vec),
        quantize,
    }
}

/// One entry of `message_hub_vis_kwargs` in table form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubKey {
    /// The key in the message hub's `vis_results`.
    pub key: String,
    /// `image` or `gif`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vis_mode: Option<VisMode>,
    /// Channel order of the model's images: `rgb` or `bgr` (default: the hook's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color_order: Option<ColorOrder>,
    /// The mean of the de-normalisation `x * std + mean`: one value, or one per input channel
    /// (default: the hook's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_mean: Option<OneOrMany<f64>>,
    /// The std of the de-normalisation (default: the hook's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_std: Option<OneOrMany<f64>>,
    /// How values become bytes: `truncate` or `round` (default: the hook's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantize: Option<QuantizeMode>,
}

/// `message_hub_vis_kwargs`: a key, a table `{key, vis_mode}`, a list of keys or a list of
/// tables.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum HubKwargs {
    /// One key.
    Key(String),
    /// One table.
    Table(HubKey),
    /// Several keys.
    Keys(Vec<String>),
    /// Several tables.
    Tables(Vec<HubKey>),
}

/// One entry of a `message_hub_vis_kwargs` list: a key or a table.
enum HubEntry {
    Key(String),
    Table(HubKey),
}

/// Reads a key or a table, keeping the table's own errors (an untagged enum would hide them
/// behind "no variant matched").
struct HubVisitor<T>(std::marker::PhantomData<T>);

/// What a [`HubVisitor`] makes of a key, a table and a list.
trait FromHub: Sized {
    fn key(key: String) -> Self;
    fn table(table: HubKey) -> Self;
    fn list<'de, A: serde::de::SeqAccess<'de>>(seq: A) -> std::result::Result<Self, A::Error>;
}

impl FromHub for HubEntry {
    fn key(key: String) -> Self {
        HubEntry::Key(key)
    }
    fn table(table: HubKey) -> Self {
        HubEntry::Table(table)
    }
    fn list<'de, A: serde::de::SeqAccess<'de>>(_: A) -> std::result::Result<Self, A::Error> {
        Err(serde::de::Error::custom(
            "a list inside the list: give keys or {key, vis_mode} tables",
        ))
    }
}

impl FromHub for HubKwargs {
    fn key(key: String) -> Self {
        HubKwargs::Key(key)
    }
    fn table(table: HubKey) -> Self {
        HubKwargs::Table(table)
    }
    fn list<'de, A: serde::de::SeqAccess<'de>>(mut seq: A) -> std::result::Result<Self, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = seq.next_element::<HubEntryDe>()? {
            entries.push(entry.0);
        }
        if entries.iter().all(|e| matches!(e, HubEntry::Key(_))) {
            return Ok(HubKwargs::Keys(
                entries
                    .into_iter()
                    .filter_map(|e| match e {
                        HubEntry::Key(k) => Some(k),
                        HubEntry::Table(_) => None,
                    })
                    .collect(),
            ));
        }
        Ok(HubKwargs::Tables(
            entries
                .into_iter()
                .map(|e| match e {
                    HubEntry::Key(key) => HubKey::of(key),
                    HubEntry::Table(t) => t,
                })
                .collect(),
        ))
    }
}

impl<'de, T: FromHub> serde::de::Visitor<'de> for HubVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a key, a table {key, vis_mode}, a list of keys or a list of such tables")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<T, E> {
        Ok(T::key(v.to_owned()))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> std::result::Result<T, A::Error> {
        Ok(T::table(HubKey::deserialize(
            serde::de::value::MapAccessDeserializer::new(map),
        )?))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> std::result::Result<T, A::Error> {
        T::list(seq)
    }
}

/// A [`HubEntry`] read through a [`HubVisitor`].
struct HubEntryDe(HubEntry);

impl<'de> Deserialize<'de> for HubEntryDe {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(HubVisitor::<HubEntry>(std::marker::PhantomData))
            .map(HubEntryDe)
    }
}

impl<'de> Deserialize<'de> for HubKwargs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(HubVisitor::<HubKwargs>(std::marker::PhantomData))
    }
}

impl HubKey {
    /// The entry of `key` with nothing else set.
    pub fn of(key: String) -> Self {
        Self {
            key,
            vis_mode: None,
            color_order: None,
            target_mean: None,
            target_std: None,
            quantize: None,
        }
    }

    /// Its pixel settings.
    pub fn pixels(&self) -> PixelOptions {
        pixel_options(
            self.color_order,
            &self.target_mean,
            &self.target_std,
            self.quantize,
        )
    }
}

impl HubKwargs {
    /// The keys and their modes, in order.
    pub fn entries(&self) -> Vec<HubKey> {
        let bare = |key: &String| HubKey::of(key.clone());
        match self {
            HubKwargs::Key(k) => vec![bare(k)],
            HubKwargs::Table(t) => vec![t.clone()],
            HubKwargs::Keys(ks) => ks.iter().map(bare).collect(),
            HubKwargs::Tables(ts) => ts.clone(),
        }
    }
}

/// `max_save_at_test`: a limit, or every test sample (`null` in JSON, `"all"` in either format).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaxSave {
    /// At most this many test samples are saved.
    Limit(usize),
    /// Every test sample is saved.
    All,
}

impl Default for MaxSave {
    fn default() -> Self {
        MaxSave::Limit(100)
    }
}

impl Serialize for MaxSave {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            MaxSave::Limit(n) => s.serialize_u64(*n as u64),
            MaxSave::All => s.serialize_str("all"),
        }
    }
}

impl<'de> Deserialize<'de> for MaxSave {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged, expecting = "a number of samples, null, or \"all\"")]
        enum Raw {
            Limit(usize),
            Word(String),
        }
        match Option::<Raw>::deserialize(d)? {
            Some(Raw::Limit(n)) => Ok(MaxSave::Limit(n)),
            Some(Raw::Word(w)) if w == "all" => Ok(MaxSave::All),
            Some(Raw::Word(w)) => Err(serde::de::Error::custom(format!(
                "'{w}' is not a number of samples; use a number, null or \"all\""
            ))),
            None => Ok(MaxSave::All),
        }
    }
}

fn default_interval() -> u64 {
    1000
}

fn yes() -> bool {
    true
}

fn default_n_samples() -> usize {
    64
}

/// `VisualizationHook`'s configuration, with MMagic's field names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// Draw every `interval` training iterations; 0 never (as mmengine).
    #[serde(default = "default_interval")]
    pub interval: u64,
    /// What to sample and draw: one table or a list.
    #[serde(default, deserialize_with = "one_or_many_kwargs")]
    pub vis_kwargs_list: Vec<VisKwargs>,
    /// Reuse the first run's inputs so grids compare across steps.
    #[serde(default = "yes")]
    pub fixed_input: bool,
    /// Default number of samples to draw.
    #[serde(default = "default_n_samples")]
    pub n_samples: usize,
    /// Default images per row (`ceil(sqrt(N))` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_row: Option<usize>,
    /// Pictures the model left in the message hub's `vis_results`, drawn after the samplers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_hub_vis_kwargs: Option<HubKwargs>,
    /// Save pictures of test outputs.
    #[serde(default = "yes")]
    pub save_at_test: bool,
    /// At most this many test samples are saved (`all` for no limit).
    #[serde(default)]
    pub max_save_at_test: MaxSave,
    /// Keys drawn at test time (every image key when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_vis_keys: Option<OneOrMany<String>>,
    /// MMagic shows pictures in a window instead of saving them; vis only writes files.
    #[serde(default)]
    pub show: bool,
    /// Seconds a shown picture stays (only with `show`).
    #[serde(default)]
    pub wait_time: f64,
    /// Channel order of the model's images: `rgb` (Candle's, the default) or `bgr` (MMagic's,
    /// whose data are read with OpenCV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color_order: Option<ColorOrder>,
    /// The mean of the de-normalisation `x * std + mean`: one value, or one per input channel
    /// (default 127.5: outputs in [-1, 1]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_mean: Option<OneOrMany<f64>>,
    /// The std of the de-normalisation (default 127.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_std: Option<OneOrMany<f64>>,
    /// How values become bytes: `truncate` (MMagic's `astype(np.uint8)`, Candle's cast; the
    /// default) or `round` (torchvision's `save_image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantize: Option<QuantizeMode>,
}

impl Default for HookConfig {
    fn default() -> Self {
        Self {
            interval: default_interval(),
            vis_kwargs_list: Vec::new(),
            fixed_input: true,
            n_samples: default_n_samples(),
            n_row: None,
            message_hub_vis_kwargs: None,
            save_at_test: true,
            max_save_at_test: MaxSave::default(),
            test_vis_keys: None,
            show: false,
            wait_time: 0.0,
            color_order: None,
            target_mean: None,
            target_std: None,
            quantize: None,
        }
    }
}

/// `vis_kwargs_list` as one table or a list of tables, keeping the inner errors (an untagged
/// enum would hide them behind "no variant matched").
fn one_or_many_kwargs<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<VisKwargs>, D::Error> {
    use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};

    struct OneOrList;

    impl<'de> serde::de::Visitor<'de> for OneOrList {
        type Value = Vec<VisKwargs>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a table such as {type = \"GAN\"}, or a list of such tables")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            map: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            Ok(vec![VisKwargs::deserialize(MapAccessDeserializer::new(
                map,
            ))?])
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            seq: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            Vec::<VisKwargs>::deserialize(SeqAccessDeserializer::new(seq))
        }

        fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(Vec::new())
        }

        fn visit_none<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }

    d.deserialize_any(OneOrList)
}

/// `interval` of `BasicVisualizationHook`: one for every mode, or one per mode (default 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a number, or a table of numbers per mode (train, val, test)"
)]
pub enum ModeInterval {
    /// The same interval in every mode.
    Every(u64),
    /// An interval per mode; missing modes use 1.
    PerMode(BTreeMap<String, u64>),
}

impl Default for ModeInterval {
    fn default() -> Self {
        ModeInterval::PerMode(BTreeMap::new())
    }
}

/// `BasicVisualizationHook`'s configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicHookConfig {
    /// Interval, per mode or for all.
    #[serde(default)]
    pub interval: ModeInterval,
    /// Draw during training.
    #[serde(default)]
    pub on_train: bool,
    /// Draw during validation.
    #[serde(default = "yes")]
    pub on_val: bool,
    /// Draw during testing.
    #[serde(default = "yes")]
    pub on_test: bool,
}

impl Default for BasicHookConfig {
    fn default() -> Self {
        Self {
            interval: ModeInterval::default(),
            on_train: false,
            on_val: true,
            on_test: true,
        }
    }
}

/// `ConcatImageVisualizer`'s configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConcatConfig {
    /// The key whose value (a path) names the file: `dir/basename.ext` saves as `basename`.
    pub fn_key: String,
    /// Keys drawn side by side.
    pub img_keys: Vec<String>,
    /// Per key, the `[min, max]` of float values mapped to [0, 255]. A float key without one
    /// is taken as already in 0..255 (MMagic's default): `[0, 1]` data need `[0, 1]` here, a
    /// GAN's `[-1, 1]` outputs `[-1, 1]`. Bytes (`u8`) are drawn as they are.
    #[serde(default)]
    pub pixel_range: BTreeMap<String, [f64; 2]>,
    /// Swap the first and last channels.
    #[serde(default)]
    pub bgr2rgb: bool,
}

/// The sampler types and aliases `type` accepts (see [`crate::kwargs`]).
pub const KNOWN_TYPES: [&str; 11] = [
    "Noise",
    "Arguments",
    "Data",
    "ValData",
    "TestData",
    "GAN",
    "SinGAN",
    "Translation",
    "TranslationVal",
    "TranslationTest",
    "DDPMDenoising",
];

/// `from_file`, `from_json` and `from_toml` for a config type, with errors naming the field
/// (and the file).
macro_rules! config_readers {
    ($($config:ty),*) => {$(
        impl $config {
            /// Reads a JSON (`.json`) or TOML (`.toml`) file.
            pub fn from_file(path: &Path) -> Result<Self> {
                read_config(path)
            }

            /// Parses JSON.
            pub fn from_json(text: &str) -> Result<Self> {
                parse_json(text, None)
            }

            /// Parses TOML.
            pub fn from_toml(text: &str) -> Result<Self> {
                parse_toml(text, None)
            }
        }
    )*};
}

config_readers!(HookConfig, BasicHookConfig, ConcatConfig);

impl HookConfig {
    /// Its pixel settings.
    pub fn pixels(&self) -> PixelOptions {
        pixel_options(
            self.color_order,
            &self.target_mean,
            &self.target_std,
            self.quantize,
        )
    }

    /// Checks what serde cannot: sizes of at least 1, known sampler types, no `show`, one or
    /// three finite means and stds.
    pub fn validate(&self) -> Result<()> {
        self.pixels().validate("")?;
        let fail = |field: String, message: &str| {
            Err(Error::Config {
                file: None,
                field,
                message: message.to_owned(),
            })
        };
        if self.n_samples == 0 {
            return fail("n_samples".into(), "must be at least 1");
        }
        if self.n_row == Some(0) {
            return fail(
                "n_row".into(),
                "must be at least 1, or absent for ceil(sqrt(N))",
            );
        }
        if self.show {
            return fail(
                "show".into(),
                "vis writes pictures to files and has no window to show them in; set show = false and open the files (or TensorBoard)",
            );
        }
        if !(self.wait_time.is_finite() && self.wait_time >= 0.0) {
            return fail("wait_time".into(), "must be a number of seconds, 0 or more");
        }
        if let Some(hub) = &self.message_hub_vis_kwargs {
            for (i, entry) in hub.entries().iter().enumerate() {
                entry
                    .pixels()
                    .validate(&format!("message_hub_vis_kwargs[{i}]."))?;
                let field = format!("message_hub_vis_kwargs[{i}].key");
                file_name_field(field.clone(), &entry.key)?;
                file_name_field(field, &format!("train_{}", entry.key))?;
            }
        }
        for (i, key) in self
            .test_vis_keys
            .as_ref()
            .map(OneOrMany::to_vec)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let field = format!("test_vis_keys[{i}]");
            file_name_field(field.clone(), key)?;
            file_name_field(field, &test_picture_name(key))?;
        }
        for (i, kw) in self.vis_kwargs_list.iter().enumerate() {
            let field = |name: &str| format!("vis_kwargs_list[{i}].{name}");
            kw.pixels().validate(&format!("vis_kwargs_list[{i}]."))?;
            if let Some(Some(name)) = &kw.name
                && !name.is_empty()
            {
                file_name_field(field("name"), name)?;
            }
            if crate::kwargs::sampler_of(&kw.kind).is_none() {
                return fail(
                    field("type"),
                    &format!(
                        "unknown sampler type '{}'; known types: {}",
                        kw.kind,
                        KNOWN_TYPES.join(", ")
                    ),
                );
            }
            if kw.n_samples == Some(0) {
                return fail(field("n_samples"), "must be at least 1");
            }
            if kw.n_row == Some(0) {
                return fail(
                    field("n_row"),
                    "must be at least 1, or absent for ceil(sqrt(N))",
                );
            }
            for key in ["n_skip", "fps"] {
                if let Some(v) = kw.extra.get(key) {
                    let ok = match key {
                        "n_skip" => v.as_u64().is_some_and(|n| n >= 1),
                        _ => v.as_f64().is_some_and(|f| f.is_finite() && f > 0.0),
                    };
                    if !ok {
                        return fail(field(key), "must be a positive number");
                    }
                }
            }
            // Frames the animation format can hold (a GIF unless apng is asked for).
            let frames = vis_ops::FrameSpec {
                n_skip: 1,
                fps: kw
                    .extra
                    .get("fps")
                    .and_then(serde_json::Value::as_f64)
                    .unwrap_or(crate::visualizer::DEFAULT_FPS),
            };
            let format = kw
                .vis_mode
                .and_then(VisMode::animation)
                .unwrap_or(vis_ops::AnimationFormat::Gif);
            if let Err(e) = frames.check_fits(format) {
                return fail(field("fps"), &e.to_string());
            }
            let fps = frames.fps;
            if kw.vis_mode == Some(VisMode::Apng) && frames.apng_delay().slowed_by_browsers() {
                log::warn!(
                    "{}: fps = {fps} asks for APNG frames of 10 ms or less, which browsers show for 100 ms each (10 fps); give fps = 99 or less",
                    field("fps")
                );
            }
        }
        Ok(())
    }
}

/// The picture name of test key `key`: `test_{key}` with dots as underscores (MMagic's).
pub fn test_picture_name(key: &str) -> String {
    format!("test_{}", key.replace('.', "_"))
}

/// Checks that `value`, which becomes part of a file name, is a plain name (see
/// [`vis_ops::fs::check_file_name`]); the error names `field`.
fn file_name_field(field: String, value: &str) -> Result<()> {
    vis_ops::fs::check_file_name(&field, value).map_err(|e| match e {
        vis_ops::Error::FileName { name, reason, .. } => Error::Config {
            file: None,
            field,
            message: format!(
                "{name} cannot be used in a file name: {reason}; give a plain name (no '/', '\\' or control characters, not '.' or '..')"
            ),
        },
        other => other.into(),
    })
}

/// Reads `path` as JSON or TOML (by its extension) into `T`, with errors naming the file.
pub fn read_config<T: DeserializeOwned + Validate>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "reading the config",
        path: path.to_path_buf(),
        source,
    })?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("json") => parse_json(&text, Some(path)),
        Some("toml") => parse_toml(&text, Some(path)),
        _ => Err(Error::Config {
            file: Some(path.to_path_buf()),
            field: String::new(),
            message: "a config file must end in .json or .toml".into(),
        }),
    }
}

/// Config types checked after parsing.
pub trait Validate {
    /// Checks what the types cannot.
    fn validate(&self) -> Result<()>;
}

impl Validate for HookConfig {
    fn validate(&self) -> Result<()> {
        HookConfig::validate(self)
    }
}

impl Validate for BasicHookConfig {
    fn validate(&self) -> Result<()> {
        Ok(())
    }
}

impl Validate for ConcatConfig {
    fn validate(&self) -> Result<()> {
        if self.img_keys.is_empty() {
            return Err(Error::Config {
                file: None,
                field: "img_keys".into(),
                message: "name at least one key to draw".into(),
            });
        }
        Ok(())
    }
}

/// Attaches `file` to a config error.
fn in_file(e: Error, file: Option<&Path>) -> Error {
    match e {
        Error::Config { field, message, .. } => Error::Config {
            file: file.map(Path::to_path_buf),
            field,
            message,
        },
        other => other,
    }
}

/// The field path of a serde error (empty for the document itself).
fn field_of(path: &serde_path_to_error::Path) -> String {
    let p = path.to_string();
    if p == "." { String::new() } else { p }
}

/// `line L, column C` of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}")
}

/// Parses JSON into `T` and validates it.
pub fn parse_json<T: DeserializeOwned + Validate>(text: &str, file: Option<&Path>) -> Result<T> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| Error::Config {
        file: file.map(Path::to_path_buf),
        field: field_of(e.path()),
        message: e.inner().to_string(),
    })?;
    value.validate().map_err(|e| in_file(e, file))?;
    Ok(value)
}

/// Parses TOML into `T` and validates it.
pub fn parse_toml<T: DeserializeOwned + Validate>(text: &str, file: Option<&Path>) -> Result<T> {
    let de = toml::Deserializer::parse(text).map_err(|e| Error::Config {
        file: file.map(Path::to_path_buf),
        field: String::new(),
        message: match e.span() {
            Some(span) => format!("{}: {}", line_column(text, span.start), e.message()),
            None => e.message().to_owned(),
        },
    })?;
    let value: T = serde_path_to_error::deserialize(de).map_err(|e| Error::Config {
        file: file.map(Path::to_path_buf),
        field: field_of(e.path()),
        message: e.inner().message().trim().to_owned(),
    })?;
    value.validate().map_err(|e| in_file(e, file))?;
    Ok(value)
}
