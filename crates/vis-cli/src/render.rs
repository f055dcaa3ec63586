//! `vis render`: tensors from a `.safetensors` file to a PNG grid, or an animated PNG or GIF
//! (plus lossless frames), with the flags of the pixel contract.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use vis_ops::fs::{WriteOptions, quote, write_atomic_with};
use vis_ops::{
    AnimationFormat, ChannelOrder, Encoding, FrameSpec, GifPalette, GridLayout, GridSpec,
    ImageBatch, PixelMap, PngSpeed, Quantize, RenderMemory, RenderSpec, Renderer, RgbFrames,
    TensorEntry, TensorFile, encode_apng, encode_gif, encode_png,
};

use crate::error::CliError;

/// The flags of `vis render`.
#[derive(Args, Debug)]
pub struct RenderArgs {
    /// The .safetensors file holding the tensors.
    input: PathBuf,

    /// The picture to write: .png for images [N, C, H, W] (a grid); for sequences
    /// [N, T, C, H, W] .png (an APNG, every frame lossless) or .gif (256 colours a frame).
    #[arg(short, long, value_name = "OUT.png|OUT.gif")]
    output: PathBuf,

    /// A tensor to draw; repeat to stack several, in order [default: every float tensor of
    /// rank 4 or 5, by name].
    #[arg(long = "tensor", value_name = "NAME")]
    tensors: Vec<String>,

    /// Images per row [default: ceil(sqrt(N))].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    nrow: Option<u32>,

    /// Border pixels around every image.
    #[arg(long, value_name = "P", default_value_t = 2, value_parser = clap::value_parser!(u32))]
    padding: u32,

    /// The byte of borders and empty cells.
    #[arg(long, value_name = "B", default_value_t = 0)]
    pad_byte: u8,

    /// How floats become 0..255: x*255 (unit), x (identity), x*std+mean (denorm), [lo, hi] to
    /// [0, 255] (range) [default: unit]. u8 tensors are drawn as their bytes.
    #[arg(long, value_enum)]
    map: Option<MapArg>,

    /// Mean for --map denorm: one value, or one per input channel.
    #[arg(
        long,
        value_name = "M[,M,M]",
        value_delimiter = ',',
        allow_negative_numbers = true
    )]
    mean: Option<Vec<f64>>,

    /// Standard deviation for --map denorm: one value, or one per input channel.
    #[arg(
        long,
        value_name = "S[,S,S]",
        value_delimiter = ',',
        allow_negative_numbers = true
    )]
    std: Option<Vec<f64>>,

    /// Lower end for --map range [default: the data's minimum].
    #[arg(long, value_name = "X", allow_negative_numbers = true, requires = "hi")]
    lo: Option<f64>,

    /// Upper end for --map range [default: the data's maximum].
    #[arg(long, value_name = "Y", allow_negative_numbers = true, requires = "lo")]
    hi: Option<f64>,

    /// With --map range and no --lo/--hi, take the range per image instead of per tensor.
    #[arg(long)]
    scale_each: bool,

    /// How values become bytes: round half up (torchvision) or truncate (MMagic).
    #[arg(long, value_enum, default_value_t = QuantizeArg::Round)]
    quantize: QuantizeArg,

    /// Channel order of 3-channel input; the output is always RGB.
    #[arg(long, value_enum, default_value_t = OrderArg::Rgb)]
    order: OrderArg,

    /// For sequences: every K-th timestep is a frame, plus the last [default: 1].
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    n_skip: Option<u32>,

    /// For sequences: frames per second [default: 10]; an APNG stores 1/F s exactly, a GIF
    /// whole centiseconds (at least 2).
    #[arg(long, value_name = "F", value_parser = parse_fps)]
    fps: Option<f64>,

    /// For sequences: also write every frame losslessly as DIR/frame_0000.png, ... (DIR is
    /// replaced as a whole).
    #[arg(long, value_name = "DIR")]
    frames_dir: Option<PathBuf>,

    /// Replace outputs that are read-only.
    #[arg(long)]
    force: bool,
}

/// `--map` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum MapArg {
    Unit,
    Identity,
    Denorm,
    Range,
}

/// `--quantize` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum QuantizeArg {
    Round,
    Truncate,
}

/// `--order` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OrderArg {
    Rgb,
    Bgr,
}

/// The two kinds of output file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OutputKind {
    Png,
    Gif,
}

impl OutputKind {
    /// The animation a sequence becomes in it.
    fn animation_format(self) -> AnimationFormat {
        match self {
            OutputKind::Png => AnimationFormat::Apng,
            OutputKind::Gif => AnimationFormat::Gif,
        }
    }
}

/// A usage error of `vis render`.
fn usage(message: String) -> CliError {
    CliError::Usage {
        subcommand: "render",
        message,
    }
}

fn parse_fps(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err(format!(
            "'{s}' is not a positive number of frames per second"
        )),
    }
}

impl RenderArgs {
    /// The pixel map the flags ask for, or a usage error for flags that do not go together.
    fn pixel_map(&self) -> Result<PixelMap, CliError> {
        let fail = |msg: &str| Err(usage(msg.to_owned()));
        let range_flags = self.lo.is_some() || self.scale_each;
        let denorm_flags = self.mean.is_some() || self.std.is_some();
        let map = self.map.unwrap_or(MapArg::Unit);
        if map != MapArg::Range && range_flags {
            return fail("--lo, --hi and --scale-each go with --map range");
        }
        if map != MapArg::Denorm && denorm_flags {
            return fail("--mean and --std go with --map denorm");
        }
        Ok(match map {
            MapArg::Unit => PixelMap::Unit,
            MapArg::Identity => PixelMap::Identity,
            MapArg::Range => PixelMap::Range {
                lo: self.lo,
                hi: self.hi,
                scale_each: self.scale_each,
            },
            MapArg::Denorm => {
                let (Some(mean), Some(std)) = (&self.mean, &self.std) else {
                    return fail(
                        "--map denorm needs --mean and --std (for GAN outputs in [-1, 1]: --mean 127.5 --std 127.5)",
                    );
                };
                for (flag, list) in [("--mean", mean), ("--std", std)] {
                    if list.len() != 1 && list.len() != 3 {
                        return Err(usage(format!(
                            "{flag} takes 1 value or 3 (one per input channel), got {}",
                            list.len()
                        )));
                    }
                }
                PixelMap::Denorm {
                    mean: mean.clone(),
                    std: std.clone(),
                }
            }
        })
    }

    /// The output kind from the file extension.
    fn output_kind(&self) -> Result<OutputKind, CliError> {
        let ext = self
            .output
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("png") => Ok(OutputKind::Png),
            Some("gif") => Ok(OutputKind::Gif),
            _ => Err(usage(format!(
                "the output '{}' must end in .png (a grid, or an APNG of sequences) or .gif (an animation of sequences)",
                self.output.display()
            ))),
        }
    }

    fn render_spec(&self) -> Result<RenderSpec, CliError> {
        Ok(RenderSpec {
            map: self.pixel_map()?,
            quantize: match self.quantize {
                QuantizeArg::Round => Quantize::RoundHalfUp,
                QuantizeArg::Truncate => Quantize::Truncate,
            },
            order: match self.order {
                OrderArg::Rgb => ChannelOrder::Rgb,
                OrderArg::Bgr => ChannelOrder::Bgr,
            },
            grid: GridSpec {
                nrow: self.nrow.map(|n| n as usize),
                padding: self.padding as usize,
                pad_byte: self.pad_byte,
                pad_to_nrow: false,
            },
        })
    }
}

/// Runs `vis render`: reads the header, checks the tensors' shapes and the memory the render
/// would hold, and only then reads the tensors it draws.
pub(crate) fn run(args: RenderArgs) -> Result<(), CliError> {
    let spec = args.render_spec()?;
    let kind = args.output_kind()?;
    let mut file = TensorFile::open(&args.input)?;
    let entries: Vec<TensorEntry> = file.select(&args.tensors)?.into_iter().cloned().collect();
    let mut dims = Vec::with_capacity(entries.len());
    for entry in &entries {
        if !entry.has_drawable_dtype() {
            return Err(CliError::Input(format!(
                "tensor {} is {}; vis draws f32, f16, bf16 or u8 tensors",
                quote(entry.name()),
                entry.dtype_name()
            )));
        }
        dims.push(entry.dims()?);
    }
    if let (Some(map), Some(bytes)) = (args.map, entries.iter().find(|e| e.is_bytes()))
        && map != MapArg::Identity
    {
        return Err(CliError::Input(format!(
            "tensor {} holds bytes (u8), which vis draws as they are; --map {} applies to float tensors: drop it, or draw the u8 tensor apart",
            quote(bytes.name()),
            map.to_possible_value()
                .map(|v| v.get_name().to_owned())
                .unwrap_or_default()
        )));
    }
    let (Some(first), Some(first_dims)) = (entries.first(), dims.first().copied()) else {
        return Err(vis_ops::Error::NoKeys.into());
    };
    let first = quote(first.name());
    let is_sequence = first_dims.t.is_some();
    let frame_spec = FrameSpec {
        n_skip: args.n_skip.map_or(1, |k| k as usize),
        fps: args.fps.unwrap_or(10.0),
    };
    let (frames, encoding) = if is_sequence {
        let encoding = match kind {
            OutputKind::Png => Encoding::Apng(PngSpeed::Fast),
            OutputKind::Gif => Encoding::Gif {
                palette: GifPalette::default(),
                png_frames: args.frames_dir.is_some(),
            },
        };
        frame_spec.check_fits(kind.animation_format())?;
        warn_of_slowed_frames(kind, &frame_spec);
        (frame_spec.frame_count(first_dims.steps()), encoding)
    } else {
        if args.n_skip.is_some() || args.fps.is_some() || args.frames_dir.is_some() {
            return Err(CliError::Input(format!(
                "--n-skip, --fps and --frames-dir apply to sequences [N, T, C, H, W], but {first} is a batch of images [N, C, H, W]"
            )));
        }
        if kind != OutputKind::Png {
            return Err(CliError::Input(format!(
                "{first} holds images [N, C, H, W], which make one grid: write it to a .png"
            )));
        }
        (1, Encoding::Png(PngSpeed::Fast))
    };
    // Everything the render will hold, checked before anything is read or allocated.
    let layout = GridLayout::new(
        first_dims.n,
        entries.len(),
        first_dims.h,
        first_dims.w,
        &spec.grid,
    )?;
    let input = entries
        .iter()
        .fold(0usize, |sum, e| sum.saturating_add(e.data_bytes()));
    RenderMemory::new(input, layout.width, layout.height, frames, encoding).check()?;

    let tensors = entries
        .iter()
        .map(|e| file.read(e))
        .collect::<Result<Vec<_>, _>>()?;
    let batches = tensors
        .iter()
        .map(|t| t.batch())
        .collect::<Result<Vec<ImageBatch<'_>>, _>>()?;
    let renderer = Renderer::default();
    let write_options = WriteOptions {
        replace_read_only: args.force,
    };
    if !is_sequence {
        let grid = renderer.grid(&batches, &spec)?;
        write_atomic_with(&args.output, write_options, |w| {
            encode_png(&grid, PngSpeed::Fast, w)
        })?;
        return crate::print_lines(&[format!(
            "wrote {} ({}x{})",
            printable(&args.output),
            grid.width(),
            grid.height()
        )]);
    }
    let frames = renderer.frames(&batches, &spec, &frame_spec)?;
    if let Some(dir) = &args.frames_dir {
        write_frames(dir, &frames, args.force)?;
    }
    write_atomic_with(&args.output, write_options, |w| match kind {
        OutputKind::Png => encode_apng(&frames, frame_spec.apng_delay(), PngSpeed::Fast, w),
        OutputKind::Gif => encode_gif(&frames, frame_spec.gif_delay_cs(), GifPalette::default(), w),
    })?;
    let (w, h) = (frames.width(), frames.height());
    crate::print_lines(&[format!(
        "wrote {} ({} frames of {w}x{h})",
        printable(&args.output),
        frames.len()
    )])
}

/// Warns when the animation will not play at `--fps`: a GIF stores whole centiseconds of at
/// least 2, and browsers show frames of 10 ms or less (APNG or GIF) for 100 ms.
fn warn_of_slowed_frames(kind: OutputKind, spec: &FrameSpec) {
    let asked = spec.fps;
    match kind {
        OutputKind::Png if spec.apng_delay().slowed_by_browsers() => log::warn!(
            "--fps {asked} asks for frames of 10 ms or less, which browsers show for 100 ms each (10 fps); give --fps 99 or less"
        ),
        OutputKind::Gif => {
            let cs = spec.gif_delay_cs();
            let plays = 100.0 / f64::from(cs);
            if (plays - asked).abs() > 1e-9 * asked {
                log::warn!(
                    "--fps {asked}: a GIF stores whole centiseconds, so its frames last {cs} cs ({plays:.3} fps); write a .png (APNG) for exactly {asked} fps"
                );
            }
        }
        OutputKind::Png => {}
    }
}

/// A path as it may be printed: control characters escaped.
fn printable(path: &Path) -> String {
    crate::escape_controls(&path.display().to_string())
}

/// The names `vis render --frames-dir` gives frames: `frame_0000.png`, ...
fn frame_name(i: usize) -> String {
    format!("frame_{i:04}.png")
}

/// Whether `name` is one `vis render` could have written as a frame.
fn is_frame_name(name: &str) -> bool {
    name.strip_prefix("frame_")
        .and_then(|rest| rest.strip_suffix(".png"))
        .is_some_and(|digits| digits.len() >= 4 && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Writes every frame losslessly as `dir/frame_0000.png`, `frame_0001.png`, ... as a whole or
/// not at all: the frames go to a temporary folder beside `dir`, which then takes `dir`'s place.
/// An existing `dir` must hold only frames of an earlier render (it is replaced, so no stale
/// frame of a longer render stays) or nothing; a folder holding anything else is refused.
fn write_frames(dir: &Path, frames: &RgbFrames, force: bool) -> Result<(), CliError> {
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| vis_ops::Error::Io {
            action,
            path,
            source,
        }
    };
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            return Err(CliError::Input(format!(
                "--frames-dir {} is not a folder; give a new or empty folder",
                printable(dir)
            )));
        }
        Ok(_) => {
            let mut others = Vec::new();
            for entry in std::fs::read_dir(dir).map_err(io("listing", dir))? {
                let name = entry.map_err(io("listing", dir))?.file_name();
                let name = name.to_string_lossy();
                if !is_frame_name(&name) {
                    others.push(quote(&name));
                }
            }
            if !others.is_empty() {
                others.sort();
                let count = others.len();
                others.truncate(3);
                return Err(CliError::Input(format!(
                    "--frames-dir {} holds other files than frames ({}{}); vis replaces the whole folder, so give a new or empty one",
                    printable(dir),
                    others.join(", "),
                    if count > 3 {
                        format!(" and {} more", count - 3)
                    } else {
                        String::new()
                    }
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("reading", dir)(e).into()),
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let staging = tempfile::Builder::new()
        .prefix(".vis-frames.")
        .suffix(vis_ops::fs::TEMP_SUFFIX)
        .tempdir_in(&parent)
        .map_err(io("creating a temporary folder in", &parent))?;
    let options = WriteOptions {
        replace_read_only: force,
    };
    for (i, frame) in frames.iter().enumerate() {
        let path = staging.path().join(frame_name(i));
        write_atomic_with(&path, options, |w| encode_png(frame, PngSpeed::Fast, w))?;
    }
    // The old frames step aside, the new folder takes their place, and the old ones go.
    let old = parent.join(format!(".vis-frames-old.{}", std::process::id()));
    let had_old = dir.exists();
    if had_old {
        std::fs::rename(dir, &old).map_err(io("moving aside the earlier frames in", dir))?;
    }
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, dir) {
        let _ = std::fs::remove_dir_all(&staged);
        if had_old {
            let _ = std::fs::rename(&old, dir);
        }
        return Err(io("moving the frames into", dir)(e).into());
    }
    if had_old {
        std::fs::remove_dir_all(&old).map_err(io("removing the earlier frames in", &old))?;
    }
    Ok(())
}
