//! The only module that talks to the API server: one long-lived watcher task per (resource,
//! namespace), the StatefulSet lookups of autosharding, and the liveness probe.
//!
//! A watcher lists (a streaming list, or pages when the API server refuses one), then watches.
//! Its `Init`/`InitApply`/`InitDone` events build a fresh set that replaces the old one
//! atomically, which is how a relist after 410 Gone or any other error leaves no stale and no
//! duplicate series. `Apply`/`Delete` update single objects.

use crate::{
    resources::{Kind, Renderer, ScopeApi},
    shard::ShardFilter,
    store::{Part, Relist},
    telemetry::{Metrics, ResourceLabels},
};
use futures::StreamExt;
use k8s_openapi::api::{apps::v1::StatefulSet, core::v1::Pod};
use kube::{
    Api, Client,
    runtime::watcher::{self, Event},
};
use std::{sync::Arc, time::Duration};
use tracing::{Instrument, debug, info, warn};

/// Errors of the API calls made outside the watchers.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// Reading the exporter's own pod or StatefulSet failed.
    #[error("failed to {what}: {source}")]
    Api {
        /// What was being read.
        what: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The pod is not owned by a StatefulSet or its name has no ordinal.
    #[error("autosharding: {0}")]
    NotAStatefulSetPod(String),
}

/// Where and how a watcher lists.
#[derive(Clone, Debug)]
pub struct WatchSpec {
    /// Namespace, or `None` for all namespaces / cluster-scoped resources.
    pub namespace: Option<String>,
    /// Field selector for namespaced resources (namespace denylist, node).
    pub field_selector: Option<String>,
    /// resourceVersion=0 on lists.
    pub use_apiserver_cache: bool,
}

/// Exponential backoff from 200 ms to 3 s, so the exporter is exact again within seconds of
/// the API server's return; reset by every successful event.
struct QuickBackoff {
    next: Duration,
}

impl QuickBackoff {
    const FIRST: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(3);

    fn new() -> Self {
        Self { next: Self::FIRST }
    }

    fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    fn next_delay(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        // Spread the retries of many watchers with a little jitter from the clock.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        now + Duration::from_millis(u64::from(nanos % 100))
    }
}

/// How a watcher makes its initial list (and every relist).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InitialList {
    /// A streaming list: one watch that sends the current objects one by one, then a bookmark.
    /// Nothing holds a page of objects, so a shard that keeps a few of them stays small. What
    /// client-go (and so upstream) does by default since 1.35.
    Streaming,
    /// Pages of 500 objects, then a watch: for API servers that refuse streaming lists.
    Paginated,
}

/// Runs until cancelled: keeps `part` equal to the objects of kind `K` that `filter` keeps.
pub async fn run<K: Kind>(
    client: Client,
    spec: WatchSpec,
    renderer: Arc<Renderer<K>>,
    filter: ShardFilter,
    part: Arc<Part>,
    metrics: Metrics,
) {
    let api: Api<K> = <K::Scope as ScopeApi>::api(client, spec.namespace.as_deref());
    let config = |initial: InitialList| {
        let mut config = watcher::Config::default();
        if K::NAMESPACED
            && let Some(fields) = &spec.field_selector
        {
            config = config.fields(fields);
        }
        if spec.use_apiserver_cache {
            config = config.any_semantic();
        }
        if initial == InitialList::Streaming { config.streaming_lists() } else { config }
    };
    let labels = ResourceLabels { resource: K::RESOURCE.into() };
    metrics.synced.get_or_create(&labels).set(0);
    let mut relist: Option<Relist> = None;
    let streaming = streaming_lists(std::env::var("KUBE_FEATURE_WatchListClient").ok().as_deref(), &filter);
    let mut initial = if streaming { InitialList::Streaming } else { InitialList::Paginated };
    // Whether the stream is (re)listing: from its start, `Init` or a 410 until `InitDone`.
    let mut listing = true;
    let mut events = Events::spawn(watcher::watcher(api.clone(), config(initial)), initial);
    events.resume();
    let mut backoff = QuickBackoff::new();
    while let Some(event) = events.next().await {
        // Only what the API server sent counts as success: `Init` opens every attempt, also
        // those that fail, and resetting on it would retry a refused list every 200 ms forever.
        if matches!(event, Ok(Event::InitApply(_) | Event::InitDone | Event::Apply(_) | Event::Delete(_))) {
            backoff.reset();
        }
        match event {
            Ok(Event::Init) => {
                listing = true;
                relist = Some(Relist::new());
            }
            Ok(Event::InitApply(obj)) => {
                if let (Some(set), Some(uid)) = (relist.as_mut(), kept_uid(&obj, &filter)) {
                    set.insert(uid.into(), renderer.render(&obj));
                }
            }
            Ok(Event::InitDone) => {
                listing = false;
                let set = relist.take().unwrap_or_default();
                let count = set.len();
                part.replace(set);
                metrics.relists.get_or_create(&labels).inc();
                metrics.synced.get_or_create(&labels).set(1);
                info!(
                    resource = K::RESOURCE,
                    namespace = spec.namespace.as_deref().unwrap_or("*"),
                    objects = count,
                    streaming = initial == InitialList::Streaming,
                    "list synced"
                );
            }
            Ok(Event::Apply(obj)) => {
                if let Some(uid) = kept_uid(&obj, &filter) {
                    part.apply(uid, renderer.render(&obj));
                }
                metrics.events.get_or_create(&labels).inc();
            }
            Ok(Event::Delete(obj)) => {
                if let Some(uid) = obj.meta().uid.as_deref() {
                    part.delete(uid);
                }
                metrics.events.get_or_create(&labels).inc();
            }
            Err(error) => {
                // The call itself was counted by `CountCalls`.
                if is_forbidden(&error) {
                    if matches!(error, watcher::Error::InitialListFailed(_)) {
                        part.set_refused();
                    }
                    warn!(resource = K::RESOURCE, %error, "forbidden: the service account may not list/watch this resource; retrying");
                } else {
                    warn!(resource = K::RESOURCE, %error, "watch error; retrying");
                }
                if listing && streaming {
                    // As client-go does: a failed streaming list is followed at once by a
                    // paginated one, and a failed paginated list by a streaming one after the
                    // backoff.
                    initial = match initial {
                        InitialList::Streaming => InitialList::Paginated,
                        InitialList::Paginated => InitialList::Streaming,
                    };
                    events = Events::spawn(watcher::watcher(api.clone(), config(initial)), initial);
                    if initial == InitialList::Paginated {
                        events.resume();
                        continue;
                    }
                }
                if is_gone(&error) {
                    // 410 Gone: the watcher relists next, without waiting.
                    listing = true;
                } else {
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                events.resume();
            }
        }
    }
    debug!(resource = K::RESOURCE, "watch stream ended");
}

/// A watcher stream polled by a task of its own, so that the next page of a list is fetched
/// and decoded while the objects of this one are rendered (a list is otherwise one page's wait
/// on the API server, then its rendering, then the next page's wait). The task starts, and goes
/// on after each error it hands over, only when told to [`Events::resume`], which keeps the
/// caller's backoff between retries. Dropping it stops the stream.
struct Events<K> {
    rx: tokio::sync::mpsc::Receiver<Result<Event<K>, watcher::Error>>,
    resume: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl<K: Send + 'static> Events<K> {
    fn spawn(
        stream: impl futures::Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static,
        initial: InitialList,
    ) -> Self {
        // Room for a whole page, so the next one is asked for at once; a stream sends objects
        // one by one and needs little, which keeps a shard from holding objects it will drop.
        let capacity = match initial {
            InitialList::Paginated => 512,
            InitialList::Streaming => 16,
        };
        let (tx, rx) = tokio::sync::mpsc::channel(capacity);
        let resume = Arc::new(tokio::sync::Notify::new());
        let go = resume.clone();
        let forward = async move {
            go.notified().await;
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                let failed = event.is_err();
                if tx.send(event).await.is_err() {
                    return;
                }
                if failed {
                    go.notified().await;
                }
            }
        };
        // The stream logs too (kube's watcher warns of errors): keep the caller's span on it.
        let task = tokio::spawn(forward.instrument(tracing::Span::current()));
        Self { rx, resume, task }
    }

    async fn next(&mut self) -> Option<Result<Event<K>, watcher::Error>> {
        self.rx.recv().await
    }

    /// Lets the stream start, or go on after the error it handed over last.
    fn resume(&self) {
        self.resume.notify_one();
    }
}

impl<K> Drop for Events<K> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether to make initial lists as streaming lists. `KUBE_FEATURE_WatchListClient`, client-go's
/// switch for the same thing, decides when set. Otherwise only a shard streams: it drops most
/// objects it receives, and a stream never holds more than one of them, where a page holds 500.
/// An exporter that keeps every object gains no memory from it, and pages cost the API server
/// about half the CPU of the same objects as JSON watch events when it serves them from its watch
/// cache, as on a cluster whose objects change (measured: 10k pods took 0.8-1.1 s of API server
/// CPU as pages against 1.5-2.3 s streamed); pages of a resource idle for long come from etcd
/// and cost about what a stream does (docs/performance.md, fourth round).
fn streaming_lists(switch: Option<&str>, filter: &ShardFilter) -> bool {
    match switch.map(str::trim) {
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        _ => filter.total > 1,
    }
}

fn kept_uid<'a, K: Kind>(obj: &'a K, filter: &ShardFilter) -> Option<&'a str> {
    let uid = obj.meta().uid.as_deref()?;
    filter.keeps(uid).then_some(uid)
}

fn is_gone(error: &watcher::Error) -> bool {
    matches!(error, watcher::Error::WatchError(status) if status.code == 410)
}

fn is_forbidden(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => {
            matches!(e, kube::Error::Api(status) if status.is_forbidden())
        }
        watcher::Error::WatchError(status) => status.code == 403,
        _ => false,
    }
}

/// The StatefulSet that owns pod `pod` in `namespace`, from its controller owner reference.
pub async fn owning_statefulset(client: &Client, namespace: &str, pod: &str) -> Result<String, WatchError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let p = pods
        .get(pod)
        .await
        .map_err(|source| WatchError::Api { what: format!("get pod {namespace}/{pod}"), source })?;
    p.metadata
        .owner_references
        .unwrap_or_default()
        .into_iter()
        .find(|r| r.api_version == "apps/v1" && r.kind == "StatefulSet" && r.controller == Some(true))
        .map(|r| r.name)
        .ok_or_else(|| {
            WatchError::NotAStatefulSetPod(format!("pod {namespace}/{pod} has no StatefulSet controller"))
        })
}

/// Watches StatefulSet `name` and sends its `spec.replicas` (1 when unset) on every change.
pub async fn watch_replicas(
    client: Client,
    namespace: String,
    name: String,
    tx: tokio::sync::watch::Sender<Option<u32>>,
) {
    let api: Api<StatefulSet> = Api::namespaced(client, &namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher::watcher(api, config).boxed();
    let mut backoff = QuickBackoff::new();
    while let Some(event) = stream.next().await {
        if event.is_ok() {
            backoff.reset();
        }
        match event {
            Ok(Event::Apply(sts) | Event::InitApply(sts)) => {
                let replicas = sts.spec.replicas.unwrap_or(1).max(0) as u32;
                tx.send_if_modified(|cur| {
                    let changed = *cur != Some(replicas);
                    *cur = Some(replicas);
                    changed
                });
            }
            Ok(_) => {}
            Err(error) => {
                warn!(%error, statefulset = %name, "statefulset watch error; retrying");
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}

/// Asks the API server's /livez, as upstream's /livez does.
pub async fn apiserver_live(client: &Client) -> bool {
    let Ok(req) = http::Request::get("/livez").body(Vec::new()) else {
        return false;
    };
    tokio::time::timeout(Duration::from_secs(5), client.request_text(req)).await.is_ok_and(|r| r.is_ok())
}

/// A tower layer on the API client that counts every list and watch call by resource and
/// result, as upstream's `kube_state_metrics_list_total` / `watch_total` do, including calls
/// that failed before reaching the API server.
#[derive(Clone)]
pub struct CountCalls {
    metrics: Metrics,
}

impl CountCalls {
    /// Counts into `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

impl<S> tower::Layer<S> for CountCalls {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted { inner, metrics: self.metrics.clone() }
    }
}

/// The service made by [`CountCalls`].
#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    metrics: Metrics,
}

impl<S, B, ReqBody> tower::Service<http::Request<ReqBody>> for Counted<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<B>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    B: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let call = classify_call(req.method(), req.uri());
        let fut = self.inner.call(req);
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let res = fut.await;
            if let Some((watch, go_type)) = call {
                let ok = matches!(&res, Ok(r) if r.status().is_success());
                metrics.call(watch, go_type, ok);
            }
            res
        })
    }
}

/// For a collection GET of a known resource: whether it is a watch, and upstream's type name.
pub fn classify_call(method: &http::Method, uri: &http::Uri) -> Option<(bool, &'static str)> {
    if method != http::Method::GET {
        return None;
    }
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let plural = match segments.as_slice() {
        ["api", _, plural] | ["api", _, "namespaces", _, plural] => *plural,
        ["apis", _, _, plural] | ["apis", _, _, "namespaces", _, plural] => *plural,
        _ => return None,
    };
    let entry = crate::resources::find(plural)?;
    let watch = uri.query().unwrap_or_default().split('&').any(|kv| kv == "watch=true" || kv == "watch=1");
    Some((watch, entry.go_type))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        options::{Cli, Options},
        resources::configmap::ConfigMap,
        runtime::renderer_for,
    };
    use clap::Parser;
    use http::{Request, Response};
    use kube::client::Body;
    use serde_json::json;

    /// A shard of two that keeps the configmap named `name`, so that its watcher streams.
    fn shard_keeping(name: &str) -> ShardFilter {
        let hash = crate::shard::ShardHash::Md5;
        ShardFilter { hash, shard: hash.shard_of(name, 2), total: 2 }
    }

    /// Runs a configmap watcher with `filter` against a mocked API server that answers each
    /// request with `answer(path and query)`, and returns the requests seen until the part synced.
    async fn sync_against(
        filter: ShardFilter,
        answer: fn(&str) -> (u16, String),
    ) -> (Arc<Part>, Vec<String>) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let uri = request.uri().to_string();
                log.lock().push(uri.clone());
                let (code, body) = answer(&uri);
                if code == 0 {
                    // Hold the watch open: never answer.
                    std::mem::forget(send);
                    continue;
                }
                send.send_response(
                    Response::builder().status(code).body(Body::from(body.into_bytes())).expect("response"),
                );
            }
        });
        let options =
            Options::validate(&Cli::parse_from(["statefleet-exporter"]).flags).expect("defaults are valid");
        let part = Arc::new(Part::default());
        let spec = WatchSpec { namespace: None, field_selector: None, use_apiserver_cache: false };
        let metrics = Metrics::register(&mut prometheus_client::registry::Registry::default());
        let renderer = Arc::new(renderer_for::<ConfigMap>(&options));
        let client = Client::new(service, "default");
        tokio::spawn(run::<ConfigMap>(client, spec, renderer, filter, part.clone(), metrics));
        tokio::time::timeout(Duration::from_secs(10), async {
            while !part.synced() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the watcher syncs");
        let requests = seen.lock().clone();
        (part, requests)
    }

    fn configmap(name: &str) -> serde_json::Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "a", "uid": name, "resourceVersion": "5"}})
    }

    /// Answers a paginated list with configmaps `one` and `three` (one shard of two) and holds
    /// the watch that follows open.
    fn list_then_hold(uri: &str) -> (u16, String) {
        if uri.contains("watch=true") {
            return (0, String::new());
        }
        let list = json!({"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": "5"},
            "items": [configmap("one"), configmap("three")]});
        (200, list.to_string())
    }

    #[tokio::test]
    async fn a_shard_streams_its_initial_list_without_a_paginated_list() {
        let (part, requests) = sync_against(shard_keeping("one"), |uri| {
            if !uri.contains("sendInitialEvents=true") {
                return (0, String::new());
            }
            let added = json!({"type": "ADDED", "object": configmap("one")});
            let end = json!({"type": "BOOKMARK", "object": {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"resourceVersion": "5", "annotations": {"k8s.io/initial-events-end": "true"}}}});
            (200, format!("{added}\n{end}\n"))
        })
        .await;
        assert_eq!(part.counts().0, 1);
        assert!(requests.iter().all(|r| r.contains("watch=true")), "no paginated list: {requests:?}");
    }

    #[tokio::test]
    async fn a_refused_streaming_list_falls_back_to_pages_at_once() {
        let filter = shard_keeping("one");
        assert!(filter.keeps("three"), "both configmaps land in the same shard");
        let (part, requests) = sync_against(filter, |uri| {
            if uri.contains("sendInitialEvents=true") {
                let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Invalid", "code": 422,
                    "message": "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled"});
                return (422, status.to_string());
            }
            list_then_hold(uri)
        })
        .await;
        assert_eq!(part.counts().0, 2);
        assert!(requests[0].contains("sendInitialEvents=true"), "streaming first: {requests:?}");
        assert!(
            requests[1].contains("limit=500") && !requests[1].contains("watch"),
            "then a page: {requests:?}"
        );
    }

    #[tokio::test]
    async fn an_exporter_that_keeps_every_object_lists_in_pages() {
        let (part, requests) = sync_against(ShardFilter::all(), list_then_hold).await;
        assert_eq!(part.counts().0, 2);
        assert!(
            requests[0].contains("limit=500") && !requests[0].contains("watch"),
            "a page first: {requests:?}"
        );
    }

    #[tokio::test]
    async fn failed_lists_are_retried_after_the_backoff() {
        static LISTS: parking_lot::Mutex<Vec<std::time::Instant>> = parking_lot::Mutex::new(Vec::new());
        let (part, _) = sync_against(ShardFilter::all(), |uri| {
            if !uri.contains("watch=true") {
                let mut lists = LISTS.lock();
                lists.push(std::time::Instant::now());
                if lists.len() <= 2 {
                    return (
                        500,
                        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500})
                            .to_string(),
                    );
                }
            }
            list_then_hold(uri)
        })
        .await;
        assert_eq!(part.counts().0, 2);
        let lists = LISTS.lock().clone();
        assert_eq!(lists.len(), 3, "two refused lists, then one that worked");
        let gaps = [lists[1] - lists[0], lists[2] - lists[1]];
        assert!(
            gaps[0] >= QuickBackoff::FIRST,
            "a retry {:?} after the failure, not after the backoff",
            gaps[0]
        );
        assert!(gaps[1] >= QuickBackoff::FIRST * 2, "the backoff grows between failures: {gaps:?}");
    }

    #[test]
    fn client_go_switch_overrides_the_choice_of_streaming_lists() {
        let (all, shard) = (ShardFilter::all(), shard_keeping("one"));
        assert!(!streaming_lists(None, &all));
        assert!(streaming_lists(None, &shard));
        assert!(streaming_lists(Some("true"), &all));
        assert!(!streaming_lists(Some("False"), &shard));
        assert!(streaming_lists(Some("maybe"), &shard), "an unknown value leaves the default");
    }

    #[test]
    fn collection_gets_are_classified_as_list_or_watch() {
        let get = http::Method::GET;
        let uri = |s: &str| s.parse::<http::Uri>().expect("uri");
        assert_eq!(
            classify_call(&get, &uri("/apis/apps/v1/deployments?limit=500")),
            Some((false, "*v1.Deployment"))
        );
        assert_eq!(
            classify_call(&get, &uri("/apis/apps/v1/namespaces/a/deployments?watch=true&resourceVersion=1")),
            Some((true, "*v1.Deployment"))
        );
        assert_eq!(classify_call(&get, &uri("/apis/apps/v1/namespaces/a/deployments/web")), None);
        assert_eq!(classify_call(&http::Method::POST, &uri("/apis/apps/v1/deployments")), None);
        assert_eq!(classify_call(&get, &uri("/version")), None);
    }
}
