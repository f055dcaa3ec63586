//! `TensorboardVisBackend`: mmengine's TensorBoard backend, with MMagic's animations, without
//! Python. Everything goes to one event file `{save_dir}/events.out.tfevents.{time}.{host}.{pid}.{n}`
//! (torch's `SummaryWriter` naming): TFRecord framing with masked CRC32C around `Event`
//! protobufs whose `Summary` values carry
//!
//! - pictures as image summaries: grids PNG-encoded, animations as the encoded GIF (what
//!   MMagic's `TensorboardGenVisBackend` writes through torch's `add_video`; TensorBoard's
//!   images dashboard plays it), with height, width and colourspace 3 (RGB);
//! - scalars as `simple_value`s;
//! - the config as a text summary `config/text_summary` (torch's `add_text`).
//!
//! Each record is appended with one write and the file is never left with half a record: a
//! failed write (a full disk) is cut back off. A removed event file or folder is started anew.

pub mod proto;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;
use vis_ops::{GifPalette, PngSpeed};

use super::{Picture, VisBackend};
use crate::error::{Error, Result};
use proto::{
    Dim, Event, Image, PluginData, Summary, SummaryMetadata, SummaryValue, TensorProto,
    TensorShapeProto, event::What, summary_value::Kind,
};

/// The CRC32C of `bytes`, masked as TFRecord files store it.
pub fn masked_crc32c(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
        .rotate_right(15)
        .wrapping_add(0xa282_ead8)
}

/// One TFRecord: length (u64 LE), its masked CRC, the payload, the payload's masked CRC.
pub fn frame_record(payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u64).to_le_bytes();
    let mut record = Vec::with_capacity(payload.len().saturating_add(16));
    record.extend_from_slice(&len);
    record.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    record.extend_from_slice(payload);
    record.extend_from_slice(&masked_crc32c(payload).to_le_bytes());
    record
}

/// The payloads of a TFRecord file, every length and payload CRC checked; an error names the
/// record and its byte offset.
pub fn read_records(bytes: &[u8]) -> Result<Vec<&[u8]>> {
    let mut records = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let offset = bytes.len() - rest.len();
        let bad = |what: &str| {
            Error::EventFile(format!("record {} at byte {offset}: {what}", records.len()))
        };
        let (len_bytes, after) = rest
            .split_first_chunk::<8>()
            .ok_or_else(|| bad("cut short"))?;
        let (len_crc, after) = after
            .split_first_chunk::<4>()
            .ok_or_else(|| bad("cut short"))?;
        if u32::from_le_bytes(*len_crc) != masked_crc32c(len_bytes) {
            return Err(bad("the length's CRC does not match"));
        }
        let len = usize::try_from(u64::from_le_bytes(*len_bytes))
            .map_err(|_| bad("impossible length"))?;
        if after.len() < len.saturating_add(4) {
            return Err(bad("cut short"));
        }
        let (payload, after) = after.split_at(len);
        let (crc, after) = after
            .split_first_chunk::<4>()
            .ok_or_else(|| bad("cut short"))?;
        if u32::from_le_bytes(*crc) != masked_crc32c(payload) {
            return Err(bad("the payload's CRC does not match"));
        }
        records.push(payload);
        rest = after;
    }
    Ok(records)
}

/// The open event file.
#[derive(Debug)]
struct EventFile {
    path: PathBuf,
    file: File,
    /// Bytes of whole records written.
    len: u64,
}

impl EventFile {
    /// Appends `record` whole, or cuts a partial write back off and reports it.
    fn append(&mut self, record: &[u8]) -> Result<()> {
        match self.file.write_all(record) {
            Ok(()) => {
                self.len = self.len.saturating_add(record.len() as u64);
                Ok(())
            }
            Err(source) => {
                let _ = self.file.set_len(self.len);
                Err(Error::Io {
                    action: "appending to",
                    path: self.path.clone(),
                    source,
                })
            }
        }
    }
}

/// Writes pictures, scalars and the config to a TensorBoard event file in `save_dir`.
#[derive(Debug)]
pub struct TensorboardVisBackend {
    save_dir: PathBuf,
    png_speed: PngSpeed,
    gif_palette: GifPalette,
    file: Option<EventFile>,
    files_started: u32,
    /// Whether this process writes (rank 0, mmengine's `master_only`); known once opened.
    main_process: Option<bool>,
}

impl TensorboardVisBackend {
    /// A backend writing under `save_dir` (created with the first record), for
    /// `tensorboard --logdir save_dir`.
    pub fn new(save_dir: impl Into<PathBuf>) -> Self {
        Self {
            save_dir: save_dir.into(),
            png_speed: PngSpeed::default(),
            gif_palette: GifPalette::default(),
            file: None,
            files_started: 0,
            main_process: None,
        }
    }

    /// Whether this process writes: only rank 0 does, the others write nothing at all.
    fn writes(&mut self) -> Result<bool> {
        VisBackend::open(self)?;
        Ok(self.main_process == Some(true))
    }

    /// The event file written to, once the first record is.
    pub fn event_file(&self) -> Option<&Path> {
        self.file.as_ref().map(|f| f.path.as_path())
    }

    /// The open event file; a new one when there is none yet or it was removed.
    fn event_file_mut(&mut self) -> Result<&mut EventFile> {
        if self.file.as_ref().is_some_and(|f| !f.path.exists()) {
            self.file = None;
        }
        if let Some(file) = self.file.take() {
            return Ok(self.file.insert(file));
        }
        std::fs::create_dir_all(&self.save_dir).map_err(|source| Error::Io {
            action: "creating the folder",
            path: self.save_dir.clone(),
            source,
        })?;
        let name = format!(
            "events.out.tfevents.{:010}.{}.{}.{}",
            unix_seconds() as u64,
            super::host_name(),
            std::process::id(),
            self.files_started
        );
        let path = self.save_dir.join(name);
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| Error::Io {
                action: "creating the event file",
                path: path.clone(),
                source,
            })?;
        self.files_started = self.files_started.saturating_add(1);
        let mut file = EventFile { path, file, len: 0 };
        let version = Event {
            wall_time: unix_seconds(),
            step: 0,
            what: Some(What::FileVersion("brain.Event:2".into())),
        };
        file.append(&frame_record(&version.encode_to_vec()))?;
        Ok(self.file.insert(file))
    }

    /// Appends one event with `values` at `step`.
    fn write(&mut self, step: u64, value: Vec<SummaryValue>) -> Result<()> {
        let event = Event {
            wall_time: unix_seconds(),
            step: i64::try_from(step).unwrap_or(i64::MAX),
            what: Some(What::Summary(Summary { value })),
        };
        let record = frame_record(&event.encode_to_vec());
        self.event_file_mut()?.append(&record)
    }
}

/// A scalar value.
fn scalar(tag: &str, value: f64) -> SummaryValue {
    SummaryValue {
        tag: tag.to_owned(),
        metadata: None,
        kind: Some(Kind::SimpleValue(value as f32)),
    }
}

/// Seconds since the Unix epoch.
fn unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl VisBackend for TensorboardVisBackend {
    fn name(&self) -> &str {
        "TensorboardVisBackend"
    }

    fn open(&mut self) -> Result<()> {
        if self.main_process.is_none() {
            self.main_process = Some(crate::rank::is_main_process()?);
        }
        Ok(())
    }

    fn add_image(&mut self, name: &str, picture: &Picture, step: u64) -> Result<()> {
        if !self.writes()? {
            return Ok(());
        }
        let mut encoded = Vec::new();
        picture.encode(self.png_speed, self.gif_palette, &mut encoded)?;
        let (width, height) = picture.size();
        let image = Image {
            height: i32::try_from(height).unwrap_or(i32::MAX),
            width: i32::try_from(width).unwrap_or(i32::MAX),
            colorspace: 3,
            encoded_image_string: encoded,
        };
        let value = SummaryValue {
            tag: name.to_owned(),
            metadata: None,
            kind: Some(Kind::Image(image)),
        };
        self.write(step, vec![value])
    }

    fn add_scalar(&mut self, name: &str, value: f64, step: u64) -> Result<()> {
        if !self.writes()? {
            return Ok(());
        }
        self.write(step, vec![scalar(name, value)])
    }

    fn add_scalars(
        &mut self,
        scalars: &BTreeMap<String, f64>,
        step: u64,
        _file_path: Option<&str>,
    ) -> Result<()> {
        if !self.writes()? {
            return Ok(());
        }
        let values = scalars.iter().map(|(k, v)| scalar(k, *v)).collect();
        self.write(step, values)
    }

    fn add_config(&mut self, config: &serde_json::Value) -> Result<()> {
        if !self.writes()? {
            return Ok(());
        }
        let pretty = serde_json::to_string_pretty(config).unwrap_or_else(|_| config.to_string());
        // The text plugin renders Markdown: indented lines are shown as code.
        let text: String = pretty.lines().map(|l| format!("    {l}\n")).collect();
        let value = SummaryValue {
            tag: "config/text_summary".to_owned(),
            metadata: Some(SummaryMetadata {
                plugin_data: Some(PluginData {
                    plugin_name: "text".to_owned(),
                    content: Vec::new(),
                }),
            }),
            kind: Some(Kind::Tensor(TensorProto {
                dtype: proto::DT_STRING,
                tensor_shape: Some(TensorShapeProto {
                    dim: vec![Dim { size: 1 }],
                }),
                string_val: vec![text.into_bytes()],
            })),
        };
        self.write(0, vec![value])
    }

    fn flush(&mut self) -> Result<()> {
        match &mut self.file {
            Some(f) => f.file.flush().map_err(|source| Error::Io {
                action: "flushing",
                path: f.path.clone(),
                source,
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crc_is_crc32c_masked_as_tensorflow_does() {
        // CRC32C("123456789") = 0xE3069283 (the standard check value).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        // TensorFlow's mask, ((crc >> 15) | (crc << 17)) + 0xa282ead8, worked out by hand.
        assert_eq!(masked_crc32c(b"123456789"), 0xc78a_b0e5);
    }

    #[test]
    fn records_round_trip_and_damage_is_found() {
        let mut file = frame_record(b"first");
        file.extend(frame_record(b""));
        file.extend(frame_record(&[7; 300]));
        let records = read_records(&file).unwrap();
        assert_eq!(records, vec![&b"first"[..], &b""[..], &[7; 300][..]]);

        let mut flipped = file.clone();
        flipped[14] ^= 1; // inside the first payload
        let err = read_records(&flipped).unwrap_err().to_string();
        assert!(
            err.contains("record 0 at byte 0: the payload's CRC"),
            "{err}"
        );
        let err = read_records(&file[..file.len() - 1])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("record 2") && err.contains("cut short"),
            "{err}"
        );
    }
}
