//! Atomic file output: every picture is written to a temporary file in the target's folder and
//! renamed over the target only when complete, so a reader, or a process killed mid-write, never
//! sees half a file. Also the one rule for names that become file names ([`check_file_name`]).
//!
//! A temporary file is locked (`flock`) by its writer from the moment it exists, and a process
//! killed mid-write leaves it behind unlocked: the first atomic write into a folder by a later
//! process removes the unlocked ones that have not changed for a minute (see
//! [`remove_stale_temps`]). The lock, not a process id, proves a writer alive, so a writer in
//! another PID namespace or on another machine sharing the folder is never mistaken for dead.
//!
//! An existing target keeps its permission bits, and a read-only one is refused unless the
//! caller asks for it to be replaced ([`WriteOptions::replace_read_only`]), as a shell redirect
//! refuses it. An error while writing names the target file and says it was a write.
//!
//! Files are not fsynced, like OpenCV's, PIL's and torch's writers: a killed process loses
//! nothing written (the data is in the kernel), while a power cut may lose the latest pictures.
//! Syncing would cost 1 to 20 ms of disk time per picture.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};

/// The suffix of temporary files; a folder may be swept of stale ones with it.
pub const TEMP_SUFFIX: &str = ".vis-tmp";

/// The longest name (in bytes) that [`check_file_name`] lets through: room is left for the
/// `_{step}.png` vis appends, within the 255 bytes a file name may have.
pub const MAX_NAME_BYTES: usize = 200;

/// How long an unlocked temporary file must have gone unchanged before a sweep removes it: a
/// writer locks its file microseconds after creating it, so a younger one may be a writer's
/// that has not locked yet.
const STALE_AFTER: Duration = Duration::from_secs(60);

/// The most bytes of the target's name a temporary file's name repeats (for the reader who
/// finds one): a target of 255 bytes still gets a temporary name far below the limit.
const TEMP_STEM_BYTES: usize = 64;

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// Checks `name`, a value that becomes (part of) a file name: a picture's `name`, a test key, a
/// message-hub key, a file name from a sample's `fn_key`. It must be a plain name: not empty,
/// not `.` or `..`, no `/`, `\`, NUL or other control character, at most [`MAX_NAME_BYTES`]
/// bytes. Anything else is refused, naming `what` and the value: vis never writes outside the
/// folder it was given.
pub fn check_file_name(what: &str, name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("it is empty".to_owned())
    } else if name == "." || name == ".." {
        Some("it names a folder, not a file".to_owned())
    } else if let Some(c) = name
        .chars()
        .find(|&c| c == '/' || c == '\\' || c.is_control())
    {
        Some(match c {
            '/' | '\\' => format!("it holds the path separator '{c}'"),
            _ => format!("it holds the control character {}", c.escape_unicode()),
        })
    } else if name.len() > MAX_NAME_BYTES {
        Some(format!(
            "it is {} bytes long, more than the {MAX_NAME_BYTES} a file name may take here",
            name.len()
        ))
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(Error::FileName {
            what: what.to_owned(),
            name: quote(name),
            reason,
        }),
    }
}

/// `text` as it may be printed: quoted, with newlines, terminal escapes and other control or
/// invisible characters escaped (Rust's `escape_debug`), and cut after 100 characters.
pub fn quote(text: &str) -> String {
    const MAX_CHARS: usize = 100;
    let mut out = String::with_capacity(text.len().min(MAX_CHARS * 2) + 2);
    out.push('\'');
    for (i, c) in text.chars().enumerate() {
        if i == MAX_CHARS {
            out.push_str(&format!("...' ({} bytes)", text.len()));
            return out;
        }
        match c {
            '\'' => out.push_str("\\'"),
            c => out.extend(c.escape_debug()),
        }
    }
    out.push('\'');
    out
}

/// What [`write_atomic_with`] may do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Replace a target that has no write permission (`vis render --force`); by default such a
    /// target is refused.
    pub replace_read_only: bool,
}

/// The temporary file being filled: a buffered writer that keeps the first I/O error it meets,
/// so that a failed write is reported as a write to the target (a full disk, say), whatever the
/// encoder writing through it makes of the error.
pub struct AtomicWriter {
    out: BufWriter<File>,
    error: Option<std::io::Error>,
}

impl AtomicWriter {
    fn keep<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &result
            && self.error.is_none()
        {
            self.error = Some(std::io::Error::new(e.kind(), e.to_string()));
        }
        result
    }
}

impl Write for AtomicWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.out.write(buf);
        self.keep(result)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let result = self.out.write_all(buf);
        self.keep(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.out.flush();
        self.keep(result)
    }
}

/// Writes `path` atomically with the default [`WriteOptions`] (see [`write_atomic_with`]).
pub fn write_atomic<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut AtomicWriter) -> Result<()>,
{
    write_atomic_with(path, WriteOptions::default(), write)
}

/// Writes `path` atomically: `write` fills a buffered, locked temporary file beside it, which is
/// flushed and renamed over `path`. On any error the temporary file is removed and `path` is
/// left as it was. An existing `path` keeps its permission bits; a read-only one is refused
/// unless `options` say otherwise, and a folder is always refused.
pub fn write_atomic_with<F>(path: &Path, options: WriteOptions, write: F) -> Result<()>
where
    F: FnOnce(&mut AtomicWriter) -> Result<()>,
{
    let refuse = |message: String| Error::Io {
        action: "writing",
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, message),
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| refuse("the output path has no file name".into()))?;
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
    let existing = std::fs::metadata(path).ok();
    if let Some(meta) = &existing {
        if meta.is_dir() {
            return Err(refuse(
                "it is a folder; give a file name for the output".into(),
            ));
        }
        if meta.permissions().readonly() && !options.replace_read_only {
            return Err(refuse(
                "it exists and is read-only; vis does not replace it (make it writable, remove it, or pass --force)".into(),
            ));
        }
    }
    sweep_once(&dir);
    let prefix = format!(".{}.", cut_at_char(&name, TEMP_STEM_BYTES));
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(TEMP_SUFFIX).rand_bytes(6);
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
    // Claims the file before anything else can see it unlocked for long (see `STALE_AFTER`).
    // Where the file system has no locks, the sweep cannot take the lock either and leaves the
    // file alone.
    let _ = temp.as_file().try_lock();
    if let Some(meta) = &existing {
        temp.as_file()
            .set_permissions(meta.permissions())
            .map_err(io("keeping the permissions of", path))?;
    }
    let (file, temp_path) = temp.into_parts();
    let mut out = AtomicWriter {
        out: BufWriter::with_capacity(1 << 16, file),
        error: None,
    };
    let written = write(&mut out).and_then(|()| out.flush().map_err(io("writing", path)));
    if let Err(e) = written {
        // The temporary file is removed when `temp_path` drops.
        return Err(match out.error.take() {
            Some(source) => Error::Io {
                action: "writing",
                path: path.to_path_buf(),
                source,
            },
            None => e,
        });
    }
    let file = out.out.into_inner().map_err(|e| Error::Io {
        action: "writing",
        path: path.to_path_buf(),
        source: e.into_error(),
    })?;
    temp_path.persist(path).map_err(|e| Error::Io {
        action: "renaming the finished file to",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    // Closing the file releases its lock, now on the finished file.
    drop(file);
    Ok(())
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut_at_char(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
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

/// Removes the temporary files in `dir` whose writers are gone (killed while writing); returns
/// how many. A temporary file is taken only when nobody holds its lock and it has not changed
/// for a minute: a live writer (in this process or another, in any PID namespace, on any
/// machine whose locks reach this folder) holds its lock, and where the file system has no
/// locks nothing is removed. Everything else in `dir` is left alone.
pub fn remove_stale_temps(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).map_err(io("listing", dir))? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let is_temp = name
            .to_str()
            .is_some_and(|n| n.starts_with('.') && n.ends_with(TEMP_SUFFIX));
        if is_temp && is_abandoned(&entry.path()) && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Whether the temporary file at `path` is a regular file, unchanged for [`STALE_AFTER`] and
/// unlocked (its lock is taken, and given back when the file is removed or left).
fn is_abandoned(path: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    let old = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .is_some_and(|age| age >= STALE_AFTER);
    if !meta.is_file() || !old {
        return false;
    }
    File::open(path).is_ok_and(|f| f.try_lock().is_ok())
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
    use std::process::{Child, Command, Stdio};

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Makes `path` look untouched for two hours.
    fn age(path: &Path) {
        let then = SystemTime::now() - Duration::from_secs(7200);
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(then)
            .unwrap();
    }

    /// A process holding the lock of `path` (`flock(1)` on a descriptor the process keeps, as a
    /// live writer holds its temporary file's) until killed, run through `wrapper` (e.g.
    /// `unshare` into another PID namespace).
    fn holder(wrapper: &[&str], path: &Path) -> Option<Child> {
        let mut args: Vec<String> = wrapper.iter().map(|s| (*s).to_owned()).collect();
        args.extend([
            "sh".into(),
            "-c".into(),
            r#"exec 9<>"$0" && flock --exclusive 9 && exec sleep 60"#.into(),
            path.to_string_lossy().into_owned(),
        ]);
        let mut child = Command::new(args.first()?)
            .args(args.get(1..)?)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // Wait until the lock is taken: then our own attempt fails.
        for _ in 0..500 {
            let locked = File::open(path).is_ok_and(|f| f.try_lock().is_err());
            if locked {
                return Some(child);
            }
            if child.try_wait().ok().flatten().is_some() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        None
    }

    /// Temporary files of a live writer stay, however they are named and whoever writes them;
    /// unlocked old ones go, young ones stay, other files stay.
    fn sweep_keeps_live_writers(wrapper: &[&str]) -> bool {
        let dir = tempfile::tempdir().unwrap();
        // A name as earlier versions wrote it, with a process id that runs nowhere here: what
        // a writer in another PID namespace or on another machine looks like.
        let live = format!(".a_1.png.00000000-4000000000.Ab12Cd{TEMP_SUFFIX}");
        let dead = format!(".a_2.png.Ab12Cd{TEMP_SUFFIX}");
        let young = format!(".a_3.png.Ab12Cd{TEMP_SUFFIX}");
        for name in [&live, &dead, &young, &"a_1.png".to_owned()] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        age(&dir.path().join(&live));
        age(&dir.path().join(&dead));
        age(&dir.path().join("a_1.png"));
        let Some(mut writer) = holder(wrapper, &dir.path().join(&live)) else {
            return false;
        };
        let removed = remove_stale_temps(dir.path()).unwrap();
        let kept = names(dir.path());
        writer.kill().unwrap();
        writer.wait().unwrap();
        assert_eq!(removed, 1);
        let mut expected = vec![live.clone(), young, "a_1.png".to_owned()];
        expected.sort();
        assert_eq!(kept, expected);
        // The writer is gone (a process it left in another namespace dies a moment later): its
        // file goes at the next sweep.
        let path = dir.path().join(&live);
        for _ in 0..500 {
            if File::open(&path).is_ok_and(|f| f.try_lock().is_ok()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(remove_stale_temps(dir.path()).unwrap(), 1);
        assert!(!names(dir.path()).contains(&live));
        true
    }

    #[test]
    fn a_locked_temporary_file_is_never_swept() {
        assert!(
            sweep_keeps_live_writers(&[]),
            "flock(1) could not hold a lock here"
        );
    }

    /// The writer in another PID namespace (`unshare --pid`, which needs root): its process id
    /// means nothing here, its lock does.
    #[test]
    fn a_writer_in_another_pid_namespace_is_not_taken_for_dead() {
        let wrapper = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"];
        let can = Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "true"])
            .status()
            .is_ok_and(|s| s.success());
        if !can {
            eprintln!("skipped: unshare --pid needs root (CI runs it)");
            return;
        }
        assert!(sweep_keeps_live_writers(&wrapper));
    }

    #[test]
    fn a_writer_locks_its_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("grid.png");
        write_atomic(&target, |out| {
            let temps: Vec<String> = names(dir.path());
            assert_eq!(temps.len(), 1, "{temps:?}");
            let temp = dir.path().join(&temps[0]);
            age(&temp);
            assert_eq!(remove_stale_temps(dir.path()).unwrap(), 0);
            out.write_all(b"done").unwrap();
            Ok(())
        })
        .unwrap();
        assert_eq!(names(dir.path()), vec!["grid.png"]);
        assert_eq!(std::fs::read(&target).unwrap(), b"done");
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

    #[test]
    fn names_of_255_bytes_can_be_written() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a".repeat(255), format!("{}.png", "é".repeat(125))] {
            assert!(name.len() >= 254);
            write_bytes_atomic(&dir.path().join(&name), b"x").unwrap();
            assert!(names(dir.path()).contains(&name));
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_replaced_file_keeps_its_permissions_and_a_read_only_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("grid.png");
        std::fs::write(&target, b"old").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_bytes_atomic(&target, b"new").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&target), 0o640);

        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o444)).unwrap();
        let err = write_bytes_atomic(&target, b"newer")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("grid.png") && err.contains("read-only"),
            "{err}"
        );
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        let force = WriteOptions {
            replace_read_only: true,
        };
        write_atomic_with(&target, force, |w| {
            w.write_all(b"forced").map_err(io("writing", &target))
        })
        .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"forced");
        assert_eq!(mode(&target), 0o444);
        assert_eq!(names(dir.path()), vec!["grid.png"]);

        std::fs::create_dir(dir.path().join("sub.png")).unwrap();
        let err = write_bytes_atomic(&dir.path().join("sub.png"), b"x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a folder"), "{err}");
    }

    #[test]
    fn an_io_error_in_the_encoder_is_reported_as_a_write_of_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("grid.png");
        // /dev/full stands in for the disk: the writer's flush meets ENOSPC.
        let full = File::options().write(true).open("/dev/full");
        let Ok(full) = full else {
            eprintln!("skipped: no /dev/full");
            return;
        };
        let err = write_atomic(&target, |out| {
            // An encoder that hides the I/O error behind its own.
            out.out = BufWriter::with_capacity(16, full);
            match out.write_all(&[1; 64]) {
                Ok(()) => Ok(()),
                Err(e) => Err(Error::Frames(format!("encoding failed: {e}"))),
            }
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(&format!("writing {}: ", target.display())) && !err.contains("encod"),
            "{err}"
        );
    }

    #[test]
    fn file_names_from_values_are_plain_names() {
        for good in ["fake_img", "test_gt_img", ".hidden", "a b", "ünï", "x..y"] {
            check_file_name("name", good).unwrap();
        }
        check_file_name("name", &"a".repeat(MAX_NAME_BYTES)).unwrap();
        for (bad, why) in [
            ("", "empty"),
            (".", "folder"),
            ("..", "folder"),
            ("../x", "separator '/'"),
            ("/abs/x", "separator '/'"),
            ("dir/", "separator '/'"),
            ("a\\b", "separator '\\'"),
            ("a\0b", "control character \\u{0}"),
            ("a\nb", "control character \\u{a}"),
            ("\u{1b}[31mred", "control character \\u{1b}"),
        ] {
            let err = check_file_name("vis_kwargs_list[0].name", bad)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("vis_kwargs_list[0].name ") && err.contains(why),
                "{bad:?}: {err}"
            );
            assert!(!err.contains('\n') && !err.contains('\0') && !err.contains('\u{1b}'));
        }
        let long = check_file_name("name", &"a".repeat(MAX_NAME_BYTES + 1)).unwrap_err();
        assert!(long.to_string().contains("201 bytes"), "{long}");
    }

    #[test]
    fn quoting_escapes_and_cuts() {
        assert_eq!(quote("fake_img"), "'fake_img'");
        assert_eq!(quote("a\nb\u{1b}[2J'"), "'a\\nb\\u{1b}[2J\\''");
        let long = quote(&"x".repeat(500));
        assert!(
            long.ends_with("...' (500 bytes)") && long.len() < 130,
            "{long}"
        );
    }
}
