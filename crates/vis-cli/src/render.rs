//! `vis render`: tensors from a `.safetensors` file to a PNG grid or a GIF (plus lossless
//! frames), with the flags of the pixel contract.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use vis_ops::fs::write_atomic;
use vis_ops::{
    ChannelOrder, FrameSpec, GifPalette, GridSpec, ImageBatch, PixelMap, PngSpeed, Quantize,
    RenderSpec, Renderer, RgbFrames, TensorFile, encode_gif, encode_png,
};

use crate::error::CliError;

/// The flags of `vis render`.
#[derive(Args, Debug)]
pub struct RenderArgs {
    /// The .safetensors file holding the tensors.
    input: PathBuf,

    /// The picture to write: .png for images [N, C, H, W], .gif for sequences [N, T, C, H, W].
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
    /// [0, 255] (range).
    #[arg(long, value_enum, default_value_t = MapArg::Unit)]
    map: MapArg,

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

    /// For sequences: frames per second of the GIF [default: 10].
    #[arg(long, value_name = "F", value_parser = parse_fps)]
    fps: Option<f64>,

    /// For sequences: also write every frame losslessly as DIR/frame_0000.png, ...
    #[arg(long, value_name = "DIR")]
    frames_dir: Option<PathBuf>,
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
        if self.map != MapArg::Range && range_flags {
            return fail("--lo, --hi and --scale-each go with --map range");
        }
        if self.map != MapArg::Denorm && denorm_flags {
            return fail("--mean and --std go with --map denorm");
        }
        Ok(match self.map {
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
                "the output '{}' must end in .png (a grid) or .gif (an animation)",
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
            },
        })
    }
}

/// Runs `vis render`.
pub(crate) fn run(args: RenderArgs) -> Result<(), CliError> {
    let spec = args.render_spec()?;
    let kind = args.output_kind()?;
    let file = TensorFile::read(&args.input)?;
    let batches = file
        .select(&args.tensors)?
        .into_iter()
        .map(|t| t.batch())
        .collect::<Result<Vec<ImageBatch<'_>>, _>>()?;
    let first = batches.first().map(ImageBatch::name).unwrap_or_default();
    let is_sequence = batches.first().is_some_and(|b| b.dims().t.is_some());
    let renderer = Renderer::default();
    if !is_sequence {
        if args.n_skip.is_some() || args.fps.is_some() || args.frames_dir.is_some() {
            return Err(CliError::Input(format!(
                "--n-skip, --fps and --frames-dir apply to sequences [N, T, C, H, W], but '{first}' is a batch of images [N, C, H, W]"
            )));
        }
        if kind != OutputKind::Png {
            return Err(CliError::Input(format!(
                "'{first}' holds images [N, C, H, W], which make one grid: write it to a .png"
            )));
        }
        let grid = renderer.grid(&batches, &spec)?;
        write_atomic(&args.output, |w| encode_png(&grid, PngSpeed::Fast, w))?;
        println!(
            "wrote {} ({}x{})",
            args.output.display(),
            grid.width(),
            grid.height()
        );
        return Ok(());
    }
    if kind != OutputKind::Gif {
        return Err(CliError::Input(format!(
            "'{first}' holds sequences [N, T, C, H, W], which make an animation: write it to a .gif (and add --frames-dir DIR for lossless frames)"
        )));
    }
    let frame_spec = FrameSpec {
        n_skip: args.n_skip.map_or(1, |k| k as usize),
        fps: args.fps.unwrap_or(10.0),
    };
    let frames = renderer.frames(&batches, &spec, &frame_spec)?;
    if let Some(dir) = &args.frames_dir {
        write_frames(dir, &frames)?;
    }
    write_atomic(&args.output, |w| {
        encode_gif(&frames, frame_spec.gif_delay_cs(), GifPalette::default(), w)
    })?;
    let (w, h) = (frames.width(), frames.height());
    println!(
        "wrote {} ({} frames of {w}x{h})",
        args.output.display(),
        frames.len()
    );
    Ok(())
}

/// Writes every frame losslessly as `dir/frame_0000.png`, `frame_0001.png`, ...
fn write_frames(dir: &Path, frames: &RgbFrames) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|source| vis_ops::Error::Io {
        action: "creating the folder",
        path: dir.to_path_buf(),
        source,
    })?;
    for (i, frame) in frames.iter().enumerate() {
        let path = dir.join(format!("frame_{i:04}.png"));
        write_atomic(&path, |w| encode_png(frame, PngSpeed::Fast, w))?;
    }
    Ok(())
}
