//! One `/metrics` response body: a snapshot of the store written as chunks, in order.
//!
//! The snapshot is cut into pieces ([`ResourceStore::pieces`]) that [`parallel::ordered`]
//! expands (and gzips, one member per piece) on several cores; small results are gathered into
//! chunks of [`CHUNK`] bytes and large ones passed on as they are. The server and the render
//! benchmark both write through [`write`], so the benchmark measures what a client receives.

use crate::{
    parallel,
    store::{Piece, Rendered, ResourceStore},
};
use bytes::Bytes;
use std::{io, sync::Arc};

/// Size of the chunks small pieces are gathered into.
pub const CHUNK: usize = 256 * 1024;

/// Each selected resource with the objects it held when the scrape began.
pub type Snapshot = Vec<(Arc<ResourceStore>, Vec<Rendered>)>;

/// How the body is encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Encoding {
    /// A series of gzip members.
    pub gzip: bool,
    /// OpenMetrics: end with `# EOF`.
    pub eof: bool,
}

/// What a scrape worker writes.
enum Job {
    /// A piece of the `i`-th resource of the snapshot.
    Piece(usize, Piece),
    /// OpenMetrics' last line.
    Eof,
    /// Nothing (an empty gzip member).
    Empty,
}

/// Writes `snapshot` on up to `workers` threads, handing the body to `send` in order. Stops at
/// the first error `send` returns (the client went away).
pub fn write(
    snapshot: &Snapshot,
    encoding: Encoding,
    workers: usize,
    send: &mut dyn FnMut(Bytes) -> io::Result<()>,
) -> io::Result<()> {
    let mut jobs: Vec<Job> = snapshot
        .iter()
        .enumerate()
        .flat_map(|(i, (store, objects))| {
            store.pieces(objects.len(), parallel::PIECE_OBJECTS).into_iter().map(move |p| Job::Piece(i, p))
        })
        .collect();
    if encoding.eof {
        jobs.push(Job::Eof);
    }
    if encoding.gzip && jobs.is_empty() {
        // An empty body is not gzip: send one empty member.
        jobs.push(Job::Empty);
    }
    // Enough idle buffers for the workers' look-ahead and the response channel.
    let pool = parallel::BufferPool::new(64 * 1024, 32);
    let work = |job: &Job| -> io::Result<Vec<u8>> {
        let mut buf = pool.take();
        match job {
            Job::Piece(i, piece) => {
                let (store, objects) = &snapshot[*i];
                store.write_piece(piece, objects, &mut buf);
            }
            Job::Eof => buf.extend_from_slice(b"# EOF\n"),
            Job::Empty => {}
        }
        if !encoding.gzip {
            return Ok(buf);
        }
        let member = parallel::gzip_member(&buf, pool.take());
        pool.put(buf);
        member
    };
    let mut sink = ChunkSink { send, buf: pool.take(), pool: pool.clone() };
    parallel::ordered(&jobs, workers, work, &mut |bytes| sink.send(bytes))?;
    sink.flush()
}

/// Collects bytes into chunks and hands them on.
struct ChunkSink<'a> {
    send: &'a mut dyn FnMut(Bytes) -> io::Result<()>,
    buf: Vec<u8>,
    pool: Arc<parallel::BufferPool>,
}

impl ChunkSink<'_> {
    /// Passes large pieces on as they are and gathers small ones into chunks, so the client
    /// neither waits for tiny writes nor costs a copy of the big ones.
    fn send(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        if bytes.len() >= CHUNK / 4 {
            self.flush()?;
            let chunk = self.pool.bytes(bytes);
            return (self.send)(chunk);
        }
        self.buf.extend_from_slice(&bytes);
        self.pool.put(bytes);
        if self.buf.len() >= CHUNK { self.flush() } else { Ok(()) }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = self.pool.bytes(std::mem::replace(&mut self.buf, self.pool.take()));
        (self.send)(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Part, Store};
    use flate2::read::MultiGzDecoder;
    use std::io::Read;

    /// A resource of `n` objects with two families, each object one line per family.
    fn snapshot(n: usize) -> (Store, Snapshot) {
        let store = ResourceStore::new("pods", vec![("a", "# A\n".into()), ("b", "# B\n".into())]);
        let part = Arc::new(Part::default());
        for i in 0..n {
            let tails = format!("}} {i}\n,x=\"{i}\"}} 1\n");
            let first = tails.find('\n').map_or(0, |at| at + 1) as u32;
            part.apply(
                &i.to_string(),
                Rendered::new(b"k=\"v\"", tails.as_bytes(), &[first, tails.len() as u32]),
            );
        }
        store.set_parts(vec![part]);
        let store = Arc::new(store);
        let snapshot = vec![(store.clone(), store.snapshot())];
        (Store::new(vec![store]), snapshot)
    }

    fn body(snapshot: &Snapshot, encoding: Encoding, workers: usize) -> (Vec<u8>, usize) {
        let (mut out, mut chunks) = (Vec::new(), 0);
        write(snapshot, encoding, workers, &mut |b| {
            out.extend_from_slice(&b);
            chunks += 1;
            Ok(())
        })
        .expect("written");
        (out, chunks)
    }

    #[test]
    fn the_body_is_the_store_exposition_for_any_worker_count() {
        let (store, snapshot) = snapshot(20_000);
        let expected = store.exposition();
        for workers in [1, 2, 4] {
            let (plain, chunks) = body(&snapshot, Encoding::default(), workers);
            assert!(plain == expected, "{workers} workers");
            assert!(chunks > 1, "large bodies go out in several chunks");
            let (gz, _) = body(&snapshot, Encoding { gzip: true, eof: true }, workers);
            let mut back = Vec::new();
            MultiGzDecoder::new(&gz[..]).read_to_end(&mut back).expect("valid gzip");
            assert!(back.strip_suffix(b"# EOF\n") == Some(&expected[..]));
        }
    }

    #[test]
    fn an_empty_gzip_body_is_one_empty_member() {
        let (_, mut snapshot) = snapshot(0);
        snapshot[0].1.clear();
        let (gz, _) = body(&snapshot, Encoding { gzip: true, eof: false }, 2);
        let mut back = Vec::new();
        MultiGzDecoder::new(&gz[..]).read_to_end(&mut back).expect("valid gzip");
        assert!(!gz.is_empty() && back.is_empty());
    }

    #[test]
    fn a_failing_send_stops_the_scrape() {
        let (_, snapshot) = snapshot(5000);
        let mut sent = 0;
        let err = write(&snapshot, Encoding::default(), 2, &mut |_| {
            sent += 1;
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "client gone"))
        })
        .expect_err("send fails");
        assert_eq!((err.kind(), sent), (io::ErrorKind::BrokenPipe, 1));
    }
}
