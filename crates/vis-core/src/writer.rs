//! The background writer: a thread that runs the backends (encoding, file I/O) off the
//! training thread, fed through a bounded queue. A full queue makes the caller wait (memory
//! stays bounded and no picture is dropped); failures are kept and handed back at the next call
//! or at `flush`, with what failed to be written.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crate::backend::{Picture, VisBackend};
use crate::error::{Error, Result, WriteFailure};

/// Work for the backends.
enum Job {
    /// A picture.
    Image {
        name: String,
        picture: Arc<Picture>,
        step: u64,
    },
    /// One scalar.
    Scalar { name: String, value: f64, step: u64 },
    /// Several scalars.
    Scalars {
        scalars: BTreeMap<String, f64>,
        step: u64,
        file_path: Option<String>,
    },
    /// The run's configuration.
    Config(serde_json::Value),
    /// Flush every backend, then acknowledge.
    Flush(mpsc::Sender<()>),
}

/// Failures recorded by the thread, taken by the caller.
type Failures = Arc<Mutex<Vec<WriteFailure>>>;

/// Buffers of written pictures, handed back for the next pictures to be drawn into: a fresh
/// canvas costs zeroing and page faults on the training thread. It holds at most as many as can
/// be in flight, so memory stays bounded by the queue.
#[derive(Debug, Default)]
pub(crate) struct BufferPool {
    buffers: Mutex<Vec<Vec<u8>>>,
    limit: usize,
}

impl BufferPool {
    /// A pool keeping at most `limit` buffers.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            buffers: Mutex::default(),
            limit,
        }
    }

    /// A buffer to draw into (empty when there is none).
    pub(crate) fn take(&self) -> Vec<u8> {
        self.buffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default()
    }

    /// Gives a buffer back.
    pub(crate) fn put(&self, buffer: Vec<u8>) {
        let mut buffers = self.buffers.lock().unwrap_or_else(PoisonError::into_inner);
        if buffers.len() < self.limit {
            buffers.push(buffer);
        }
    }
}

/// A background thread running `backends`, fed through a queue of `capacity` jobs.
pub(crate) struct Writer {
    tx: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
    failures: Failures,
    /// Pictures every backend wrote.
    written: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the thread. Encoders on it use a rayon pool of `threads` threads, so that they do
    /// not compete with training for every core.
    pub(crate) fn spawn(
        backends: Vec<Box<dyn VisBackend>>,
        capacity: usize,
        threads: usize,
        pool: Arc<BufferPool>,
    ) -> Result<Self> {
        let (tx, rx) = mpsc::sync_channel(capacity.max(1));
        let failures: Failures = Arc::default();
        let encode_pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("vis-encode-{i}"))
            .build()
            .map_err(|e| Error::WriterStopped(format!("could not start its threads: {e}")))?;
        let shared = Arc::clone(&failures);
        let written = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&written);
        let thread = std::thread::Builder::new()
            .name("vis-writer".into())
            .spawn(move || encode_pool.install(|| run(backends, rx, &shared, &count, &pool)))
            .map_err(|e| Error::WriterStopped(format!("could not start its thread: {e}")))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            failures,
            written,
        })
    }

    /// Pictures every backend has written.
    pub(crate) fn pictures_written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Queues a picture (waiting while the queue is full); returns the failures of earlier
    /// jobs.
    pub(crate) fn add_image(&self, name: &str, picture: Arc<Picture>, step: u64) -> Result<()> {
        self.queue(Job::Image {
            name: name.to_owned(),
            picture,
            step,
        })
    }

    /// Queues a scalar; returns the failures of earlier jobs.
    pub(crate) fn add_scalar(&self, name: &str, value: f64, step: u64) -> Result<()> {
        self.queue(Job::Scalar {
            name: name.to_owned(),
            value,
            step,
        })
    }

    /// Queues scalars; returns the failures of earlier jobs.
    pub(crate) fn add_scalars(
        &self,
        scalars: BTreeMap<String, f64>,
        step: u64,
        file_path: Option<String>,
    ) -> Result<()> {
        self.queue(Job::Scalars {
            scalars,
            step,
            file_path,
        })
    }

    /// Queues the configuration; returns the failures of earlier jobs.
    pub(crate) fn add_config(&self, config: serde_json::Value) -> Result<()> {
        self.queue(Job::Config(config))
    }

    /// Queues `job` and returns the failures recorded before it was queued: a failure always
    /// comes back from a call after the one that queued it (or from `flush`), never from that
    /// call itself, however fast the writer is.
    fn queue(&self, job: Job) -> Result<()> {
        let earlier = self.take_failures();
        let queued = self.send(job);
        earlier.and(queued)
    }

    fn send(&self, job: Job) -> Result<()> {
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| Error::WriterStopped("it was closed".into()))?;
        tx.send(job)
            .map_err(|_| Error::WriterStopped("its thread ended; see earlier errors".into()))
    }

    /// The failures recorded so far, as an error (none: `Ok`).
    pub(crate) fn take_failures(&self) -> Result<()> {
        let failed =
            std::mem::take(&mut *self.failures.lock().unwrap_or_else(PoisonError::into_inner));
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Error::Write(failed))
        }
    }

    /// Hands failures taken by [`take_failures`](Self::take_failures) back, to be reported
    /// first by the next call.
    pub(crate) fn put_back(&self, mut earlier: Vec<WriteFailure>) {
        if earlier.is_empty() {
            return;
        }
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        earlier.append(&mut failures);
        *failures = earlier;
    }

    /// Waits until everything queued so far is written and flushed, then reports failures.
    pub(crate) fn flush(&self) -> Result<()> {
        let (ack_tx, ack_rx) = mpsc::channel();
        self.send(Job::Flush(ack_tx))?;
        ack_rx
            .recv()
            .map_err(|_| Error::WriterStopped("its thread ended while flushing".into()))?;
        self.take_failures()
    }

    /// Writes everything queued, stops the thread and reports every failure.
    pub(crate) fn close(&mut self) -> Result<()> {
        let flushed = if self.tx.is_some() {
            self.flush()
        } else {
            Ok(())
        };
        self.tx = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            return Err(Error::WriterStopped("its thread panicked".into()));
        }
        flushed.and(self.take_failures())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.thread.is_some()
            && let Err(e) = self.close()
        {
            // Nobody is left to return this to: the last chance to say it.
            log::error!("vis: {e}");
        }
    }
}

/// The thread: runs every job on every backend, records what fails.
fn run(
    mut backends: Vec<Box<dyn VisBackend>>,
    rx: Receiver<Job>,
    failures: &Failures,
    written: &AtomicU64,
    pool: &BufferPool,
) {
    let record = |backend: &str, item: String, message: String| {
        failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(WriteFailure {
                backend: backend.to_owned(),
                item,
                message,
            });
    };
    for job in rx {
        if let Job::Flush(ack) = job {
            for b in &mut backends {
                let name = b.name().to_owned();
                if let Err(message) = guarded(|| b.flush()) {
                    record(&name, "its pending output".into(), message);
                }
            }
            let _ = ack.send(());
            continue;
        }
        let mut all_wrote = true;
        for b in &mut backends {
            let name = b.name().to_owned();
            let (item, result) = match &job {
                Job::Image {
                    name: image,
                    picture,
                    step,
                } => (
                    format!("picture '{image}' at step {step}"),
                    guarded(|| b.add_image(image, picture, *step)),
                ),
                Job::Scalar {
                    name: s,
                    value,
                    step,
                } => (
                    format!("scalar '{s}' at step {step}"),
                    guarded(|| b.add_scalar(s, *value, *step)),
                ),
                Job::Scalars {
                    scalars,
                    step,
                    file_path,
                } => (
                    format!("scalars at step {step}"),
                    guarded(|| b.add_scalars(scalars, *step, file_path.as_deref())),
                ),
                Job::Config(config) => ("the config".to_owned(), guarded(|| b.add_config(config))),
                Job::Flush(_) => continue,
            };
            if let Err(message) = result {
                all_wrote = false;
                record(&name, item, message);
            }
        }
        if let Job::Image { picture, .. } = job {
            if all_wrote {
                written.fetch_add(1, Ordering::Relaxed);
            }
            if let Ok(picture) = Arc::try_unwrap(picture) {
                pool.put(picture.into_bytes());
            }
        }
    }
}

/// Write failures of earlier pictures met while a call goes on with its own work: gathered and
/// returned together at the end, so that a reported failure never stops the pictures after it.
#[derive(Debug, Default)]
pub(crate) struct Reported(Vec<WriteFailure>);

impl Reported {
    /// Keeps the write failures `result` reports; passes any other error on.
    pub(crate) fn keep(&mut self, result: Result<()>) -> Result<()> {
        match result {
            Err(Error::Write(failures)) => {
                self.0.extend(failures);
                Ok(())
            }
            other => other,
        }
    }

    /// The call's result: its own error (the gathered failures go back to `writer`, for the
    /// next call to report), else the gathered failures.
    pub(crate) fn finish(self, result: Result<()>, writer: &Writer) -> Result<()> {
        match result {
            Err(e) => {
                writer.put_back(self.0);
                Err(e)
            }
            Ok(()) if self.0.is_empty() => Ok(()),
            Ok(()) => Err(Error::Write(self.0)),
        }
    }
}

/// Runs `f`, turning an error or a panic into a message.
fn guarded(f: impl FnOnce() -> Result<()>) -> std::result::Result<(), String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(panic) => Err(format!("the backend panicked: {}", panic_message(&*panic))),
    }
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}
