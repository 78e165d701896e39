//! A running configuration: the store and the watcher tasks that fill it for one set of options
//! and one shard. Reconfiguring (config file change, autoshard change) starts a new runtime,
//! waits for its first lists, then swaps it in, so scrapes never see a half-synced state.
//! Within a runtime each watcher swaps in complete lists only, so a resource is either absent or
//! whole.

use crate::{
    metric::FamilyGen,
    options::Options,
    resources::{self, FamilyOptions, Kind, Renderer},
    shard::ShardFilter,
    store::{Part, ResourceStore, Store},
    telemetry::Metrics,
    watch::{self, WatchSpec},
};
use kube::Client;
use parking_lot::RwLock;
use std::{sync::Arc, time::Duration};
use tokio::task::JoinHandle;
use tracing::{Instrument, info, info_span, warn};

/// The families of `K` that pass the options' filters, with their allowlists.
pub fn renderer_for<K: Kind>(options: &Options) -> Renderer<K> {
    let family_options = FamilyOptions {
        labels: options.labels_allow.get(K::RESOURCE).cloned(),
        annotations: options.annotations_allow.get(K::RESOURCE).cloned(),
    };
    let families: Vec<FamilyGen<K>> = K::families(&family_options)
        .into_iter()
        .filter(|f| options.family_filter.keeps(f.name, f.opt_in))
        .collect();
    Renderer::new(families, options.trailing_labels())
}

/// Store plus watcher tasks; dropping it stops the tasks.
pub struct Runtime {
    /// What scrapes read.
    pub store: Arc<Store>,
    /// The shard this runtime keeps.
    pub filter: ShardFilter,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Runtime {
    /// A runtime with nothing in it (before autosharding knows its shard).
    pub fn empty(filter: ShardFilter) -> Self {
        Self { store: Arc::new(Store::default()), filter, tasks: Vec::new() }
    }

    /// Starts one watcher per enabled resource and namespace.
    pub fn start(client: &Client, options: &Options, filter: ShardFilter, metrics: &Metrics) -> Self {
        let mut resources = Vec::new();
        let mut tasks = Vec::new();
        for &name in &options.resources {
            match resources::find(name) {
                Some(entry) => {
                    let (store, mut handles) = (entry.start)(client, options, filter, metrics);
                    resources.push(store);
                    tasks.append(&mut handles);
                }
                None => warn!(resource = name, "resource not implemented; skipped"),
            }
        }
        Self { store: Arc::new(Store::new(resources)), filter, tasks }
    }

    /// Waits until every resource finished its first list (or was refused), or `limit` passed.
    pub async fn wait_settled(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.store.settled() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }
}

/// Starts the watchers of one resource; see [`start_resource`].
pub type StartFn = fn(&Client, &Options, ShardFilter, &Metrics) -> (Arc<ResourceStore>, Vec<JoinHandle<()>>);

/// Starts one watcher per namespace (or one cluster-wide) for kind `K`.
pub fn start_resource<K: Kind>(
    client: &Client,
    options: &Options,
    filter: ShardFilter,
    metrics: &Metrics,
) -> (Arc<ResourceStore>, Vec<JoinHandle<()>>) {
    let renderer = Arc::new(renderer_for::<K>(options));
    let store = Arc::new(ResourceStore::new(K::RESOURCE, renderer.headers()));
    let namespaces: Vec<Option<String>> = if K::NAMESPACED && !options.namespaces.is_empty() {
        options.namespaces.iter().cloned().map(Some).collect()
    } else {
        vec![None]
    };
    let mut parts = Vec::new();
    let mut tasks = Vec::new();
    for namespace in namespaces {
        let part = Arc::new(Part::default());
        parts.push(part.clone());
        let spec = WatchSpec {
            namespace: namespace.clone(),
            field_selector: options.field_selector(),
            use_apiserver_cache: options.use_apiserver_cache,
        };
        let span =
            info_span!("watch", resource = K::RESOURCE, namespace = namespace.as_deref().unwrap_or("*"));
        tasks.push(tokio::spawn(
            watch::run::<K>(client.clone(), spec, renderer.clone(), filter, part, metrics.clone())
                .instrument(span),
        ));
    }
    store.set_parts(parts);
    (store, tasks)
}

/// The runtime scrapes read, swapped whole on reconfiguration.
pub struct Current {
    runtime: RwLock<Arc<Runtime>>,
}

impl Current {
    /// Starts with `runtime`.
    pub fn new(runtime: Runtime) -> Self {
        Self { runtime: RwLock::new(Arc::new(runtime)) }
    }

    /// Makes `next` current at once (the first runtime: there is nothing better to serve).
    pub fn swap_now(&self, next: Runtime) {
        *self.runtime.write() = Arc::new(next);
    }

    /// The runtime to serve from now.
    pub fn get(&self) -> Arc<Runtime> {
        self.runtime.read().clone()
    }

    /// Waits for `next` to sync (at most `limit`), then makes it current; the old runtime's
    /// watchers stop when the last scrape using it finishes.
    pub async fn swap_when_synced(&self, next: Runtime, limit: Duration) {
        if !next.wait_settled(limit).await {
            warn!(
                limit_seconds = limit.as_secs(),
                "new configuration not fully synced in time; serving it anyway"
            );
        }
        info!(shard = next.filter.shard, total = next.filter.total, "configuration swapped in");
        *self.runtime.write() = Arc::new(next);
    }
}
