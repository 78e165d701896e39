//! Large scrapes written on several cores, in order.
//!
//! A scrape is cut into pieces (one family of up to [`PIECE_OBJECTS`] objects, see
//! [`crate::store::ResourceStore::pieces`]); workers expand the pieces, and gzip each one as a
//! member of its own when the client asked for gzip, while the calling thread emits the results
//! in piece order. A series of gzip members is one valid gzip stream (RFC 1952, section 2.2)
//! that decompresses to the concatenation; Go's (so Prometheus'), curl's and zlib's readers
//! accept it. Workers never run more than [`AHEAD`] pieces per worker ahead of the emitter, so
//! a slow client holds a bounded amount of memory.

use crate::arena::{ScrapeLease, ThreadArena};
use bytes::Bytes;
use flate2::{Compression, write::GzEncoder};
use std::{
    collections::BTreeMap,
    io::{self, Write},
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
        mpsc,
    },
};

/// Objects per piece.
pub const PIECE_OBJECTS: usize = 1024;

/// Pieces a worker may finish ahead of the emitter.
const AHEAD: usize = 4;

/// Threads for a scrape: the cores there are, at most four.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4)
}

/// One complete gzip member holding `data`, written into `out`.
pub fn gzip_member(data: &[u8], out: Vec<u8>) -> io::Result<Vec<u8>> {
    let mut gz = GzEncoder::new(out, Compression::fast());
    gz.write_all(data)?;
    gz.finish()
}

/// The buffers of one scrape, handed back when the bytes made from them have been sent.
///
/// A fresh buffer per piece would grow by reallocation and, for large pieces, take freshly
/// mapped pages that the kernel must fault in and zero: about as much work again as writing the
/// piece. Recycled buffers keep their capacity and their pages.
///
/// The pool lives until the last of its bytes is sent, and holds a [`ScrapeLease`] that long,
/// so that the scrape arena is emptied only after the client has everything.
pub struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
    capacity: usize,
    keep: usize,
    _lease: ScrapeLease,
}

impl BufferPool {
    /// A pool whose new buffers start at `capacity` bytes and that keeps at most `keep` idle.
    pub fn new(capacity: usize, keep: usize) -> Arc<Self> {
        Arc::new(Self { free: Mutex::new(Vec::new()), capacity, keep, _lease: ScrapeLease::new() })
    }

    /// An empty buffer, recycled when one is idle.
    pub fn take(&self) -> Vec<u8> {
        self.lock().pop().unwrap_or_else(|| Vec::with_capacity(self.capacity))
    }

    /// Returns a buffer for reuse.
    pub fn put(&self, mut buf: Vec<u8>) {
        buf.clear();
        let mut free = self.lock();
        if free.len() < self.keep {
            free.push(buf);
        }
    }

    /// Bytes over `buf` that return it to the pool once the last clone is dropped.
    pub fn bytes(self: &Arc<Self>, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Pooled { buf, pool: self.clone() })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Pooled {
    buf: Vec<u8>,
    pool: Arc<BufferPool>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.put(std::mem::take(&mut self.buf));
    }
}

/// Runs `work` on every job on up to `workers` threads and hands the results to `emit` in job
/// order, on the calling thread. Stops at the first error of `work` or `emit` and returns it.
///
/// Worker threads allocate from the scrape arena ([`crate::arena`]); the caller decides for its
/// own thread, which runs every job when there is one worker.
pub fn ordered<J, W>(
    jobs: &[J],
    workers: usize,
    work: W,
    emit: &mut dyn FnMut(Vec<u8>) -> io::Result<()>,
) -> io::Result<()>
where
    J: Sync,
    W: Fn(&J) -> io::Result<Vec<u8>> + Sync,
{
    if workers <= 1 || jobs.len() <= 1 {
        for job in jobs {
            emit(work(job)?)?;
        }
        return Ok(());
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    // How many results were emitted, for the workers' look-ahead limit.
    let emitted = (Mutex::new(0usize), Condvar::new());
    let window = workers * AHEAD;
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::sync_channel::<(usize, io::Result<Vec<u8>>)>(window);
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let (next, stop, emitted, work) = (&next, &stop, &emitted, &work);
            scope.spawn(move || {
                let _arena = ThreadArena::enter();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(k) else { return };
                    {
                        let (count, turn) = emitted;
                        let mut count = count.lock().unwrap_or_else(|e| e.into_inner());
                        while k >= *count + window && !stop.load(Ordering::Acquire) {
                            count = turn.wait(count).unwrap_or_else(|e| e.into_inner());
                        }
                    }
                    if stop.load(Ordering::Acquire) || done_tx.send((k, work(job))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let result = emit_in_order(done_rx, jobs.len(), &emitted, emit);
        if result.is_err() {
            stop.store(true, Ordering::Release);
            emitted.1.notify_all();
        }
        result
    })
}

/// Receives numbered results, emits them in order and counts them for the workers.
fn emit_in_order(
    done_rx: mpsc::Receiver<(usize, io::Result<Vec<u8>>)>,
    total: usize,
    emitted: &(Mutex<usize>, Condvar),
    emit: &mut dyn FnMut(Vec<u8>) -> io::Result<()>,
) -> io::Result<()> {
    let mut waiting = BTreeMap::new();
    let mut next = 0;
    while next < total {
        let Ok((k, result)) = done_rx.recv() else {
            return Err(io::Error::other("a scrape worker stopped"));
        };
        waiting.insert(k, result);
        while let Some(result) = waiting.remove(&next) {
            emit(result?)?;
            next += 1;
            let (count, turn) = emitted;
            *count.lock().unwrap_or_else(|e| e.into_inner()) = next;
            turn.notify_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::MultiGzDecoder;
    use std::io::Read;

    fn jobs(n: usize) -> Vec<usize> {
        (0..n).collect()
    }

    /// Uneven work, so results finish out of order.
    fn slow_piece(k: &usize) -> io::Result<Vec<u8>> {
        if k % 7 == 3 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        Ok(format!("piece {k}\n").repeat(k % 5 + 1).into_bytes())
    }

    #[test]
    fn results_are_emitted_in_job_order_for_any_worker_count() {
        let expected: Vec<u8> = jobs(200).iter().flat_map(|k| slow_piece(k).expect("piece")).collect();
        for workers in [1, 2, 3, 4] {
            let mut out = Vec::new();
            ordered(&jobs(200), workers, slow_piece, &mut |b| {
                out.extend_from_slice(&b);
                Ok(())
            })
            .expect("runs");
            assert!(out == expected, "{workers} workers");
        }
    }

    #[test]
    fn gzip_members_concatenate_to_one_valid_stream() {
        let mut out = Vec::new();
        let gz = |k: &usize| gzip_member(&slow_piece(k)?, Vec::new());
        ordered(&jobs(50), 2, gz, &mut |b| {
            out.extend_from_slice(&b);
            Ok(())
        })
        .expect("runs");
        let mut back = Vec::new();
        MultiGzDecoder::new(&out[..]).read_to_end(&mut back).expect("valid multi-member gzip");
        let expected: Vec<u8> = jobs(50).iter().flat_map(|k| slow_piece(k).expect("piece")).collect();
        assert!(back == expected);
        let empty = gzip_member(b"", Vec::new()).expect("empty member");
        MultiGzDecoder::new(&empty[..]).read_to_end(&mut back).expect("an empty member is valid gzip");
    }

    #[test]
    fn a_failing_emit_stops_the_workers_early() {
        let done = AtomicUsize::new(0);
        let work = |k: &usize| {
            done.fetch_add(1, Ordering::Relaxed);
            slow_piece(k)
        };
        let mut emitted = 0;
        let err = ordered(&jobs(10_000), 2, work, &mut |_| {
            emitted += 1;
            if emitted == 3 { Err(io::Error::new(io::ErrorKind::BrokenPipe, "client gone")) } else { Ok(()) }
        })
        .expect_err("emit fails");
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert!(done.load(Ordering::Relaxed) < 100, "workers stopped within the look-ahead window");
    }

    #[test]
    fn pooled_bytes_come_back_when_dropped() {
        let pool = BufferPool::new(16, 2);
        let mut buf = pool.take();
        buf.extend_from_slice(&[7; 1000]);
        let bytes = pool.bytes(buf);
        let clone = bytes.clone();
        drop(bytes);
        assert_eq!(clone.len(), 1000, "a clone keeps the bytes alive");
        drop(clone);
        let again = pool.take();
        assert!(again.is_empty() && again.capacity() >= 1000, "the grown buffer is reused");
        for _ in 0..5 {
            pool.put(vec![0; 8]);
        }
        assert_eq!(pool.lock().len(), 2, "at most `keep` idle buffers are held");
    }

    #[test]
    fn a_failing_job_is_reported() {
        let work = |k: &usize| if *k == 5 { Err(io::Error::other("job 5")) } else { slow_piece(k) };
        let err = ordered(&jobs(20), 2, work, &mut |_| Ok(())).expect_err("job fails");
        assert_eq!(err.to_string(), "job 5");
    }
}
