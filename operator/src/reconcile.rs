//! The reconciler: the only part of the operator that reads or writes a fleet's objects. It
//! applies what [`desired`] computes with server-side apply under [`FIELD_MANAGER`], prunes the
//! children that are no longer desired, and writes status.
//!
//! ```text
//! KubeStateMetrics ─▶ finalizer ─┬─ Apply ─▶ desired() ─┬─ Err(SpecError): Degraded + Warning Event
//!                                │                      │  (the running fleet is left untouched)
//!                                │                      └─ Ok(children) ─▶ skip kinds whose CRD is not served
//!                                │                         ─▶ LIST live children by label, GET cluster-scoped
//!                                │                         ─▶ apply the children that drifted (drift.rs)
//!                                │                         ─▶ delete the listed children not desired
//!                                │                         ─▶ patch status when it changed (status.rs)
//!                                └─ Cleanup ─▶ delete the ClusterRole and ClusterRoleBinding
//! ```
//!
//! Reconciling an unchanged fleet writes nothing: a child is applied only when its live object
//! lacks something the operator sets, status only when it says something new, and Events only
//! along with a status change. Namespaced children carry a controller owner reference, so the
//! garbage collector removes them with the custom resource and `Controller::owns` reconciles the
//! fleet when someone edits one.

use crate::{
    conditions::reasons,
    crd::{KubeStateMetrics, KubeStateMetricsStatus},
    desired::{Child, LABEL_INSTANCE, LABEL_MANAGED_BY, MANAGED_BY, SpecError, child_kinds, desired},
    drift,
    metrics::Metrics,
    status::{self, Skipped},
};
use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use kube::{
    Client, Resource, ResourceExt,
    api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams},
    runtime::{
        controller::Action,
        events::{Event, EventType, Recorder, Reporter},
        finalizer::{self, Event as FinalizerEvent, finalizer},
        reflector::ObjectRef,
    },
};
use parking_lot::Mutex;
use serde_json::json;
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};
use tracing::{debug, info, instrument, warn};

/// The one field manager of every write the operator makes (children and status).
pub const FIELD_MANAGER: &str = "statefleet-operator";

/// Finalizer that keeps a deleted custom resource until its cluster-scoped RBAC is gone (owner
/// references cannot point from a cluster-scoped object to a namespaced one).
pub const FINALIZER: &str = "statefleet.io/cluster-rbac";

/// Reconcile a healthy fleet this often even without a change, to correct drift in kinds the
/// controller does not watch (ServiceMonitor, PrometheusRule).
pub const RESYNC: Duration = Duration::from_secs(300);

/// Reconcile this soon while monitoring children are skipped, so they appear shortly after the
/// prometheus-operator CRDs are installed.
pub const CRD_RECHECK: Duration = Duration::from_secs(60);

/// First retry after a failure; doubles per consecutive failure up to [`BACKOFF_MAX`].
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);

/// Longest retry delay after failures.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Longest note of an Event (the API's limit is 1 kB).
const EVENT_NOTE_MAX: usize = 1024;

/// Why a reconcile failed. Each variant has a stable [`Error::reason`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Listing the live children of one kind failed.
    #[error("failed to list {kind}: {source}")]
    List {
        /// The kind listed.
        kind: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Reading one child failed.
    #[error("failed to get {kind} {name}: {source}")]
    Get {
        /// The child's kind.
        kind: String,
        /// The child's name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// API discovery of an optional group (prometheus-operator's) failed.
    #[error("failed to discover {api_version}: {source}")]
    Discovery {
        /// The group version asked for.
        api_version: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Server-side apply of a child failed.
    #[error("failed to apply {kind} {name}: {source}")]
    Apply {
        /// The child's kind.
        kind: String,
        /// The child's name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Deleting a child that is no longer desired failed.
    #[error("failed to delete {kind} {name}: {source}")]
    Prune {
        /// The child's kind.
        kind: String,
        /// The child's name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Deleting cluster-scoped RBAC of a deleted custom resource failed.
    #[error("failed to delete {kind} {name} of the deleted fleet: {source}")]
    Cleanup {
        /// The object's kind.
        kind: String,
        /// The object's name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Writing the custom resource's status failed.
    #[error("failed to patch the status of {name}: {source}")]
    Status {
        /// The custom resource's name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Adding or removing the finalizer failed.
    #[error("{0}")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
    /// The object lacks metadata every object from the API server has.
    #[error("failed to reconcile an object without {0}")]
    MissingMetadata(&'static str),
}

impl Error {
    /// The stable CamelCase reason, shared by the status condition, the Event and the failure
    /// metric's label.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::List { .. } | Error::Get { .. } | Error::Discovery { .. } => reasons::READ_FAILED,
            Error::Apply { .. } => reasons::APPLY_FAILED,
            Error::Prune { .. } => reasons::PRUNE_FAILED,
            Error::Cleanup { .. } => reasons::CLEANUP_FAILED,
            Error::Status { .. } => reasons::STATUS_FAILED,
            Error::MissingMetadata(_) => reasons::INVALID_SPEC,
            Error::Finalizer(error) => match error.as_ref() {
                finalizer::Error::ApplyFailed(inner) | finalizer::Error::CleanupFailed(inner) => {
                    inner.reason()
                }
                _ => reasons::FINALIZER_FAILED,
            },
        }
    }
}

/// Which resources optional API groups serve, from API discovery, cached per group version for
/// a while: ServiceMonitor and PrometheusRule are applied once the prometheus-operator CRDs are
/// installed, without a restart, and a reconcile does not ask every time.
pub struct Discovery {
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, HashSet<String>)>>,
}

impl Discovery {
    /// A cache whose answers are trusted for `ttl` (zero asks every time).
    pub fn new(ttl: Duration) -> Self {
        Discovery { ttl, cache: Mutex::new(HashMap::new()) }
    }

    /// Whether the API server serves `resource` (a kind of a named API group, not the core
    /// group). A group that is not served at all is not an error.
    pub async fn serves(&self, client: &Client, resource: &ApiResource) -> Result<bool, Error> {
        if let Some((at, plurals)) = self.cache.lock().get(&resource.api_version)
            && at.elapsed() < self.ttl
        {
            return Ok(plurals.contains(&resource.plural));
        }
        let plurals: HashSet<String> = match client.list_api_group_resources(&resource.api_version).await {
            Ok(list) => list.resources.into_iter().map(|r| r.name).collect(),
            // An unknown group gets a plain-text "404 page not found", which carries no reason.
            Err(kube::Error::Api(status)) if status.code == 404 || status.is_not_found() => HashSet::new(),
            Err(source) => {
                return Err(Error::Discovery { api_version: resource.api_version.clone(), source });
            }
        };
        let served = plurals.contains(&resource.plural);
        self.cache.lock().insert(resource.api_version.clone(), (Instant::now(), plurals));
        Ok(served)
    }
}

/// What every reconcile shares.
pub struct Context {
    /// The API client (give it a request timeout: every call goes through it).
    pub client: Client,
    /// Reconcile metrics.
    pub metrics: Metrics,
    /// Publishes Events on the custom resources.
    pub recorder: Recorder,
    /// Whether the prometheus-operator CRDs are served.
    pub discovery: Discovery,
    /// Consecutive failures per custom resource, for [`error_policy`]'s backoff.
    failures: Mutex<HashMap<ObjectRef<KubeStateMetrics>, u32>>,
    /// The last status written per custom resource (by uid), with the resourceVersion the
    /// object had before the write: a reconcile that still sees that version runs on a cache
    /// that has not caught up with the write yet, and must not write the same status again.
    written: Mutex<HashMap<String, (Option<String>, KubeStateMetricsStatus)>>,
}

impl Context {
    /// A context whose discovery answers are cached for `discovery_ttl`.
    pub fn new(client: Client, metrics: Metrics, reporter: Reporter, discovery_ttl: Duration) -> Self {
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            discovery: Discovery::new(discovery_ttl),
            failures: Mutex::new(HashMap::new()),
            written: Mutex::new(HashMap::new()),
        }
    }
}

/// Reconciles one `KubeStateMetrics`: adds the finalizer first, then applies the fleet, or on
/// deletion removes its cluster-scoped RBAC.
#[instrument(
    skip_all,
    fields(namespace = ksm.metadata.namespace.as_deref(), fleet = ksm.metadata.name.as_deref())
)]
pub async fn reconcile(ksm: Arc<KubeStateMetrics>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_timer();
    let key = ObjectRef::from_obj(ksm.as_ref());
    let result = run(ksm, &ctx).await;
    match &result {
        Ok(_) => {
            ctx.failures.lock().remove(&key);
        }
        Err(error) => ctx.metrics.failure(error.reason()),
    }
    result
}

async fn run(ksm: Arc<KubeStateMetrics>, ctx: &Context) -> Result<Action, Error> {
    let namespace = ksm.metadata.namespace.clone().ok_or(Error::MissingMetadata("metadata.namespace"))?;
    let api: Api<KubeStateMetrics> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, ksm, |event| async move {
        match event {
            FinalizerEvent::Apply(ksm) => apply(&ksm, ctx).await,
            FinalizerEvent::Cleanup(ksm) => cleanup(&ksm, ctx).await,
        }
    })
    .await
    .map_err(|error| match error {
        // The reconcile's own errors keep their identity (and reason).
        finalizer::Error::ApplyFailed(error) | finalizer::Error::CleanupFailed(error) => error,
        other => Error::Finalizer(Box::new(other)),
    })
}

/// The retry delay after `attempt` consecutive failures (1-based).
pub fn backoff(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    BACKOFF_BASE.saturating_mul(1 << doublings).min(BACKOFF_MAX)
}

/// Retries a failed reconcile with exponential backoff per custom resource (reset by the next
/// success).
pub fn error_policy(ksm: Arc<KubeStateMetrics>, error: &Error, ctx: Arc<Context>) -> Action {
    let attempt = {
        let mut failures = ctx.failures.lock();
        let count = failures.entry(ObjectRef::from_obj(ksm.as_ref())).or_insert(0);
        *count = count.saturating_add(1);
        *count
    };
    let delay = backoff(attempt);
    warn!(
        %error,
        reason = error.reason(),
        namespace = ksm.metadata.namespace.as_deref(),
        fleet = ksm.metadata.name.as_deref(),
        attempt,
        retry_in = ?delay,
        "reconcile failed"
    );
    Action::requeue(delay)
}

fn now() -> Time {
    Time(Timestamp::now())
}

/// Applies the fleet, or records why it cannot.
async fn apply(ksm: &KubeStateMetrics, ctx: &Context) -> Result<Action, Error> {
    let children = match desired(ksm) {
        Ok(children) => children,
        Err(error) => return reject(ksm, ctx, &error).await,
    };
    match apply_children(ksm, ctx, children).await {
        Ok(action) => Ok(action),
        Err(error) => {
            if !matches!(error, Error::Status { .. }) {
                // Best effort: the error is what gets retried; the status tells humans meanwhile.
                let status = status::failed_status(ksm, error.reason(), error.to_string(), now());
                match write_status(ksm, ctx, &status).await {
                    Ok(true) => warn_event(ksm, ctx, error.reason(), &error.to_string()).await,
                    Ok(false) => {}
                    Err(status_error) => {
                        debug!(error = %status_error, "failed to record the failure in status")
                    }
                }
            }
            Err(error)
        }
    }
}

/// A spec the exporter rejects: the running fleet stays as it is; status and an Event say why.
async fn reject(ksm: &KubeStateMetrics, ctx: &Context, error: &SpecError) -> Result<Action, Error> {
    warn!(%error, reason = error.reason(), "spec rejected; the running fleet is left as it is");
    ctx.metrics.failure(error.reason());
    let status = status::invalid_spec_status(ksm, error, now());
    if write_status(ksm, ctx, &status).await? {
        warn_event(ksm, ctx, error.reason(), &error.to_string()).await;
    }
    // A fix comes as a spec change, which triggers a reconcile anyway.
    Ok(Action::requeue(RESYNC))
}

/// Publishes a Warning Event on the custom resource; failing to is logged, not fatal.
async fn warn_event(ksm: &KubeStateMetrics, ctx: &Context, reason: &str, note: &str) {
    let mut note = note.to_string();
    if note.len() > EVENT_NOTE_MAX {
        let mut end = EVENT_NOTE_MAX - 3;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
        note.push_str("...");
    }
    let event = Event {
        type_: EventType::Warning,
        reason: reason.to_string(),
        note: Some(note),
        action: "Reconcile".to_string(),
        secondary: None,
    };
    match ctx.recorder.publish(&event, &ksm.object_ref(&())).await {
        Ok(()) => ctx.metrics.write("create", "Event"),
        Err(error) => warn!(%error, "failed to publish an event"),
    }
}

/// Writes `status` through the status subresource when it says something new; `true` if it did.
async fn write_status(
    ksm: &KubeStateMetrics,
    ctx: &Context,
    status: &KubeStateMetricsStatus,
) -> Result<bool, Error> {
    if !status::changed(ksm.status.as_ref(), status) {
        return Ok(false);
    }
    let uid = ksm.metadata.uid.clone().unwrap_or_default();
    if let Some((version, written)) = ctx.written.lock().get(&uid)
        && *version == ksm.metadata.resource_version
        && !status::changed(Some(written), status)
    {
        debug!("status already written; the cache has not caught up yet");
        return Ok(false);
    }
    let name = ksm.name_any();
    let api: Api<KubeStateMetrics> =
        Api::namespaced(ctx.client.clone(), ksm.metadata.namespace.as_deref().unwrap_or_default());
    let patch = json!({
        "apiVersion": KubeStateMetrics::api_version(&()),
        "kind": KubeStateMetrics::kind(&()),
        "status": status,
    });
    api.patch_status(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
        .await
        .map_err(|source| Error::Status { name: name.clone(), source })?;
    ctx.written.lock().insert(uid, (ksm.metadata.resource_version.clone(), status.clone()));
    ctx.metrics.write("status", KubeStateMetrics::kind(&()).as_ref());
    debug!("status updated");
    Ok(true)
}

fn api_for(client: &Client, resource: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, resource),
        None => Api::all_with(client.clone(), resource),
    }
}

/// Whether `object` is controlled by the custom resource with `uid`: only those are pruned, so a
/// look-alike someone else labelled the same way is left alone.
fn controlled_by(object: &DynamicObject, uid: &str) -> bool {
    object.owner_references().iter().any(|o| o.controller == Some(true) && o.uid == uid)
}

/// Applies the children that drifted, prunes the ones no longer desired, writes status.
async fn apply_children(
    ksm: &KubeStateMetrics,
    ctx: &Context,
    children: Vec<Child>,
) -> Result<Action, Error> {
    let name = ksm.name_any();
    let namespace = ksm.metadata.namespace.as_deref().ok_or(Error::MissingMetadata("metadata.namespace"))?;
    let mut owner = ksm.controller_owner_ref(&()).ok_or(Error::MissingMetadata("metadata.uid"))?;
    // Foreground deletion of the custom resource waits for its children.
    owner.block_owner_deletion = Some(true);

    let mut to_apply = Vec::with_capacity(children.len());
    let mut skipped = Vec::new();
    for child in children {
        match child.requires_crd {
            Some(crd) if !ctx.discovery.serves(&ctx.client, &child.resource).await? => {
                debug!(kind = %child.resource.kind, crd, "skipping child: its CRD is not installed");
                skipped.push(Skipped { kind: child.resource.kind.clone(), crd });
            }
            _ => to_apply.push(child),
        }
    }

    // Everything of ours that exists: namespaced children by label (including the ones no longer
    // desired), cluster-scoped ones by name.
    let selector = crate::desired::children_selector(&name);
    let kinds = child_kinds();
    let mut live: BTreeMap<(String, String), DynamicObject> = BTreeMap::new();
    for kind in kinds.iter().filter(|k| k.namespaced) {
        if kind.requires_crd.is_some() && !ctx.discovery.serves(&ctx.client, &kind.resource).await? {
            continue;
        }
        let list = api_for(&ctx.client, &kind.resource, Some(namespace))
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|source| Error::List { kind: kind.resource.kind.clone(), source })?;
        for object in list {
            live.insert((kind.resource.kind.clone(), object.name_any()), object);
        }
    }
    for child in to_apply.iter().filter(|c| !c.namespaced) {
        let found =
            api_for(&ctx.client, &child.resource, None).get_opt(child.name()).await.map_err(|source| {
                Error::Get { kind: child.resource.kind.clone(), name: child.name().to_string(), source }
            })?;
        if let Some(object) = found {
            live.insert((child.resource.kind.clone(), child.name().to_string()), object);
        }
    }

    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut components = Vec::new();
    for child in &to_apply {
        let kind = child.resource.kind.as_str();
        let object = drift::applied_object(child, child.namespaced.then_some(&owner));
        let current = live.remove(&(kind.to_string(), child.name().to_string()));
        let differs = match &current {
            Some(current) => drift::drift(&object, current),
            None => Some("(absent)".to_string()),
        };
        let current = match (current, differs) {
            (Some(current), None) => current,
            (_, differs) => {
                debug!(kind, name = child.name(), differs = differs.as_deref(), "applying");
                let namespace = child.namespaced.then_some(namespace);
                let applied = api_for(&ctx.client, &child.resource, namespace)
                    .patch(child.name(), &params, &Patch::Apply(&object))
                    .await
                    .map_err(|source| Error::Apply {
                        kind: kind.to_string(),
                        name: child.name().to_string(),
                        source,
                    })?;
                ctx.metrics.write("apply", kind);
                applied
            }
        };
        components.extend(status::component(child, &current));
    }

    // What is left was listed by our labels but is no longer desired.
    for ((kind, child_name), object) in live {
        if !controlled_by(&object, &owner.uid) {
            debug!(kind, name = child_name, "leaving a labelled object this fleet does not control");
            continue;
        }
        let resource =
            &kinds.iter().find(|k| k.resource.kind == kind).expect("listed kinds are child kinds").resource;
        match api_for(&ctx.client, resource, Some(namespace))
            .delete(&child_name, &DeleteParams::background())
            .await
        {
            Ok(_) => {
                ctx.metrics.write("delete", &kind);
                info!(kind, name = child_name, "deleted a child that is no longer desired");
            }
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            Err(source) => return Err(Error::Prune { kind, name: child_name, source }),
        }
    }

    let status = status::fleet_status(ksm, &components, &skipped, now());
    write_status(ksm, ctx, &status).await?;
    Ok(Action::requeue(if skipped.is_empty() { RESYNC } else { CRD_RECHECK }))
}

/// Deletes the fleet's cluster-scoped RBAC; the garbage collector removes the namespaced
/// children through their owner references.
async fn cleanup(ksm: &KubeStateMetrics, ctx: &Context) -> Result<Action, Error> {
    let name = ksm.name_any();
    let namespace = ksm.metadata.namespace.as_deref().ok_or(Error::MissingMetadata("metadata.namespace"))?;
    let object_name = crate::desired::cluster_scoped_name(namespace, &name);
    for kind in child_kinds().iter().filter(|k| !k.namespaced) {
        let api = api_for(&ctx.client, &kind.resource, None);
        let error =
            |source| Error::Cleanup { kind: kind.resource.kind.clone(), name: object_name.clone(), source };
        let Some(object) = api.get_opt(&object_name).await.map_err(error)? else {
            continue;
        };
        // The name is specific to the fleet; the labels guard against deleting a look-alike.
        let labels = object.labels();
        if labels.get(LABEL_MANAGED_BY).map(String::as_str) != Some(MANAGED_BY)
            || labels.get(LABEL_INSTANCE) != Some(&name)
        {
            warn!(
                kind = %kind.resource.kind,
                name = object_name,
                "not deleting an object the operator did not create"
            );
            continue;
        }
        match api.delete(&object_name, &DeleteParams::default()).await {
            Ok(_) => {
                ctx.metrics.write("delete", &kind.resource.kind);
                info!(
                    kind = %kind.resource.kind,
                    name = object_name,
                    "deleted cluster-scoped RBAC of a deleted fleet"
                );
            }
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            Err(source) => return Err(error(source)),
        }
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests;
