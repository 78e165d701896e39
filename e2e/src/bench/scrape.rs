//! A streaming HTTP/1.1 client for `/metrics`: one connection per request (`Connection:
//! close`), chunked bodies decoded on the fly, bytes handed to a sink as they arrive. Nothing is
//! buffered, so a 780 MB scrape costs the benchmark no memory and its timing is the exporter's.

use crate::{Error, IoContext, Result};
use std::{net::SocketAddr, time::Duration};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::Instant,
};

/// One scrape's outcome.
#[derive(Clone, Debug)]
pub struct Fetch {
    /// HTTP status.
    pub status: u16,
    /// Whether the answer was `Content-Encoding: gzip`.
    pub gzipped: bool,
    /// Body bytes as sent (compressed when gzipped), without chunk framing.
    pub body_bytes: u64,
    /// From connecting to the last byte.
    pub elapsed: Duration,
}

/// Longest a single scrape may take (upstream's 100k-pod gzip scrape takes ~16 s unloaded).
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(300);

enum Body {
    Length(u64),
    Chunked { state: Chunk, size_line: Vec<u8> },
    UntilEof,
}

#[derive(Clone, Copy)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd(u8),
    Done,
}

impl Body {
    /// Hands the body bytes in `s` to `sink`; returns the count handed over and whether the
    /// body is complete.
    fn feed(
        &mut self,
        mut s: &[u8],
        sink: &mut dyn FnMut(&[u8]),
    ) -> std::result::Result<(u64, bool), String> {
        let mut given = 0u64;
        match self {
            Body::Length(left) => {
                let take = (*left).min(s.len() as u64);
                sink(&s[..take as usize]);
                *left -= take;
                Ok((take, *left == 0))
            }
            Body::UntilEof => {
                sink(s);
                Ok((s.len() as u64, false))
            }
            Body::Chunked { state, size_line } => {
                while !s.is_empty() {
                    match *state {
                        Chunk::Size => match s.iter().position(|&b| b == b'\n') {
                            Some(i) => {
                                size_line.extend_from_slice(&s[..i]);
                                s = &s[i + 1..];
                                let text = String::from_utf8_lossy(size_line);
                                let hex = text.split(';').next().unwrap_or_default().trim();
                                let n = u64::from_str_radix(hex, 16)
                                    .map_err(|_| format!("bad chunk size line {text:?}"))?;
                                size_line.clear();
                                *state = if n == 0 { Chunk::Done } else { Chunk::Data(n) };
                            }
                            None => {
                                size_line.extend_from_slice(s);
                                s = &[];
                            }
                        },
                        Chunk::Data(n) => {
                            let take = n.min(s.len() as u64);
                            sink(&s[..take as usize]);
                            given += take;
                            s = &s[take as usize..];
                            *state = if n == take { Chunk::DataEnd(2) } else { Chunk::Data(n - take) };
                        }
                        Chunk::DataEnd(k) => {
                            let take = usize::from(k).min(s.len());
                            s = &s[take..];
                            *state = if usize::from(k) == take {
                                Chunk::Size
                            } else {
                                Chunk::DataEnd(k - take as u8)
                            };
                        }
                        Chunk::Done => break,
                    }
                }
                Ok((given, matches!(state, Chunk::Done)))
            }
        }
    }
}

/// `GET path` on `addr`, with `Accept-Encoding: gzip` when `gzip`; body bytes go to `sink`.
/// Fails on a non-200 answer.
pub async fn fetch(addr: SocketAddr, path: &str, gzip: bool, sink: &mut dyn FnMut(&[u8])) -> Result<Fetch> {
    let what = || format!("GET http://{addr}{path}{}", if gzip { " (gzip)" } else { "" });
    let started = Instant::now();
    let work = async {
        let mut stream = TcpStream::connect(addr).await.io(|| format!("connect for {}", what()))?;
        let mut head = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: statefleet-bench\r\n"
        );
        if gzip {
            head.push_str("Accept-Encoding: gzip\r\n");
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.io(|| format!("send {}", what()))?;
        let mut buf = vec![0u8; 1 << 20];
        let mut header = Vec::new();
        let (status, gzipped, mut body, rest) = loop {
            let n = stream.read(&mut buf).await.io(|| format!("read the answer to {}", what()))?;
            if n == 0 {
                return Err(Error::Parse {
                    what: format!("the answer to {}", what()),
                    detail: "closed before the headers ended".into(),
                });
            }
            header.extend_from_slice(&buf[..n]);
            if let Some(end) = header.windows(4).position(|w| w == b"\r\n\r\n") {
                let text = String::from_utf8_lossy(&header[..end]).to_string();
                let mut lines = text.split("\r\n");
                let status: u16 =
                    lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
                let mut gzipped = false;
                let mut body = Body::UntilEof;
                for line in lines {
                    let Some((name, value)) = line.split_once(':') else { continue };
                    let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_ascii_lowercase());
                    match name.as_str() {
                        "content-encoding" => gzipped = value.contains("gzip"),
                        "transfer-encoding" if value.contains("chunked") => {
                            body = Body::Chunked { state: Chunk::Size, size_line: Vec::new() }
                        }
                        "content-length" if !matches!(body, Body::Chunked { .. }) => {
                            body = Body::Length(value.parse().unwrap_or(0))
                        }
                        _ => {}
                    }
                }
                break (status, gzipped, body, header.split_off(end + 4));
            }
        };
        if status != 200 {
            let mut text = rest;
            let _ = stream.read_to_end(&mut text).await;
            return Err(Error::Process {
                what: what(),
                detail: format!("HTTP {status}: {}", String::from_utf8_lossy(&text[..text.len().min(300)])),
            });
        }
        let feed_err = |d: String| Error::Parse { what: format!("the body of {}", what()), detail: d };
        let (mut total, mut done) = body.feed(&rest, sink).map_err(feed_err)?;
        while !done {
            let n = stream.read(&mut buf).await.io(|| format!("read the body of {}", what()))?;
            if n == 0 {
                if matches!(body, Body::UntilEof) {
                    break;
                }
                return Err(feed_err("connection closed before the body ended".into()));
            }
            let (given, end) = body.feed(&buf[..n], sink).map_err(feed_err)?;
            total += given;
            done = end;
        }
        Ok(Fetch { status, gzipped, body_bytes: total, elapsed: started.elapsed() })
    };
    tokio::time::timeout(SCRAPE_TIMEOUT, work).await.map_err(|_| Error::Process {
        what: what(),
        detail: format!("no complete answer within {SCRAPE_TIMEOUT:?}"),
    })?
}

/// A scrape whose body is only counted.
pub async fn timed(addr: SocketAddr, path: &str, gzip: bool) -> Result<Fetch> {
    fetch(addr, path, gzip, &mut |_| {}).await
}

const HEAD: usize = 64;

/// Counts lines of an exposition as it streams by: every sample line, lines starting with
/// given prefixes, and whole lines starting with a capture prefix.
pub struct LineScan {
    prefixes: Vec<&'static [u8]>,
    /// Lines per prefix, in the order given.
    pub counts: Vec<u64>,
    /// Sample lines (not comments, not empty).
    pub series: u64,
    capture: Option<Vec<u8>>,
    /// Lines that started with the capture prefix.
    pub captured: Vec<String>,
    head: Vec<u8>,
    capturing: bool,
}

impl LineScan {
    /// Counts lines starting with each of `prefixes`; keeps lines starting with `capture`.
    pub fn new(prefixes: &[&'static str], capture: Option<&str>) -> Self {
        Self {
            prefixes: prefixes.iter().map(|p| p.as_bytes()).collect(),
            counts: vec![0; prefixes.len()],
            series: 0,
            capture: capture.map(|c| c.as_bytes().to_vec()),
            captured: Vec::new(),
            head: Vec::with_capacity(HEAD),
            capturing: false,
        }
    }

    /// Takes the next bytes of the body.
    pub fn feed(&mut self, mut s: &[u8]) {
        while !s.is_empty() {
            let (part, rest, ended) = match s.iter().position(|&b| b == b'\n') {
                Some(i) => (&s[..i], &s[i + 1..], true),
                None => (s, &[][..], false),
            };
            self.add(part);
            if ended {
                self.end_line();
            }
            s = rest;
        }
    }

    fn add(&mut self, part: &[u8]) {
        if self.capturing {
            self.head.extend_from_slice(part);
            return;
        }
        let take = HEAD.saturating_sub(self.head.len()).min(part.len());
        self.head.extend_from_slice(&part[..take]);
        if let Some(cap) = &self.capture
            && self.head.starts_with(cap)
        {
            self.capturing = true;
            self.head.extend_from_slice(&part[take..]);
        }
    }

    fn end_line(&mut self) {
        if !self.head.is_empty() && self.head[0] != b'#' {
            self.series += 1;
            for (i, p) in self.prefixes.iter().enumerate() {
                if self.head.starts_with(p) {
                    self.counts[i] += 1;
                }
            }
            if self.capturing {
                self.captured.push(String::from_utf8_lossy(&self.head).into_owned());
            }
        }
        self.head.clear();
        self.capturing = false;
    }
}

/// Decompresses `gz` with the system's `gzip -dc` and returns the decompressed size; checks
/// that a gzipped answer really is gzip.
pub async fn gunzip_len(gz: Vec<u8>) -> Result<u64> {
    tokio::task::spawn_blocking(move || {
        use std::{
            io::{Read, Write},
            process::{Command, Stdio},
        };
        let mut child = Command::new("gzip")
            .arg("-dc")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .io(|| "run gzip -dc".into())?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| Error::Process { what: "run gzip -dc".into(), detail: "no stdin".into() })?;
        let writer = std::thread::spawn(move || stdin.write_all(&gz));
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::Process { what: "run gzip -dc".into(), detail: "no stdout".into() })?;
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = stdout.read(&mut buf).io(|| "read gzip -dc's output".into())?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        let _ = writer.join();
        let out = child.wait_with_output().io(|| "wait for gzip -dc".into())?;
        if out.status.success() {
            Ok(total)
        } else {
            Err(Error::Process {
                what: "decompress a gzipped scrape".into(),
                detail: format!("gzip -dc: {}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()),
            })
        }
    })
    .await
    .map_err(|e| Error::Process { what: "decompress a gzipped scrape".into(), detail: e.to_string() })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_decode_across_any_split() {
        let raw = b"5\r\nab\ncd\r\n3;x=1\r\nef\n\r\n0\r\n\r\n";
        for split in 0..raw.len() {
            let mut body = Body::Chunked { state: Chunk::Size, size_line: Vec::new() };
            let mut out = Vec::new();
            let (a, _) = body.feed(&raw[..split], &mut |b| out.extend_from_slice(b)).expect("first half");
            let (b, done) = body.feed(&raw[split..], &mut |b| out.extend_from_slice(b)).expect("second half");
            assert_eq!((out.as_slice(), a + b, done), (&b"ab\ncdef\n"[..], 8, true), "split at {split}");
        }
    }

    #[test]
    fn lines_are_counted_and_captured_across_splits() {
        let text = "# HELP kube_pod_info x\nkube_pod_info{a=\"1\"} 1\nkube_pod_infox 1\nkube_deployment_spec_replicas{namespace=\"n\",deployment=\"d\"} 3\nkube_pod_info{a=\"2\"} 1\n";
        for split in 0..text.len() {
            let mut scan = LineScan::new(&["kube_pod_info{"], Some("kube_deployment_spec_replicas{"));
            scan.feed(&text.as_bytes()[..split]);
            scan.feed(&text.as_bytes()[split..]);
            assert_eq!(scan.counts, vec![2], "split at {split}");
            assert_eq!(scan.series, 4);
            assert_eq!(
                scan.captured,
                vec!["kube_deployment_spec_replicas{namespace=\"n\",deployment=\"d\"} 3"]
            );
        }
    }
}
