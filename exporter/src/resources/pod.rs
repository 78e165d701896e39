//! `kube_pod_*` families (upstream `internal/store/pod.go`).
//!
//! Every value comes from the Pod object itself; no family reads the clock (upstream's pod
//! families do not either). Where upstream calls `Time.Unix()` on a timestamp that may be unset
//! (container start and finish times, condition transition times), an unset time is Go's zero
//! time and is written as upstream writes it, `-6.21355968e+10`.

use super::{
    FamilyOptions, Kind,
    common::{
        self, is_attachable_volume_resource_name, is_extended_resource_name, is_huge_page_resource_name,
        lean_meta, quantity_to_f64, quantity_value, sanitize_resource_name, unix_seconds,
    },
    projection,
};
use crate::metric::{FamilyGen, Sink, Stability, Stability::*, bool_f64};
use k8s_openapi::{
    NamespaceResourceScope,
    api::core::v1::{
        ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, PodCondition,
        ResourceRequirements,
    },
    apimachinery::pkg::{
        api::resource::Quantity,
        apis::meta::v1::{ObjectMeta, Time},
    },
};
use projection::{Container, ContainerStatus, PodSpec, PodStatus};
use serde::Deserialize;
use std::{
    collections::{BTreeMap, HashMap},
    net::{Ipv4Addr, Ipv6Addr},
};

mod projection;

/// The fields of a Pod that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Pod {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<PodSpec>,
    /// Status.
    #[serde(default)]
    pub status: Option<PodStatus>,
}
projection!(Pod, "Pod", "", "v1", "pods", NamespaceResourceScope);

/// `Time.Unix()` of Go's zero time (0001-01-01T00:00:00Z), which upstream writes for unset times.
const GO_ZERO_TIME_UNIX: f64 = -62_135_596_800.0;

/// Pod phases in upstream's sample order.
const PHASES: [&str; 5] = ["Pending", "Succeeded", "Failed", "Unknown", "Running"];

/// QoS classes in upstream's sample order.
const QOS_CLASSES: [&str; 3] = ["BestEffort", "Burstable", "Guaranteed"];

/// Reasons `kube_pod_status_reason` reports by name; any other `status.reason` is `Other`.
const STATUS_REASONS: [&str; 8] = [
    "Evicted",
    "NodeAffinity",
    "NodeLost",
    "PreemptionByScheduler",
    "SchedulingGated",
    "Shutdown",
    "TerminationByKubelet",
    "UnexpectedAdmissionError",
];

/// `DisruptionTarget` reasons reported by name; others collapse to `Other`.
const DISRUPTION_REASONS: [&str; 5] = [
    "PreemptionByScheduler",
    "DeletionByTaintManager",
    "EvictionByEvictionAPI",
    "DeletionByPodGC",
    "TerminationByKubelet",
];

/// Picks the containers (or init containers) a family reads.
type Containers = fn(&Pod) -> &[Container];
/// Picks the container statuses (or init container statuses) a family reads.
type Statuses = fn(&Pod) -> &[ContainerStatus];
/// Picks requests or limits.
type ResourceList = fn(&ResourceRequirements) -> Option<&BTreeMap<String, Quantity>>;

impl Pod {
    fn containers(&self) -> &[Container] {
        self.spec.as_ref().map_or(&[], |s| &s.containers)
    }

    fn init_containers(&self) -> &[Container] {
        self.spec.as_ref().and_then(|s| s.init_containers.as_deref()).unwrap_or_default()
    }

    fn container_statuses(&self) -> &[ContainerStatus] {
        self.status.as_ref().and_then(|s| s.container_statuses.as_deref()).unwrap_or_default()
    }

    fn init_container_statuses(&self) -> &[ContainerStatus] {
        self.status.as_ref().and_then(|s| s.init_container_statuses.as_deref()).unwrap_or_default()
    }

    fn conditions(&self) -> &[PodCondition] {
        self.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default()
    }

    /// A string field of the spec, `""` when unset (Go's zero value).
    fn spec_str(&self, field: impl Fn(&PodSpec) -> &Option<String>) -> &str {
        self.spec.as_ref().and_then(|s| field(s).as_deref()).unwrap_or_default()
    }

    /// A string field of the status, `""` when unset.
    fn status_str(&self, field: impl Fn(&PodStatus) -> &Option<String>) -> &str {
        self.status.as_ref().and_then(|s| field(s).as_deref()).unwrap_or_default()
    }

    fn overhead(&self, resource: &str) -> Option<&Quantity> {
        self.spec.as_ref()?.overhead.as_ref()?.get(resource)
    }

    fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }
}

impl Kind for Pod {
    const RESOURCE: &'static str = "pods";
    const KIND: &'static str = "Pod";
    const GO_TYPE: &'static str = "*v1.Pod";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("pod", self.name()),
            ("uid", self.metadata.uid.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            FamilyGen::gauge(
                "kube_pod_completion_time",
                "Completion time in unix timestamp for a pod.",
                Stable,
                |p: &Self, s| {
                    if let Some(t) = completion_time(p) {
                        s.value(t)
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_pod_container_info",
                "Information about a container in a pod.",
                Stable,
                |p: &Self, s| write_container_info(s, p.containers(), p.container_statuses(), false),
            ),
            resources_family(
                "kube_pod_container_resource_limits",
                "The number of requested limit resource by a container. It is recommended to use the kube_pod_resource_limits metric exposed by kube-scheduler instead, as it is more precise.",
                Stable,
                Pod::containers,
                |r| r.limits.as_ref(),
            ),
            resources_family(
                "kube_pod_container_resource_requests",
                "The number of requested request resource by a container. It is recommended to use the kube_pod_resource_requests metric exposed by kube-scheduler instead, as it is more precise.",
                Stable,
                Pod::containers,
                |r| r.requests.as_ref(),
            ),
            per_status(
                "kube_pod_container_state_started",
                "Start time in unix timestamp for a pod container.",
                Stable,
                Pod::container_statuses,
                write_state_started,
            ),
            per_status(
                "kube_pod_container_status_last_terminated_reason",
                "Describes the last reason the container was in terminated state.",
                Alpha,
                Pod::container_statuses,
                write_last_terminated_reason,
            ),
            per_status(
                "kube_pod_container_status_last_terminated_exitcode",
                "Describes the exit code for the last container in terminated state.",
                Alpha,
                Pod::container_statuses,
                write_last_terminated_exitcode,
            ),
            per_status(
                "kube_pod_container_status_last_terminated_timestamp",
                "Last terminated time for a pod container in unix timestamp.",
                Alpha,
                Pod::container_statuses,
                write_last_terminated_timestamp,
            ),
            per_status(
                "kube_pod_container_status_ready",
                "Describes whether the containers readiness check succeeded.",
                Stable,
                Pod::container_statuses,
                write_ready,
            ),
            FamilyGen::counter(
                "kube_pod_container_status_restarts_total",
                "The number of container restarts per container.",
                Stable,
                |p: &Self, s| p.container_statuses().iter().for_each(|cs| write_restarts(cs, s)),
            ),
            per_status(
                "kube_pod_container_status_running",
                "Describes whether the container is currently in running state.",
                Stable,
                Pod::container_statuses,
                write_running,
            ),
            per_status(
                "kube_pod_container_status_terminated",
                "Describes whether the container is currently in terminated state.",
                Stable,
                Pod::container_statuses,
                write_terminated,
            ),
            per_status(
                "kube_pod_container_status_terminated_reason",
                "Describes the reason the container is currently in terminated state.",
                Alpha,
                Pod::container_statuses,
                write_terminated_reason,
            ),
            per_status(
                "kube_pod_container_status_waiting",
                "Describes whether the container is currently in waiting state.",
                Stable,
                Pod::container_statuses,
                write_waiting,
            ),
            per_status(
                "kube_pod_container_status_waiting_reason",
                "Describes the reason the container is currently in waiting state.",
                Stable,
                Pod::container_statuses,
                write_waiting_reason,
            ),
            common::created_family("kube_pod_created", "Unix creation timestamp", Stable),
            common::deletion_family("kube_pod_deletion_timestamp", "Unix deletion timestamp", Alpha),
            FamilyGen::gauge("kube_pod_info", "Information about pod.", Stable, write_info),
            FamilyGen::gauge("kube_pod_ips", "Pod IP addresses", Alpha, |p: &Self, s| {
                for ip in p.status.as_ref().and_then(|st| st.pod_ips.as_deref()).unwrap_or_default() {
                    if let Some(family) = ip_family(&ip.ip) {
                        s.sample([("ip", ip.ip.as_str()), ("ip_family", family)], 1.0);
                    }
                }
            }),
            FamilyGen::gauge(
                "kube_pod_init_container_info",
                "Information about an init container in a pod.",
                Stable,
                |p: &Self, s| write_container_info(s, p.init_containers(), p.init_container_statuses(), true),
            ),
            resources_family(
                "kube_pod_init_container_resource_limits",
                "The number of requested limit resource by an init container.",
                Alpha,
                Pod::init_containers,
                |r| r.limits.as_ref(),
            ),
            resources_family(
                "kube_pod_init_container_resource_requests",
                "The number of requested request resource by an init container.",
                Alpha,
                Pod::init_containers,
                |r| r.requests.as_ref(),
            ),
            per_status(
                "kube_pod_init_container_state_started",
                "Start time in unix timestamp for a pod init container.",
                Alpha,
                Pod::init_container_statuses,
                write_state_started,
            ),
            per_status(
                "kube_pod_init_container_status_last_terminated_reason",
                "Describes the last reason the init container was in terminated state.",
                Alpha,
                Pod::init_container_statuses,
                write_last_terminated_reason,
            ),
            per_status(
                "kube_pod_init_container_status_last_terminated_exitcode",
                "Describes the exit code for the last init container in terminated state.",
                Alpha,
                Pod::init_container_statuses,
                write_last_terminated_exitcode,
            ),
            per_status(
                "kube_pod_init_container_status_last_terminated_timestamp",
                "Last terminated time for a pod init container in unix timestamp.",
                Alpha,
                Pod::init_container_statuses,
                write_last_terminated_timestamp,
            ),
            per_status(
                "kube_pod_init_container_status_ready",
                "Describes whether the init containers readiness check succeeded.",
                Stable,
                Pod::init_container_statuses,
                write_ready,
            ),
            FamilyGen::counter(
                "kube_pod_init_container_status_restarts_total",
                "The number of restarts for the init container.",
                Stable,
                |p: &Self, s| p.init_container_statuses().iter().for_each(|cs| write_restarts(cs, s)),
            ),
            per_status(
                "kube_pod_init_container_status_running",
                "Describes whether the init container is currently in running state.",
                Stable,
                Pod::init_container_statuses,
                write_running,
            ),
            per_status(
                "kube_pod_init_container_status_terminated",
                "Describes whether the init container is currently in terminated state.",
                Stable,
                Pod::init_container_statuses,
                write_terminated,
            ),
            per_status(
                "kube_pod_init_container_status_terminated_reason",
                "Describes the reason the init container is currently in terminated state.",
                Alpha,
                Pod::init_container_statuses,
                write_terminated_reason,
            ),
            per_status(
                "kube_pod_init_container_status_waiting",
                "Describes whether the init container is currently in waiting state.",
                Stable,
                Pod::init_container_statuses,
                write_waiting,
            ),
            per_status(
                "kube_pod_init_container_status_waiting_reason",
                "Describes the reason the init container is currently in waiting state.",
                Alpha,
                Pod::init_container_statuses,
                write_waiting_reason,
            ),
            common::annotations_family(
                "kube_pod_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_pod_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Stable,
                o.labels.clone(),
            ),
            FamilyGen::gauge(
                "kube_pod_overhead_cpu_cores",
                "The pod overhead in regards to cpu cores associated with running a pod.",
                Alpha,
                |p: &Self, s| {
                    if let Some(v) = p.overhead("cpu").and_then(quantity_to_f64) {
                        s.value(v)
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_pod_overhead_memory_bytes",
                "The pod overhead in regards to memory associated with running a pod.",
                Alpha,
                |p: &Self, s| {
                    if let Some(v) = p.overhead("memory").and_then(quantity_value) {
                        s.value(v as f64)
                    }
                },
            ),
            common::owner_family("kube_pod_owner", "Information about the Pod's owner.", Stable),
            FamilyGen::gauge(
                "kube_pod_resourceclaim_info",
                "Information about a DRA ResourceClaim referenced by a pod, one series per pod.spec.resourceClaims entry; claim_name is the pod-local reference and resourceclaim_name is the resolved ResourceClaim object name.",
                Alpha,
                write_resource_claims,
            ),
            FamilyGen::gauge(
                "kube_pod_restart_policy",
                "Describes the restart policy in use by this pod.",
                Stable,
                |p: &Self, s| s.sample([("type", p.spec_str(|sp| &sp.restart_policy))], 1.0),
            ),
            FamilyGen::gauge(
                "kube_pod_runtimeclass_name_info",
                "The runtimeclass associated with the pod.",
                Alpha,
                |p: &Self, s| {
                    if let Some(name) = p.spec.as_ref().and_then(|sp| sp.runtime_class_name.as_deref()) {
                        s.sample([("runtimeclass_name", name)], 1.0)
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_pod_spec_volumes_persistentvolumeclaims_info",
                "Information about persistentvolumeclaim and ephemeral volumes in a pod.",
                Stable,
                |p: &Self, s| write_claim_volumes(p, s, |_| 1.0),
            ),
            FamilyGen::gauge(
                "kube_pod_spec_volumes_persistentvolumeclaims_readonly",
                "Describes whether a persistentvolumeclaim is mounted read only. Ephemeral volumes always report 0 since the ephemeral volume source does not support a read-only flag.",
                Stable,
                |p: &Self, s| write_claim_volumes(p, s, |read_only| bool_f64(read_only == Some(true))),
            ),
            FamilyGen::gauge(
                "kube_pod_start_time",
                "Start time in unix timestamp for a pod.",
                Stable,
                |p: &Self, s| {
                    if let Some(t) = p.status.as_ref().and_then(|st| st.start_time.as_ref()) {
                        s.value(unix_seconds(t))
                    }
                },
            ),
            FamilyGen::gauge("kube_pod_status_phase", "The pods current phase.", Stable, |p: &Self, s| {
                write_one_hot(s, "phase", &PHASES, p.status_str(|st| &st.phase))
            }),
            FamilyGen::gauge(
                "kube_pod_status_qos_class",
                "The pods current qosClass.",
                Alpha,
                |p: &Self, s| write_one_hot(s, "qos_class", &QOS_CLASSES, p.status_str(|st| &st.qos_class)),
            ),
            FamilyGen::gauge(
                "kube_pod_status_ready",
                "Describes whether the pod is ready to serve requests.",
                Stable,
                |p: &Self, s| write_condition(p, s, "Ready"),
            ),
            FamilyGen::gauge(
                "kube_pod_status_ready_time",
                "Readiness achieved time in unix timestamp for a pod.",
                Alpha,
                |p: &Self, s| write_transition_times(p, s, "Ready", "True"),
            ),
            FamilyGen::gauge(
                "kube_pod_status_initialized_time",
                "Initialized time in unix timestamp for a pod.",
                Alpha,
                |p: &Self, s| write_transition_times(p, s, "Initialized", "True"),
            ),
            FamilyGen::gauge(
                "kube_pod_status_container_ready_time",
                "Readiness achieved time in unix timestamp for a pod containers.",
                Alpha,
                |p: &Self, s| write_transition_times(p, s, "ContainersReady", "True"),
            ),
            FamilyGen::gauge("kube_pod_status_reason", "The pod status reasons", Alpha, write_status_reason),
            FamilyGen::gauge(
                "kube_pod_status_disruption_reason",
                "The pod disruption condition reason",
                Alpha,
                |p: &Self, s| {
                    for c in p.conditions().iter().filter(|c| c.type_ == "DisruptionTarget") {
                        let reason = c.reason.as_deref().unwrap_or_default();
                        let reason = if DISRUPTION_REASONS.contains(&reason) { reason } else { "Other" };
                        s.sample([("reason", reason)], 1.0);
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_pod_status_scheduled",
                "Describes the status of the scheduling process for the pod.",
                Stable,
                |p: &Self, s| write_condition(p, s, "PodScheduled"),
            ),
            FamilyGen::gauge(
                "kube_pod_status_scheduled_time",
                "Unix timestamp when pod moved into scheduled status",
                Stable,
                |p: &Self, s| write_transition_times(p, s, "PodScheduled", "True"),
            ),
            FamilyGen::gauge(
                "kube_pod_status_unschedulable",
                "Describes the unschedulable status for the pod.",
                Stable,
                |p: &Self, s| {
                    for _ in
                        p.conditions().iter().filter(|c| c.type_ == "PodScheduled" && c.status == "False")
                    {
                        s.value(1.0)
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_pod_status_unscheduled_time",
                "Unix timestamp when pod moved into unscheduled status",
                Alpha,
                |p: &Self, s| write_transition_times(p, s, "PodScheduled", "False"),
            ),
            FamilyGen::gauge(
                "kube_pod_tolerations",
                "Information about the pod tolerations",
                Alpha,
                write_tolerations,
            ),
            FamilyGen::gauge(
                "kube_pod_nodeselectors",
                "Describes the Pod nodeSelectors.",
                Alpha,
                |p: &Self, s| {
                    let selectors = p.spec.as_ref().and_then(|sp| sp.node_selector.as_ref());
                    let empty = BTreeMap::new();
                    let selectors = selectors.unwrap_or(&empty);
                    let names = common::label_names("nodeselector", selectors.keys().map(String::as_str));
                    s.sample(names.iter().zip(selectors.values().map(String::as_str)), 1.0);
                },
            )
            .opt_in(),
            FamilyGen::gauge(
                "kube_pod_service_account",
                "The service account for a pod.",
                Alpha,
                |p: &Self, s| s.sample([("service_account", p.spec_str(|sp| &sp.service_account_name))], 1.0),
            ),
            FamilyGen::gauge("kube_pod_scheduler", "The scheduler for a pod.", Alpha, |p: &Self, s| {
                s.sample([("name", p.spec_str(|sp| &sp.scheduler_name))], 1.0)
            }),
        ]
    }
}

/// Go's `Time.Unix()` of an optional time: unset is Go's zero time.
fn go_unix(t: Option<&Time>) -> f64 {
    t.map_or(GO_ZERO_TIME_UNIX, unix_seconds)
}

fn running(cs: &ContainerStatus) -> Option<&ContainerStateRunning> {
    cs.state.as_ref()?.running.as_ref()
}

fn terminated(cs: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    cs.state.as_ref()?.terminated.as_ref()
}

fn waiting(cs: &ContainerStatus) -> Option<&ContainerStateWaiting> {
    cs.state.as_ref()?.waiting.as_ref()
}

fn last_terminated(cs: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    cs.last_state.as_ref()?.terminated.as_ref()
}

/// The latest `finishedAt` of the terminated containers, when it is after the epoch (upstream
/// treats 0 as "none yet", so only a positive time is written).
fn completion_time(p: &Pod) -> Option<f64> {
    let finished = p.container_statuses().iter().filter_map(terminated);
    finished.map(|t| go_unix(t.finished_at.as_ref())).reduce(f64::max).filter(|t| *t > 0.0)
}

/// A gauge with samples written per container status by `write`.
fn per_status(
    name: &'static str,
    help: &'static str,
    stability: Stability,
    statuses: Statuses,
    write: fn(&ContainerStatus, &mut Sink<'_>),
) -> FamilyGen<Pod> {
    FamilyGen::gauge(name, help, stability, move |p: &Pod, s| statuses(p).iter().for_each(|cs| write(cs, s)))
}

fn write_state_started(cs: &ContainerStatus, s: &mut Sink<'_>) {
    let started = match (running(cs), terminated(cs)) {
        (Some(r), _) => r.started_at.as_ref(),
        (None, Some(t)) => t.started_at.as_ref(),
        (None, None) => return,
    };
    s.sample([("container", cs.name.as_str())], go_unix(started));
}

fn write_last_terminated_reason(cs: &ContainerStatus, s: &mut Sink<'_>) {
    if let Some(t) = last_terminated(cs) {
        s.sample([("container", cs.name.as_str()), ("reason", t.reason.as_deref().unwrap_or_default())], 1.0);
    }
}

fn write_last_terminated_exitcode(cs: &ContainerStatus, s: &mut Sink<'_>) {
    if let Some(t) = last_terminated(cs) {
        s.sample([("container", cs.name.as_str())], t.exit_code.into());
    }
}

fn write_last_terminated_timestamp(cs: &ContainerStatus, s: &mut Sink<'_>) {
    if let Some(t) = last_terminated(cs) {
        s.sample([("container", cs.name.as_str())], go_unix(t.finished_at.as_ref()));
    }
}

fn write_ready(cs: &ContainerStatus, s: &mut Sink<'_>) {
    s.sample([("container", cs.name.as_str())], bool_f64(cs.ready));
}

fn write_restarts(cs: &ContainerStatus, s: &mut Sink<'_>) {
    s.sample([("container", cs.name.as_str())], cs.restart_count.into());
}

fn write_running(cs: &ContainerStatus, s: &mut Sink<'_>) {
    s.sample([("container", cs.name.as_str())], bool_f64(running(cs).is_some()));
}

fn write_terminated(cs: &ContainerStatus, s: &mut Sink<'_>) {
    s.sample([("container", cs.name.as_str())], bool_f64(terminated(cs).is_some()));
}

fn write_terminated_reason(cs: &ContainerStatus, s: &mut Sink<'_>) {
    if let Some(t) = terminated(cs) {
        s.sample([("container", cs.name.as_str()), ("reason", t.reason.as_deref().unwrap_or_default())], 1.0);
    }
}

fn write_waiting(cs: &ContainerStatus, s: &mut Sink<'_>) {
    s.sample([("container", cs.name.as_str())], bool_f64(waiting(cs).is_some()));
}

fn write_waiting_reason(cs: &ContainerStatus, s: &mut Sink<'_>) {
    if let Some(w) = waiting(cs) {
        s.sample([("container", cs.name.as_str()), ("reason", w.reason.as_deref().unwrap_or_default())], 1.0);
    }
}

/// One sample per (spec container, status of the same name) pair, in spec order; init containers
/// also carry their `restartPolicy` (set for sidecars).
fn write_container_info(
    s: &mut Sink<'_>,
    containers: &[Container],
    statuses: &[ContainerStatus],
    init: bool,
) {
    for c in containers {
        for cs in statuses.iter().filter(|cs| cs.name == c.name) {
            let labels = [
                ("container", cs.name.as_str()),
                ("image_spec", c.image.as_deref().unwrap_or_default()),
                ("image", cs.image.as_str()),
                ("image_id", cs.image_id.as_str()),
                ("container_id", cs.container_id.as_deref().unwrap_or_default()),
            ];
            let restart_policy =
                init.then(|| ("restart_policy", c.restart_policy.as_deref().unwrap_or_default()));
            s.sample(labels.into_iter().chain(restart_policy), 1.0);
        }
    }
}

/// Requests or limits of every container, one sample per resource upstream knows a unit for.
/// Upstream ranges over a Go map, so its order within a container is random; ours is by name.
fn resources_family(
    name: &'static str,
    help: &'static str,
    stability: Stability,
    containers: Containers,
    list: ResourceList,
) -> FamilyGen<Pod> {
    FamilyGen::gauge(name, help, stability, move |p: &Pod, s| {
        let node = p.spec_str(|sp| &sp.node_name);
        for c in containers(p) {
            let Some(resources) = c.resources.as_ref().and_then(list) else {
                continue;
            };
            for (resource, quantity) in resources {
                if let Some((unit, value)) = resource_sample(resource, quantity) {
                    let resource = sanitize_resource_name(resource);
                    let labels = [
                        ("container", c.name.as_str()),
                        ("node", node),
                        ("resource", resource.as_str()),
                        ("unit", unit),
                    ];
                    s.sample(labels, value);
                }
            }
        }
    })
}

/// Unit and value of one container resource: cores for cpu (in thousandths), bytes for memory,
/// storage, hugepages and attachable volumes, integers for extended resources. Anything else
/// (e.g. `kubernetes.io/*`) and malformed quantities give no sample.
fn resource_sample(name: &str, q: &Quantity) -> Option<(&'static str, f64)> {
    let whole = |unit| quantity_value(q).map(|v| (unit, v as f64));
    match name {
        "cpu" => quantity_to_f64(q).map(|v| ("core", v)),
        "memory" | "storage" | "ephemeral-storage" => whole("byte"),
        _ if is_huge_page_resource_name(name) || is_attachable_volume_resource_name(name) => whole("byte"),
        _ if is_extended_resource_name(name) => whole("integer"),
        _ => None,
    }
}

fn write_info(p: &Pod, s: &mut Sink<'_>) {
    let owners = p.metadata.owner_references.as_deref().unwrap_or_default();
    let controller = owners.iter().find(|r| r.controller == Some(true));
    let host_network = p.spec.as_ref().and_then(|sp| sp.host_network).unwrap_or(false);
    s.sample(
        [
            ("host_ip", p.status_str(|st| &st.host_ip)),
            ("pod_ip", p.status_str(|st| &st.pod_ip)),
            ("node", p.spec_str(|sp| &sp.node_name)),
            ("created_by_kind", controller.map_or("", |r| r.kind.as_str())),
            ("created_by_name", controller.map_or("", |r| r.name.as_str())),
            ("priority_class", p.spec_str(|sp| &sp.priority_class_name)),
            ("host_network", if host_network { "true" } else { "false" }),
        ],
        1.0,
    );
}

/// The family of an address as upstream reads it with `netip.ParseAddr(..).Unmap()`: IPv4-mapped
/// IPv6 counts as `4`, a zone is allowed on IPv6 only, and unparsable addresses give `None`.
fn ip_family(ip: &str) -> Option<&'static str> {
    // Like netip, the first '.', ':' or '%' decides how the string is read.
    match ip.bytes().find(|b| matches!(b, b'.' | b':' | b'%'))? {
        b'.' => ip.parse::<Ipv4Addr>().ok().map(|_| "4"),
        b':' => {
            let addr = match ip.split_once('%') {
                Some((_, "")) => return None,
                Some((addr, _zone)) => addr,
                None => ip,
            };
            let v6: Ipv6Addr = addr.parse().ok()?;
            Some(if v6.to_ipv4_mapped().is_some() { "4" } else { "6" })
        }
        _ => None,
    }
}

/// One sample per `spec.resourceClaims` entry that names a claim or a template; a template's
/// claim name is resolved through `status.resourceClaimStatuses` and is empty until created.
fn write_resource_claims(p: &Pod, s: &mut Sink<'_>) {
    let claims = p.spec.as_ref().and_then(|sp| sp.resource_claims.as_deref()).unwrap_or_default();
    if claims.is_empty() {
        return;
    }
    let statuses = p.status.as_ref().and_then(|st| st.resource_claim_statuses.as_deref()).unwrap_or_default();
    let resolved: HashMap<&str, &str> = statuses
        .iter()
        .filter_map(|st| Some((st.name.as_str(), st.resource_claim_name.as_deref()?)))
        .collect();
    for rc in claims {
        let template = rc.resource_claim_template_name.as_deref();
        let claim = match (rc.resource_claim_name.as_deref(), template) {
            (None, None) => continue,
            (Some(name), _) => name,
            (None, Some(_)) => resolved.get(rc.name.as_str()).copied().unwrap_or_default(),
        };
        let labels = [
            ("claim_name", rc.name.as_str()),
            ("resourceclaim_name", claim),
            ("resourceclaim_template_name", template.unwrap_or_default()),
        ];
        s.sample(labels, 1.0);
    }
}

/// PVC volumes (`ephemeral="false"`) and generic ephemeral volumes, whose claim is named
/// `<pod>-<volume>` (`ephemeral="true"`, never read-only). `value` maps a PVC's `readOnly` to the
/// sample value.
fn write_claim_volumes(p: &Pod, s: &mut Sink<'_>, value: fn(Option<bool>) -> f64) {
    for v in p.spec.as_ref().and_then(|sp| sp.volumes.as_deref()).unwrap_or_default() {
        if let Some(pvc) = &v.persistent_volume_claim {
            let labels = [
                ("volume", v.name.as_str()),
                ("persistentvolumeclaim", pvc.claim_name.as_str()),
                ("ephemeral", "false"),
            ];
            s.sample(labels, value(pvc.read_only));
        } else if v.ephemeral.is_some() {
            let claim = format!("{}-{}", p.name(), v.name);
            let labels = [
                ("volume", v.name.as_str()),
                ("persistentvolumeclaim", claim.as_str()),
                ("ephemeral", "true"),
            ];
            s.sample(labels, value(Some(false)));
        }
    }
}

/// One sample per known value, 1 on `current`; nothing when `current` is empty.
fn write_one_hot(s: &mut Sink<'_>, key: &'static str, values: &[&str], current: &str) {
    if current.is_empty() {
        return;
    }
    for v in values {
        s.sample([(key, *v)], bool_f64(current == *v));
    }
}

/// `condition="true|false|unknown"` samples for every condition of `type_`.
fn write_condition(p: &Pod, s: &mut Sink<'_>, type_: &str) {
    for c in p.conditions().iter().filter(|c| c.type_ == type_) {
        for (label, status) in [("true", "True"), ("false", "False"), ("unknown", "Unknown")] {
            s.sample([("condition", label)], bool_f64(c.status == status));
        }
    }
}

/// The transition time of every condition of `type_` with `status`.
fn write_transition_times(p: &Pod, s: &mut Sink<'_>, type_: &str, status: &str) {
    for c in p.conditions().iter().filter(|c| c.type_ == type_ && c.status == status) {
        s.value(go_unix(c.last_transition_time.as_ref()));
    }
}

/// Each known reason found in `status.reason`, a condition's reason or a terminated container's
/// reason, in list order; then `Other` for an unknown `status.reason`.
fn write_status_reason(p: &Pod, s: &mut Sink<'_>) {
    let status_reason = p.status_str(|st| &st.reason);
    let has = |reason: &str| {
        status_reason == reason
            || p.conditions().iter().any(|c| c.reason.as_deref() == Some(reason))
            || p.container_statuses()
                .iter()
                .filter_map(terminated)
                .any(|t| t.reason.as_deref() == Some(reason))
    };
    for reason in STATUS_REASONS.into_iter().filter(|r| has(r)) {
        s.sample([("reason", reason)], 1.0);
    }
    if !status_reason.is_empty() && !STATUS_REASONS.contains(&status_reason) {
        s.sample([("reason", "Other")], 1.0);
    }
}

/// An optional string as Go's zero value.
fn or_empty(field: &Option<String>) -> &str {
    field.as_deref().unwrap_or_default()
}

/// One sample per distinct toleration (upstream drops exact duplicates, keeping the first).
fn write_tolerations(p: &Pod, s: &mut Sink<'_>) {
    let tolerations = p.spec.as_ref().and_then(|sp| sp.tolerations.as_deref()).unwrap_or_default();
    let mut seen = Vec::with_capacity(tolerations.len());
    for t in tolerations {
        let key = (
            or_empty(&t.key),
            or_empty(&t.operator),
            or_empty(&t.value),
            or_empty(&t.effect),
            t.toleration_seconds,
        );
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let seconds = t.toleration_seconds.map(|n| n.to_string()).unwrap_or_default();
        let labels = [
            ("key", key.0),
            ("operator", key.1),
            ("value", key.2),
            ("effect", key.3),
            ("toleration_seconds", seconds.as_str()),
        ];
        s.sample(labels, 1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{common::KeyAllowlist, testing::*};
    use std::sync::Arc;

    #[test]
    fn full_pod_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["app".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["prometheus.io/scrape".into()]))),
        };
        let got = render_yaml::<Pod>(include_str!("fixtures/pod-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/pod-full.prom"));
    }

    #[test]
    fn families_follow_the_reference_table() {
        let families = Pod::families(&FamilyOptions::default());
        assert_eq!(families.len(), 60);
        let opt_in: Vec<_> = families.iter().filter(|f| f.opt_in).map(|f| f.name).collect();
        assert_eq!(opt_in, ["kube_pod_nodeselectors"]);
        let counters: Vec<_> =
            families.iter().filter(|f| f.metric_type.as_str() == "counter").map(|f| f.name).collect();
        assert_eq!(
            counters,
            ["kube_pod_container_status_restarts_total", "kube_pod_init_container_status_restarts_total"]
        );
    }

    #[test]
    fn minimal_pod_writes_only_the_always_present_samples() {
        let got =
            render_yaml::<Pod>("metadata: {name: p, namespace: ns, uid: u-1}\n", &FamilyOptions::default());
        let samples: Vec<&str> = got.lines().filter(|l| !l.starts_with('#')).collect();
        let d = r#"namespace="ns",pod="p",uid="u-1""#;
        assert_eq!(
            samples,
            [
                format!(
                    r#"kube_pod_info{{{d},host_ip="",pod_ip="",node="",created_by_kind="",created_by_name="",priority_class="",host_network="false"}} 1"#
                ),
                format!(r#"kube_pod_owner{{{d},owner_kind="",owner_name="",owner_is_controller=""}} 1"#),
                format!(r#"kube_pod_restart_policy{{{d},type=""}} 1"#),
                format!(r#"kube_pod_nodeselectors{{{d}}} 1"#),
                format!(r#"kube_pod_service_account{{{d},service_account=""}} 1"#),
                format!(r#"kube_pod_scheduler{{{d},name=""}} 1"#),
            ]
        );
        assert_eq!(got.matches("# HELP ").count(), 60);
    }

    const ODD_POD: &str = r#"
metadata:
  name: "odd\"pod"
  namespace: "ns\\with\\backslashes"
  uid: "uid-\n-newline"
  labels:
    app.kubernetes.io/name: "caf\u00e9 \u2603"
    quote: "say \"hi\""
    multi: "line1\nline2"
    back: "C:\\path"
    "\u00fcn\u00efcode-k\u00e9y": v
    conflict.a: "1"
    conflict-a: "2"
spec:
  nodeName: "node\"1"
  containers:
  - name: "c\\1"
    image: "img:\"latest\""
    resources:
      requests: {cpu: lots, memory: 1Gi, nvidia.com/gpu: x2, example.com/bad/name: "1"}
      limits: {cpu: "", memory: 1Zi}
  tolerations:
  - key: "k\n"
    value: "\\"
status:
  phase: Weird
  podIPs: [{ip: ""}, {ip: "1.2.3.4%eth0"}, {ip: "fe80::1%"}]
  conditions:
  - {type: PodScheduled, status: "False", reason: Unschedulable}
  - {type: Ready, status: Maybe}
  containerStatuses:
  - {name: "c\\1", ready: true}
"#;

    #[test]
    fn odd_values_are_escaped_and_bad_quantities_skipped() {
        let options =
            FamilyOptions { labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))), annotations: None };
        let got = render_yaml::<Pod>(ODD_POD, &options);
        assert_valid_exposition(&got);
        let d = r#"namespace="ns\\with\\backslashes",pod="odd\"pod",uid="uid-\n-newline""#;
        let expect = |family: &str, lines: &[&str]| {
            let want: Vec<String> = lines.iter().map(|l| format!("{family}{{{d}{l}")).collect();
            assert_eq!(samples_of(&got, family), want, "{family}");
        };
        expect(
            "kube_pod_labels",
            &[concat!(
                r#",label_app_kubernetes_io_name="café ☃",label_back="C:\\path",label_conflict_a_conflict1="2","#,
                r#"label_conflict_a_conflict2="1",label_multi="line1\nline2",label_quote="say \"hi\"",label__n_code_k_y="v"} 1"#,
            )],
        );
        expect(
            "kube_pod_info",
            &[
                r#",host_ip="",pod_ip="",node="node\"1",created_by_kind="",created_by_name="",priority_class="",host_network="false"} 1"#,
            ],
        );
        expect(
            "kube_pod_container_info",
            &[r#",container="c\\1",image_spec="img:\"latest\"",image="",image_id="",container_id=""} 1"#],
        );
        // Only the well-formed quantity survives; `example.com/bad/name` is no extended resource.
        expect(
            "kube_pod_container_resource_requests",
            &[r#",container="c\\1",node="node\"1",resource="memory",unit="byte"} 1.073741824e+09"#],
        );
        expect("kube_pod_container_resource_limits", &[]);
        expect("kube_pod_container_status_ready", &[r#",container="c\\1"} 1"#]);
        expect("kube_pod_container_status_running", &[r#",container="c\\1"} 0"#]);
        expect("kube_pod_container_state_started", &[]);
        expect("kube_pod_ips", &[]);
        expect(
            "kube_pod_status_phase",
            &[
                r#",phase="Pending"} 0"#,
                r#",phase="Succeeded"} 0"#,
                r#",phase="Failed"} 0"#,
                r#",phase="Unknown"} 0"#,
                r#",phase="Running"} 0"#,
            ],
        );
        expect(
            "kube_pod_status_ready",
            &[r#",condition="true"} 0"#, r#",condition="false"} 0"#, r#",condition="unknown"} 0"#],
        );
        expect("kube_pod_status_unschedulable", &["} 1"]);
        expect("kube_pod_status_unscheduled_time", &["} -6.21355968e+10"]);
        expect("kube_pod_status_reason", &[]);
        expect(
            "kube_pod_tolerations",
            &[r#",key="k\n",operator="",value="\\",effect="",toleration_seconds=""} 1"#],
        );
    }

    /// Checks every line against the text exposition grammar: a header, or a metric name, an
    /// optional `{name="value",...}` block with only `\\`, `\"` and `\n` escapes, and a value.
    fn assert_valid_exposition(text: &str) {
        assert!(text.ends_with('\n'));
        let name_ok = |n: &str| {
            let mut chars = n.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        for line in text.lines() {
            if let Some(header) = line.strip_prefix("# HELP ").or_else(|| line.strip_prefix("# TYPE ")) {
                assert!(name_ok(header.split(' ').next().unwrap_or_default()), "{line}");
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
            assert!(value.parse::<f64>().is_ok() || ["NaN", "+Inf", "-Inf"].contains(&value), "{line}");
            let (name, mut rest) = series.split_once('{').unwrap_or((series, ""));
            assert!(name_ok(name), "{line}");
            if rest.is_empty() {
                continue;
            }
            loop {
                let (label, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("bad label: {line}"));
                assert!(name_ok(label), "{line}");
                let mut chars = after.char_indices();
                let end = loop {
                    match chars.next() {
                        Some((_, '\\')) => {
                            assert!(matches!(chars.next(), Some((_, '\\' | '"' | 'n'))), "{line}")
                        }
                        Some((i, '"')) => break i,
                        Some(_) => {}
                        None => panic!("unterminated value: {line}"),
                    }
                };
                match &after[end + 1..] {
                    "}" => break,
                    more => rest = more.strip_prefix(',').unwrap_or_else(|| panic!("bad separator: {line}")),
                }
            }
        }
    }
}
