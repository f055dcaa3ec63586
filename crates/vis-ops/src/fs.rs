//! Atomic file output: every picture is written to a temporary file in the target's folder and
//! renamed over the target only when complete, so a reader, or a process killed mid-write, never
//! sees half a file.
//!
//! Files are not fsynced, like OpenCV's, PIL's and torch's writers: a killed process loses
//! nothing written (the data is in the kernel), while a power cut may lose the latest pictures.
//! Syncing would cost 1 to 20 ms of disk time per picture.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The suffix of temporary files; a folder may be swept of stale ones with it.
pub const TEMP_SUFFIX: &str = ".vis-tmp";

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// Writes `path` atomically: `write` fills a buffered temporary file beside it, which is
/// flushed and renamed over `path`. On any error the temporary file is removed and `path` is
/// left as it was.
pub fn write_atomic<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> Result<()>,
{
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::Io {
            action: "writing",
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the output path has no file name",
            ),
        })?;
    if !dir.is_dir() {
        return Err(Error::Io {
            action: "writing",
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("the folder {} does not exist", dir.display()),
            ),
        });
    }
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(TEMP_SUFFIX);
    // Pictures get the permissions `File::create` would give (0666 less the umask), not the
    // owner-only ones of temporary files.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let temp = builder.tempfile_in(&dir).map_err(|source| Error::Io {
        action: "creating a temporary file in",
        path: dir.clone(),
        source: std::io::Error::new(source.kind(), strip_path(&source)),
    })?;
    let (file, temp_path) = temp.into_parts();
    let mut out = BufWriter::with_capacity(1 << 16, file);
    write(&mut out)?;
    let file = out.into_inner().map_err(|e| Error::Io {
        action: "writing",
        path: path.to_path_buf(),
        source: e.into_error(),
    })?;
    drop(file);
    temp_path.persist(path).map_err(|e| Error::Io {
        action: "renaming the finished file to",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// The message of a `tempfile` error without the `at path ...` it appends (we name the folder).
fn strip_path(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" at path ") {
        Some(i) => text.get(..i).unwrap_or(&text).to_owned(),
        None => text,
    }
}

/// Writes `bytes` to `path` atomically (see [`write_atomic`]).
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |out| {
        out.write_all(bytes).map_err(io("writing", path))
    })
}
