//! A loopback TCP forwarder in front of the API server that counts the bytes the API server
//! sends, so each exporter's "API server bytes received" is measured the same way (TLS records
//! included) whatever its client reads with. The serving certificate names 127.0.0.1, so the
//! exporters connect to the forwarder exactly as to the API server.

use crate::{IoContext, Result};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// A running forwarder; stops accepting on drop (open connections end with their client).
pub struct CountingProxy {
    addr: SocketAddr,
    received: Arc<AtomicU64>,
    accept: JoinHandle<()>,
}

impl CountingProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.io(|| "bind the counting proxy".into())?;
        let addr = listener.local_addr().io(|| "read the counting proxy's port".into())?;
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else { return };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = async {
                        let _ = tokio::io::copy(&mut cr, &mut sw).await;
                        let _ = sw.shutdown().await;
                    };
                    let down = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        while let Ok(n) = sr.read(&mut buf).await {
                            if n == 0 || cw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                            counter.fetch_add(n as u64, Ordering::Relaxed);
                        }
                        let _ = cw.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
            }
        });
        Ok(Self { addr, received, accept })
    }

    /// Bytes the API server has sent through this forwarder.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Writes a copy of `kubeconfig` whose server is this forwarder (`server` is the API
    /// server URL in it) to `dir`, and returns its path.
    pub fn kubeconfig(&self, kubeconfig: &Path, server: &str, dir: &Path) -> Result<PathBuf> {
        let text = std::fs::read_to_string(kubeconfig).io(|| format!("read {}", kubeconfig.display()))?;
        let path = dir.join(format!("proxy-{}.kubeconfig", self.addr.port()));
        std::fs::write(&path, text.replace(server, &format!("https://{}", self.addr)))
            .io(|| format!("write {}", path.display()))?;
        Ok(path)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
