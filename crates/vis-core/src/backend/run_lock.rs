//! One run per work folder: the run's main process holds an advisory lock on
//! `{save_dir}/.vis-run.lock` while it writes there, so that a second run into the same folder
//! is refused at once instead of interleaving its `scalars.json` lines with the first's. The
//! kernel drops the lock when the process ends, however it ends, so a rerun after a kill starts
//! cleanly. Backends of one process share the lock of a folder.
//!
//! A new run's logs start afresh: the first time it appends to a JSON-lines log (`scalars.json`
//! and the `file_path` ones), a log left by an earlier run is moved to `{name}.prev`.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::error::{Error, Result};

/// The lock file's name in the save folder.
pub const LOCK_FILE: &str = ".vis-run.lock";

/// The lock of one folder, held by this process.
#[derive(Debug)]
pub(crate) struct RunLock {
    /// Held open (and locked) while any backend of this process writes to the folder.
    _file: Option<File>,
    /// The logs this run has started.
    started: Mutex<HashSet<PathBuf>>,
}

/// The folders this process holds locks on.
static HELD: Mutex<Option<HashMap<PathBuf, Weak<RunLock>>>> = Mutex::new(None);

impl RunLock {
    /// Takes the lock of `dir` (created if missing), or shares it when this process holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<Arc<RunLock>> {
        let io = |action: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io {
                action,
                path,
                source,
            }
        };
        crate::backend::ensure_dir(dir)?;
        let key = dir.canonicalize().map_err(io("finding the folder", dir))?;
        let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
        let held = held.get_or_insert_with(HashMap::new);
        if let Some(lock) = held.get(&key).and_then(Weak::upgrade) {
            return Ok(lock);
        }
        let path = dir.join(LOCK_FILE);
        // The lock is held through a read-only descriptor (an `flock` needs no more), so that no
        // file stays open for writing: the disk can still be remounted read-only under a run.
        OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io("opening the run lock", &path))?;
        let mut file = File::open(&path).map_err(io("opening the run lock", &path))?;
        let file = match file.try_lock() {
            Ok(()) => {
                let me = format!(
                    "pid {} on {}\n",
                    std::process::id(),
                    crate::backend::host_name()
                );
                // Another descriptor of the same file: closing it keeps the lock (an `flock`
                // belongs to the descriptor that took it).
                let _ = std::fs::write(&path, me);
                Some(file)
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.seek(SeekFrom::Start(0));
                let _ = Read::by_ref(&mut file)
                    .take(200)
                    .read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(Error::FolderInUse {
                    dir: dir.to_path_buf(),
                    holder: if holder.is_empty() {
                        "another process".to_owned()
                    } else {
                        vis_ops::fs::quote(holder)
                    },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => {
                // A file system without locks (some network ones): runs cannot be told apart.
                log::warn!(
                    "could not lock {} ({e}); a second run writing into {} at the same time would not be noticed",
                    path.display(),
                    dir.display()
                );
                None
            }
        };
        let lock = Arc::new(RunLock {
            _file: file,
            started: Mutex::default(),
        });
        held.insert(key, Arc::downgrade(&lock));
        Ok(lock)
    }

    /// Before this run's first line in the log `path`: moves a log an earlier run left there to
    /// `{path}.prev` (replacing an older one), so the log holds this run's lines only.
    pub(crate) fn start_log(&self, path: &Path) -> Result<()> {
        let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        if started.contains(path) {
            return Ok(());
        }
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
            let mut prev = path.as_os_str().to_owned();
            prev.push(".prev");
            std::fs::rename(path, &prev).map_err(|source| Error::Io {
                action: "moving aside an earlier run's log",
                path: path.to_path_buf(),
                source,
            })?;
        }
        started.insert(path.to_path_buf());
        Ok(())
    }
}
