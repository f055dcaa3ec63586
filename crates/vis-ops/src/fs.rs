//! Atomic file output: every picture is written to a temporary file in the target's folder and
//! renamed over the target only when complete, so a reader, or a process killed mid-write, never
//! sees half a file.
//!
//! A process killed mid-write leaves its temporary file behind; the first atomic write into a
//! folder by a later process removes those of dead processes of this machine (see
//! [`remove_stale_temps`]), so they never pile up.
//!
//! Files are not fsynced, like OpenCV's, PIL's and torch's writers: a killed process loses
//! nothing written (the data is in the kernel), while a power cut may lose the latest pictures.
//! Syncing would cost 1 to 20 ms of disk time per picture.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

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
    sweep_once(&dir);
    let prefix = format!(".{name}.{}.", writer_tag());
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

/// Who writes a temporary file: a hash of this machine's name and the process id, as
/// `{host:08x}-{pid}`, so that a later process can tell the leftovers of dead processes.
fn writer_tag() -> String {
    format!("{:08x}-{}", host_hash(), std::process::id())
}

/// FNV-1a of this machine's host name (0 where it cannot be read).
fn host_hash() -> u32 {
    let name = std::fs::read("/proc/sys/kernel/hostname").unwrap_or_default();
    name.iter().fold(0x811c_9dc5_u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Sweeps `dir` of stale temporary files the first time this process writes into it.
fn sweep_once(dir: &Path) {
    static SWEPT: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
    let first = SWEPT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashSet::new)
        .insert(dir.to_path_buf());
    if first {
        // Best effort: a folder that cannot be listed will fail the write itself, with a
        // better message.
        let _ = remove_stale_temps(dir);
    }
}

/// Removes the temporary files in `dir` left by processes of this machine that no longer run
/// (killed while writing); returns how many. Files of live processes, of other machines (a
/// shared folder) and everything else are left alone. Only Linux can tell whether a process
/// runs (`/proc`); elsewhere this removes nothing.
pub fn remove_stale_temps(dir: &Path) -> Result<usize> {
    if !cfg!(target_os = "linux") {
        return Ok(0);
    }
    let host = format!("{:08x}", host_hash());
    let own = std::process::id();
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).map_err(io("listing", dir))? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = stale_temp_pid(name, &host) else {
            continue;
        };
        if pid != own
            && !Path::new(&format!("/proc/{pid}")).exists()
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}

/// The writer's process id of temporary file `name` (`.{target}.{host}-{pid}.{random}.vis-tmp`)
/// when it was written on machine `host`.
fn stale_temp_pid(name: &str, host: &str) -> Option<u32> {
    let stem = name.strip_prefix('.')?.strip_suffix(TEMP_SUFFIX)?;
    let mut parts = stem.rsplitn(3, '.');
    let _random = parts.next()?;
    let (writer_host, pid) = parts.next()?.split_once('-')?;
    (writer_host == host).then(|| pid.parse().ok()).flatten()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn temp_names_carry_host_and_pid() {
        let host = format!("{:08x}", host_hash());
        let name = format!(".a_1.png.{}.Xy12ab{TEMP_SUFFIX}", writer_tag());
        assert_eq!(stale_temp_pid(&name, &host), Some(std::process::id()));
        assert_eq!(stale_temp_pid(&name, "00000000"), None);
        assert_eq!(stale_temp_pid("a_1.png", &host), None);
        assert_eq!(
            stale_temp_pid(&format!(".x.{host}-7{TEMP_SUFFIX}"), &host),
            None
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn only_temps_of_dead_processes_of_this_machine_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let host = format!("{:08x}", host_hash());
        // No process has an id above the kernel's pid_max (at most 2^22); process 1 always runs.
        let dead = format!(".a_1.png.{host}-4000000000.Ab12Cd{TEMP_SUFFIX}");
        let live = format!(".a_2.png.{host}-1.Ab12Cd{TEMP_SUFFIX}");
        let own = format!(".a_3.png.{}.Ab12Cd{TEMP_SUFFIX}", writer_tag());
        let elsewhere = format!(".a_4.png.00000000-4000000000.Ab12Cd{TEMP_SUFFIX}");
        for name in [&dead, &live, &own, &elsewhere, &"a_1.png".to_owned()] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        assert_eq!(remove_stale_temps(dir.path()).unwrap(), 1);
        let mut kept = vec![live, own, elsewhere, "a_1.png".to_owned()];
        kept.sort();
        assert_eq!(names(dir.path()), kept);
    }

    #[test]
    fn a_failed_write_leaves_the_target_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("grid.png");
        std::fs::write(&target, b"old").unwrap();
        let failed = write_atomic(&target, |out| {
            out.write_all(&[7; 100_000]).unwrap();
            Err(Error::Io {
                action: "writing",
                path: target.clone(),
                source: std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full"),
            })
        });
        assert!(failed.is_err());
        assert_eq!(names(dir.path()), vec!["grid.png"]);
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        write_bytes_atomic(&target, b"new").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert_eq!(names(dir.path()), vec!["grid.png"]);
    }
}
