//! The operator's HTTP endpoints: `/metrics` on the metrics port; `/healthz` (the process runs)
//! and `/readyz` (it reached the API server and runs the controller or waits as a standby) on
//! the health port.

use crate::metrics::encode_registry;
use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use prometheus_client::registry::Registry;
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

/// Readiness shared between `main` and the health endpoint.
#[derive(Debug, Default)]
pub struct Health {
    ready: AtomicBool,
}

impl Health {
    /// Marks the process ready (or not).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Whether the process is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

/// `GET /metrics` in the OpenMetrics text format.
pub fn metrics_router(registry: Arc<Registry>) -> Router {
    Router::new().route("/metrics", get(metrics)).with_state(registry)
}

async fn metrics(State(registry): State<Arc<Registry>>) -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        encode_registry(&registry),
    )
}

/// `GET /healthz` and `GET /readyz`.
pub fn health_router(health: Arc<Health>) -> Router {
    Router::new().route("/healthz", get(|| async { "ok" })).route("/readyz", get(readyz)).with_state(health)
}

async fn readyz(State(health): State<Arc<Health>>) -> impl IntoResponse {
    if health.is_ready() { (StatusCode::OK, "ok") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Metrics, PREFIX};
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::{TcpListener, TcpStream},
    };

    /// Serves `router` on a free port and sends one `GET path`; returns the raw response.
    async fn get_once(router: Router, path: &str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let addr = listener.local_addr().expect("bound");
        let server = tokio::spawn(async move { axum::serve(listener, router).await });
        let mut stream = TcpStream::connect(addr).await.expect("connects");
        let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("writes");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("reads");
        server.abort();
        response
    }

    #[tokio::test]
    async fn metrics_are_served_in_openmetrics_text() {
        let mut registry = Registry::with_prefix(PREFIX);
        let metrics = Metrics::register(&mut registry);
        metrics.write("apply", "Service");
        let response = get_once(metrics_router(Arc::new(registry)), "/metrics").await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.contains("application/openmetrics-text"), "{response}");
        assert!(response.contains("statefleet_operator_writes_total{verb=\"apply\",kind=\"Service\"} 1"));
    }

    #[tokio::test]
    async fn readyz_follows_readiness_and_healthz_is_always_ok() {
        let health = Arc::new(Health::default());
        assert!(get_once(health_router(health.clone()), "/readyz").await.starts_with("HTTP/1.1 503"));
        assert!(get_once(health_router(health.clone()), "/healthz").await.starts_with("HTTP/1.1 200"));
        health.set_ready(true);
        assert!(get_once(health_router(health), "/readyz").await.starts_with("HTTP/1.1 200"));
    }
}
