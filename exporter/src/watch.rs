//! The only module that talks to the API server: one long-lived watcher task per (resource,
//! namespace), the StatefulSet lookups of autosharding, and the liveness probe.
//!
//! A watcher lists (paginated), then watches. Its `Init`/`InitApply`/`InitDone` events build a
//! fresh set that replaces the old one atomically, which is how a relist after 410 Gone or any
//! other error leaves no stale and no duplicate series. `Apply`/`Delete` update single objects.

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
    runtime::{
        WatchStreamExt,
        utils::Backoff,
        watcher::{self, Event},
    },
};
use std::{sync::Arc, time::Duration};
use tracing::{debug, info, warn};

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

/// Exponential backoff from 250 ms to 4 s, so the exporter is exact again within seconds of the
/// API server's return; reset after each successful event.
struct QuickBackoff {
    next: Duration,
}

impl QuickBackoff {
    const FIRST: Duration = Duration::from_millis(250);
    const MAX: Duration = Duration::from_secs(4);
}

impl Iterator for QuickBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let now = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        // Spread retries of many watchers with a little jitter from the clock.
        let jitter = u64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos()
                % 100,
        );
        Some(now + Duration::from_millis(jitter))
    }
}

impl Backoff for QuickBackoff {
    fn reset(&mut self) {
        self.next = Self::FIRST;
    }
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
    let mut config = watcher::Config::default();
    if K::NAMESPACED
        && let Some(fields) = &spec.field_selector
    {
        config = config.fields(fields);
    }
    if spec.use_apiserver_cache {
        config = config.any_semantic();
    }
    let labels = ResourceLabels {
        resource: K::RESOURCE.into(),
    };
    let mut relist: Option<Relist> = None;
    let mut stream = watcher::watcher(api, config)
        .backoff(QuickBackoff {
            next: QuickBackoff::FIRST,
        })
        .boxed();
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => relist = Some(Relist::new()),
            Ok(Event::InitApply(obj)) => {
                if let (Some(set), Some(uid)) = (relist.as_mut(), kept_uid(&obj, &filter)) {
                    set.insert(uid.into(), Arc::new(renderer.render(&obj)));
                }
            }
            Ok(Event::InitDone) => {
                let set = relist.take().unwrap_or_default();
                let count = set.len();
                part.replace(set);
                metrics.call(false, K::GO_TYPE, true);
                metrics.call(true, K::GO_TYPE, true);
                metrics.relists.get_or_create(&labels).inc();
                metrics.synced.get_or_create(&labels).set(1);
                info!(
                    resource = K::RESOURCE,
                    namespace = spec.namespace.as_deref().unwrap_or("*"),
                    objects = count,
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
                let list = matches!(error, watcher::Error::InitialListFailed(_));
                metrics.call(!list, K::GO_TYPE, false);
                if is_forbidden(&error) {
                    warn!(resource = K::RESOURCE, %error, "forbidden: the service account may not list/watch this resource; retrying");
                } else {
                    warn!(resource = K::RESOURCE, %error, "watch error; retrying");
                }
            }
        }
    }
    debug!(resource = K::RESOURCE, "watch stream ended");
}

fn kept_uid<'a, K: Kind>(obj: &'a K, filter: &ShardFilter) -> Option<&'a str> {
    let uid = obj.meta().uid.as_deref()?;
    filter.keeps(uid).then_some(uid)
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
    let p = pods.get(pod).await.map_err(|source| WatchError::Api {
        what: format!("get pod {namespace}/{pod}"),
        source,
    })?;
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
    let mut stream = watcher::watcher(api, config)
        .backoff(QuickBackoff {
            next: QuickBackoff::FIRST,
        })
        .boxed();
    while let Some(event) = stream.next().await {
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
            Err(error) => warn!(%error, statefulset = %name, "statefulset watch error; retrying"),
        }
    }
}

/// Asks the API server's /livez, as upstream's /livez does.
pub async fn apiserver_live(client: &Client) -> bool {
    let Ok(req) = http::Request::get("/livez").body(Vec::new()) else {
        return false;
    };
    tokio::time::timeout(Duration::from_secs(5), client.request_text(req))
        .await
        .is_ok_and(|r| r.is_ok())
}
