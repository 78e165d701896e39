//! The metrics port (`/metrics`, `/healthz`, `/livez`, landing page) and the telemetry port
//! (`/metrics`, `/healthz`, `/livez`, `/readyz`).
//!
//! A scrape takes a snapshot of `Arc`s under short read locks, then a blocking task copies the
//! bytes (gzipping them when asked) into chunks streamed to the client, so scrapes never hold a
//! lock that a watcher needs and never block each other.

use crate::{
    arena::{ScrapeLease, ThreadArena},
    parallel,
    runtime::Current,
    scrape,
    telemetry::{HandlerLabels, Metrics, ResourceLabels, encode_registry},
    watch,
};
use axum::{
    Router,
    body::Body,
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::{any, get},
};
use bytes::Bytes;
use prometheus_client::registry::Registry;
use std::{convert::Infallible, sync::Arc, time::Instant};

/// Content type of the main `/metrics`.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the handlers share.
pub struct AppState {
    /// The runtime to serve from.
    pub current: Arc<Current>,
    /// Self-metrics.
    pub metrics: Metrics,
    /// The telemetry registry.
    pub registry: Arc<Registry>,
    /// gzip allowed (`--enable-gzip-encoding`).
    pub enable_gzip: bool,
    /// For `/livez`; `None` in tests.
    pub client: Option<kube::Client>,
}

/// Routes of the metrics port.
pub fn metrics_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", any(serve_metrics))
        .route("/healthz", get(|| async { "OK" }))
        .route("/livez", get(livez))
        .route(
            "/",
            get(|| async { landing("Metrics for Kubernetes' state", &["metrics", "healthz", "livez"]) }),
        )
        .with_state(state)
}

/// Routes of the telemetry port.
pub fn telemetry_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(serve_telemetry))
        .route("/healthz", get(|| async { "OK" }))
        .route("/livez", get(|| async { "OK" }))
        .route("/readyz", get(readyz))
        .route(
            "/",
            get(|| async {
                landing("Self-metrics for statefleet-exporter", &["metrics", "healthz", "livez", "readyz"])
            }),
        )
        .with_state(state)
}

fn landing(subtitle: &str, links: &[&str]) -> Html<String> {
    let items: String = links.iter().map(|l| format!("<li><a href=\"{l}\">{l}</a></li>\n")).collect();
    Html(format!(
        "<!DOCTYPE html>\n<html><head><title>statefleet-exporter</title></head><body>\n<h1>statefleet-exporter</h1>\n\
         <h2>{subtitle}</h2>\n<p>Version: {}</p>\n<ul>\n{items}</ul>\n</body></html>\n",
        env!("CARGO_PKG_VERSION")
    ))
}

async fn livez(State(state): State<Arc<AppState>>) -> Response {
    match &state.client {
        Some(client) if !watch::apiserver_live(client).await => {
            (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
        }
        _ => "OK".into_response(),
    }
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.current.get().store.settled() {
        "OK".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
    }
}

async fn serve_telemetry(State(state): State<Arc<AppState>>) -> Response {
    let runtime = state.current.get();
    for r in runtime.store.resources() {
        let (objects, series) = r.counts();
        let labels = ResourceLabels { resource: r.name().into() };
        state.metrics.objects.get_or_create(&labels).set(objects as i64);
        state.metrics.series.get_or_create(&labels).set(series as i64);
    }
    let body = encode_registry(&state.registry);
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
        .into_response()
}

/// `resources=` and `exclude_resources=` query parameters (repeatable, comma-separated).
#[derive(Debug, Default, PartialEq)]
pub struct ResourceQuery {
    include: Option<Vec<String>>,
    exclude: Vec<String>,
}

impl ResourceQuery {
    /// Parses a raw query string.
    pub fn parse(query: Option<&str>) -> Self {
        let mut q = ResourceQuery::default();
        for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let values = value.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
            match key {
                "resources" => q.include.get_or_insert_with(Vec::new).extend(values),
                "exclude_resources" => q.exclude.extend(values),
                _ => {}
            }
        }
        q
    }

    fn keeps(&self, resource: &str) -> bool {
        self.include.as_ref().is_none_or(|i| i.iter().any(|r| r == resource))
            && !self.exclude.iter().any(|r| r == resource)
    }
}

/// The exposition format chosen from the `Accept` header, as upstream negotiates it.
#[derive(Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text 0.0.4.
    Text,
    /// OpenMetrics text: the same bytes plus a final `# EOF`, under this content type.
    OpenMetrics(String),
}

/// One `Accept` clause: its `q`, media type and parameters.
type AcceptClause<'a> = (f64, &'a str, Vec<(&'a str, &'a str)>);

/// Picks the format: clauses ordered by `q` (highest first), the first `text/plain` (version empty
/// or 0.0.4) or `application/openmetrics-text` (version empty, 0.0.1 or 1.0.0) wins. The
/// OpenMetrics `escaping` is the last valid one among the clauses looked at, else `underscores`.
pub fn negotiate(headers: &HeaderMap) -> Format {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut clauses: Vec<AcceptClause<'_>> = accept
        .split(',')
        .map(|clause| {
            let mut parts = clause.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default();
            let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
            let q = params.iter().find(|(k, _)| *k == "q").and_then(|(_, v)| v.parse().ok()).unwrap_or(1.0);
            (q, media, params)
        })
        .collect();
    clauses.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut escaping = "underscores";
    for (_, media, params) in &clauses {
        let param = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        if let Some(e) =
            param("escaping").filter(|e| ["allow-utf-8", "underscores", "dots", "values"].contains(e))
        {
            escaping = e;
        }
        let version = param("version").unwrap_or_default();
        match *media {
            "text/plain" if matches!(version, "" | "0.0.4") => return Format::Text,
            "application/openmetrics-text" if matches!(version, "" | "0.0.1" | "1.0.0") => {
                let version = if version == "1.0.0" { "1.0.0" } else { "0.0.1" };
                return Format::OpenMetrics(format!(
                    "application/openmetrics-text; version={version}; charset=utf-8; escaping={escaping}"
                ));
            }
            _ => {}
        }
    }
    Format::Text
}

/// Whether the client accepts gzip, as upstream decides: the first `gzip` token wins.
pub fn wants_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == "gzip" || t.starts_with("gzip;"))
}

async fn serve_metrics(
    State(state): State<Arc<AppState>>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let query = ResourceQuery::parse(query.as_deref());
    let runtime = state.current.get();
    let gzip = state.enable_gzip && wants_gzip(&headers);
    let format = negotiate(&headers);
    let eof = matches!(format, Format::OpenMetrics(_));
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let histogram = state
        .metrics
        .scrape_duration
        .get_or_create(&HandlerLabels { handler: "metrics".into(), method: method.as_str().to_lowercase() })
        .clone();
    tokio::task::spawn_blocking(move || {
        // The snapshot and the buffers are the scrape's (see `arena`); the lease outlives the
        // snapshot, so that the last scrape's purge comes after it is freed.
        let _lease = ScrapeLease::new();
        let _arena = ThreadArena::enter();
        let snapshot: scrape::Snapshot = runtime
            .store
            .resources()
            .iter()
            .filter(|r| query.keeps(r.name()))
            .map(|r| (r.clone(), r.snapshot()))
            .collect();
        let encoding = scrape::Encoding { gzip, eof };
        let mut send = |chunk: Bytes| {
            tx.blocking_send(chunk)
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
        };
        // A client that went away is not an error of ours; the duration is recorded either way.
        let _ = scrape::write(&snapshot, encoding, parallel::default_workers(), &mut send);
        histogram.observe(started.elapsed().as_secs_f64());
    });
    let stream =
        futures::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx)) },
        );
    let mut response = Response::new(Body::from_stream(stream));
    let content_type = match &format {
        Format::Text => HeaderValue::from_static(TEXT_CONTENT_TYPE),
        Format::OpenMetrics(ct) => {
            HeaderValue::from_str(ct).unwrap_or_else(|_| HeaderValue::from_static(TEXT_CONTENT_TYPE))
        }
    };
    response.headers_mut().insert(header::CONTENT_TYPE, content_type);
    if gzip {
        response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_query_includes_then_excludes() {
        let q = ResourceQuery::parse(Some("resources=pods,nodes&exclude_resources=nodes"));
        assert!(q.keeps("pods"));
        assert!(!q.keeps("nodes"));
        assert!(!q.keeps("deployments"));
        assert!(!ResourceQuery::parse(Some("resources=")).keeps("pods"));
        assert!(ResourceQuery::parse(None).keeps("pods"));
    }

    #[test]
    fn openmetrics_is_negotiated_like_upstream() {
        let accept = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, HeaderValue::from_static(v));
            negotiate(&h)
        };
        // Prometheus 3's default scrape Accept header.
        let prometheus3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert_eq!(
            accept(prometheus3),
            Format::OpenMetrics(
                "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8".into()
            )
        );
        assert_eq!(accept("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"), Format::Text);
        assert_eq!(
            accept("application/openmetrics-text"),
            Format::OpenMetrics(
                "application/openmetrics-text; version=0.0.1; charset=utf-8; escaping=underscores".into()
            )
        );
        assert_eq!(accept("*/*"), Format::Text);
        assert_eq!(negotiate(&HeaderMap::new()), Format::Text);
    }

    #[test]
    fn gzip_is_chosen_like_upstream() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("deflate, gzip;q=0.5"));
        assert!(wants_gzip(&h));
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("br"));
        assert!(!wants_gzip(&h));
    }
}
