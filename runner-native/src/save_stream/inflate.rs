//! One layer turned into its tar on a thread of its own: its blob's bytes come in (from the
//! download, through a bounded channel, or from a file), are decoded by what they are (the
//! core's [`layer_tar::decoding`]), counted against the decompression cap and hashed for
//! the diffID (the core's [`TarCheck`]), and written once, where [`Places`] says. The
//! download thread and the thread that hashes the compressed blob never wait for it except
//! when its channel is full.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tug_core::archive::compression::SNIFF_LEN;
use tug_core::archive::layer_tar::{self, HashedTar, LayerName, LayerTarError, TarCheck};
use tug_core::archive::Compression;

use super::tar_file::{Placed, Places};

/// Chunks (of up to 128 KiB from the transport) a layer's channel holds: what a layer
/// may buffer while its thread catches up.
const CHANNEL_CHUNKS: usize = 4;

/// Bytes decoded per read.
const OUT_BUF: usize = 128 * 1024;

/// A layer being decoded on its thread.
pub struct Inflater {
    tx: Option<SyncSender<Vec<u8>>>,
    handle: Option<JoinHandle<Result<Inflated, InflateError>>>,
    abort: Arc<AtomicBool>,
    /// Compressed bytes handed over so far.
    pub fed: u64,
    /// Time spent waiting for the thread (its channel full).
    pub blocked: Duration,
}

/// A layer's tar, whole: what it hashes to and where it is.
pub struct Inflated {
    pub hashed: HashedTar,
    pub placed: Placed,
    pub stats: Stats,
}

/// Where a layer thread's time went (`-v`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Compressed bytes read.
    pub read: u64,
    /// Waiting for bytes to arrive.
    pub starved: Duration,
    /// Decoding (gzip, zstd; a plain tar's copy).
    pub decode: Duration,
    /// Hashing the tar (diffID).
    pub hash: Duration,
    /// Writing it.
    pub write: Duration,
    /// Whether it streamed in place.
    pub in_place: bool,
}

/// Why a layer's tar was not made.
#[derive(Debug, thiserror::Error)]
pub enum InflateError {
    #[error("{0}")]
    Layer(Box<LayerTarError>),
    #[error("{0}")]
    Output(io::Error),
    #[error("stopped")]
    Aborted,
}

impl Inflater {
    /// A layer whose bytes will be [`Inflater::feed`], `compressed_len` of them.
    pub fn from_channel(layer: LayerName, compressed_len: u64, places: Arc<Places>) -> Inflater {
        let (tx, rx) = sync_channel(CHANNEL_CHUNKS);
        let input = Box::new(ChannelReader::new(rx));
        let mut inflater = Inflater::spawn(layer, compressed_len, places, input);
        inflater.tx = Some(tx);
        inflater
    }

    /// A layer whose blob is the file `file`.
    pub fn from_file(layer: LayerName, file: File, places: Arc<Places>) -> io::Result<Inflater> {
        let len = file.metadata()?.len();
        let input = Box::new(TimedReader {
            inner: file,
            waited: Duration::ZERO,
        });
        Ok(Inflater::spawn(layer, len, places, input))
    }

    fn spawn(
        layer: LayerName,
        compressed_len: u64,
        places: Arc<Places>,
        input: Box<dyn Input>,
    ) -> Inflater {
        let abort = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&abort);
        let handle = std::thread::Builder::new()
            .name("tug-inflate".into())
            .spawn(move || run(layer, compressed_len, &places, input, &stop))
            .ok();
        Inflater {
            tx: None,
            handle,
            abort,
            fed: 0,
            blocked: Duration::ZERO,
        }
    }

    /// Hands over the next bytes of the blob; `false` when the thread stopped (its error
    /// comes from [`Inflater::join`]).
    pub fn feed(&mut self, data: Vec<u8>) -> bool {
        let n = data.len() as u64;
        let Some(tx) = self.tx.as_ref() else {
            return false;
        };
        let t = Instant::now();
        if tx.send(data).is_err() {
            return false;
        }
        self.blocked += t.elapsed();
        self.fed += n;
        true
    }

    /// No more bytes: the blob is whole.
    pub fn close(&mut self) {
        self.tx = None;
    }

    /// Waits for the thread's result.
    pub fn join(mut self) -> Result<Inflated, InflateError> {
        self.tx = None;
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(InflateError::Output(io::Error::other(
                "a layer's thread panicked",
            ))),
            None => Err(InflateError::Output(io::Error::other(
                "cannot start a thread to decode a layer",
            ))),
        }
    }
}

impl Drop for Inflater {
    /// Stops the thread and waits for it: it writes nothing after this.
    fn drop(&mut self) {
        self.abort.store(true, Ordering::Relaxed);
        self.tx = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// What a layer thread reads, with the time it waited for bytes.
trait Input: Read + Send {
    fn waited(&self) -> Duration;
}

/// Reads the chunks sent to a layer's channel; ends when the sender is dropped.
struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
    waited: Duration,
}

impl ChannelReader {
    fn new(rx: Receiver<Vec<u8>>) -> ChannelReader {
        ChannelReader {
            rx,
            chunk: Vec::new(),
            pos: 0,
            waited: Duration::ZERO,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            let t = Instant::now();
            let next = self.rx.recv();
            self.waited += t.elapsed();
            match next {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Input for ChannelReader {
    fn waited(&self) -> Duration {
        self.waited
    }
}

/// A file as input (its reads count as waiting: they are I/O, not decoding).
struct TimedReader {
    inner: File,
    waited: Duration,
}

impl Read for TimedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let t = Instant::now();
        let n = self.inner.read(buf);
        self.waited += t.elapsed();
        n
    }
}

impl Input for TimedReader {
    fn waited(&self) -> Duration {
        self.waited
    }
}

/// Counts the compressed bytes read and remembers how long reading waited.
struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// The thread: sniff, decode, check, write.
fn run(
    layer: LayerName,
    compressed_len: u64,
    places: &Arc<Places>,
    mut input: Box<dyn Input>,
    abort: &AtomicBool,
) -> Result<Inflated, InflateError> {
    let fail = |e: LayerTarError| InflateError::Layer(Box::new(e));
    let unknown = TarCheck::pending(layer.clone(), Compression::None);
    let mut head = Vec::with_capacity(SNIFF_LEN);
    (&mut input)
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| fail(unknown.unreadable(e.to_string())))?;
    let compression = layer_tar::decoding(&head).map_err(|problem| fail(unknown.fail(problem)))?;
    let check = match places.expected(&layer.digest) {
        Some(diff_id) => TarCheck::new(layer.clone(), diff_id, compression),
        None => TarCheck::pending(layer.clone(), compression),
    };
    let mut check = check.capped(compressed_len);
    let waited_before = input.waited();
    let mut source = Counted {
        inner: io::Cursor::new(head).chain(ByRef(&mut input)),
        read: 0,
    };
    let mut stats = Stats::default();
    let mut place = places.place(&layer.digest).map_err(InflateError::Output)?;
    stats.in_place = place.in_place();
    let result = (|| {
        let input = BufReader::with_capacity(64 * 1024, &mut source);
        let mut decoder = crate::decode::decoder(compression, input)
            .map_err(|e| fail(check.unreadable(e.to_string())))?;
        let mut buf = vec![0u8; OUT_BUF];
        loop {
            if abort.load(Ordering::Relaxed) {
                return Err(InflateError::Aborted);
            }
            let t = Instant::now();
            let n = match decoder.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(fail(check.unreadable(e.to_string()))),
            };
            stats.decode += t.elapsed();
            let t = Instant::now();
            check.feed(&buf[..n]).map_err(InflateError::Layer)?;
            stats.hash += t.elapsed();
            let t = Instant::now();
            place.write(&buf[..n]).map_err(InflateError::Output)?;
            stats.write += t.elapsed();
        }
        Ok(())
    })();
    stats.read = source.read;
    drop(source);
    stats.starved = input.waited().saturating_sub(waited_before);
    stats.decode = stats.decode.saturating_sub(stats.starved);
    if let Err(e) = result {
        place.abandon();
        return Err(e);
    }
    let placed = place.close().map_err(InflateError::Output)?;
    Ok(Inflated {
        hashed: check.hashed(),
        placed,
        stats,
    })
}

/// `&mut R` as an owned reader (for `chain`).
struct ByRef<'a, R: ?Sized>(&'a mut R);

impl<R: Read + ?Sized> Read for ByRef<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}
