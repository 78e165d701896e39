//! The synthetic cluster: what is created (realistic shapes: two containers with requests and
//! limits, labels and annotations as Deployments and Helm charts leave them, owner references,
//! a full Running status), how fast (a bounded number of concurrent requests through one
//! client), and the churn and probe writes of the measurements.
//!
//! Every object is created, then its status posted with a merge patch on `/status` (creation
//! drops status), so no controller is needed. Per workload `w` (one Deployment, its ReplicaSet,
//! a Service, an EndpointSlice, a ConfigMap and a Secret) there are `pods / workloads` pods.

use crate::{Error, Result};
use futures::{StreamExt, stream};
use http::{Method, Request, header};
use kube::Client;
use serde_json::{Value, json};
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::time::Instant;

/// How many objects of each kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    /// Pods, spread evenly over the workloads.
    pub pods: usize,
    /// Nodes; pods are spread evenly over them.
    pub nodes: usize,
    /// Namespaces; workloads are spread evenly over them.
    pub namespaces: usize,
    /// Deployments, and as many ReplicaSets, Services, EndpointSlices, ConfigMaps and Secrets.
    pub workloads: usize,
}

impl Scale {
    /// 10,000 pods, 100 nodes, 20 namespaces, 1,000 workloads.
    pub const QUICK: Scale = Scale { pods: 10_000, nodes: 100, namespaces: 20, workloads: 1_000 };
    /// Ten times [`Scale::QUICK`].
    pub const FULL: Scale = Scale { pods: 100_000, nodes: 1_000, namespaces: 200, workloads: 10_000 };

    /// Namespace of workload `w`.
    pub fn namespace_of(&self, w: usize) -> String {
        namespace_name(w % self.namespaces)
    }

    /// Pods of workload `w`.
    pub fn pods_of(&self, w: usize) -> usize {
        self.pods / self.workloads + usize::from(w < self.pods % self.workloads)
    }

    /// Total objects created.
    pub fn objects(&self) -> usize {
        self.pods + self.nodes + self.namespaces + 6 * self.workloads
    }
}

/// `bench-007`.
pub fn namespace_name(i: usize) -> String {
    format!("bench-{i:03}")
}

/// `app-00042`: the Deployment, Service, and the prefix of everything else of workload `w`.
pub fn workload_name(w: usize) -> String {
    format!("app-{w:05}")
}

fn node_name(i: usize) -> String {
    format!("bench-node-{i:04}")
}

/// splitmix64: deterministic pseudo-random bits for hashes, IDs and suffixes.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hex64(seed: u64) -> String {
    format!("{:016x}{:016x}{:016x}{:016x}", mix(seed), mix(seed + 1), mix(seed + 2), mix(seed + 3))
}

/// The ReplicaSet's pod-template-hash of workload `w` (10 characters as the controller writes).
fn template_hash(w: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h = mix(w as u64 ^ 0x5eed);
    (0..10)
        .map(|_| {
            let c = ALPHABET[(h % ALPHABET.len() as u64) as usize] as char;
            h /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// Five base-36 characters, distinct for distinct `j` below 36^5.
fn suffix(j: usize, w: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut v = (j as u64 * 7919 + w as u64) % 60_466_176;
    (0..5)
        .map(|_| {
            let c = ALPHABET[(v % 36) as usize] as char;
            v /= 36;
            c
        })
        .collect()
}

const TIERS: [&str; 4] = ["frontend", "backend", "cache", "batch"];
const STARTED: &str = "2026-11-20T08:00:00Z";
const READY_AT: &str = "2026-11-20T08:00:12Z";

/// Pod `j` of workload `w`: name and global index.
pub fn pod_name(w: usize, j: usize) -> String {
    format!("{}-{}-{}", workload_name(w), template_hash(w), suffix(j, w))
}

fn pod_ip(p: usize) -> String {
    format!("10.{}.{}.{}", 64 + p / 65_536, (p / 256) % 256, p % 256)
}

fn node_ip(i: usize) -> String {
    format!("10.1.{}.{}", i / 250, i % 250 + 1)
}

fn app_labels(w: usize) -> serde_json::Map<String, Value> {
    let name = workload_name(w);
    let mut m = serde_json::Map::new();
    m.insert("app".into(), json!(name));
    m.insert("app.kubernetes.io/name".into(), json!(name));
    m.insert("app.kubernetes.io/instance".into(), json!(format!("{name}-prod")));
    m.insert("app.kubernetes.io/version".into(), json!(format!("1.{}.{}", w % 9, w % 4)));
    m.insert("app.kubernetes.io/part-of".into(), json!(format!("team-{}", w % 17)));
    m.insert("app.kubernetes.io/managed-by".into(), json!("Helm"));
    m.insert("tier".into(), json!(TIERS[w % 4]));
    m
}

fn containers(w: usize) -> Value {
    let name = workload_name(w);
    json!([
        {
            "name": "app",
            "image": format!("registry.example.com/team-{}/{name}:1.{}.{}", w % 17, w % 9, w % 4),
            "imagePullPolicy": "IfNotPresent",
            "args": ["--config=/etc/app/app.properties", "--listen=:8080"],
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                      {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
            "env": [
                {"name": "APP_NAME", "value": name},
                {"name": "LOG_LEVEL", "value": "info"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": format!("{name}-secret"), "key": "password"}}},
            ],
            "resources": {
                "requests": {"cpu": "100m", "memory": "128Mi"},
                "limits": {"cpu": "500m", "memory": "256Mi"},
            },
            "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080, "scheme": "HTTP"},
                               "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
                              "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
            "volumeMounts": [{"name": "config", "mountPath": "/etc/app", "readOnly": true},
                             {"name": "tmp", "mountPath": "/tmp"}],
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        },
        {
            "name": "proxy",
            "image": "registry.example.com/mesh/proxy:1.31.2",
            "imagePullPolicy": "IfNotPresent",
            "args": ["proxy", "sidecar", "--concurrency=2"],
            "ports": [{"name": "http-envoy-prom", "containerPort": 15090, "protocol": "TCP"}],
            "resources": {
                "requests": {"cpu": "50m", "memory": "64Mi"},
                "limits": {"cpu": "200m", "memory": "128Mi"},
            },
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        },
    ])
}

fn pod_spec(w: usize) -> Value {
    json!({
        "containers": containers(w),
        "volumes": [
            {"name": "config", "configMap": {"name": format!("{}-config", workload_name(w)), "defaultMode": 420}},
            {"name": "tmp", "emptyDir": {}},
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default",
        "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "fsGroup": 2000},
        "schedulerName": "default-scheduler",
        "priority": 0,
        "enableServiceLinks": true,
        "preemptionPolicy": "PreemptLowerPriority",
    })
}

fn pod_object(scale: &Scale, w: usize, j: usize, p: usize, rs_uid: &str) -> Value {
    let name = workload_name(w);
    let hash = template_hash(w);
    let mut labels = app_labels(w);
    labels.insert("pod-template-hash".into(), json!(hash));
    let mut spec = pod_spec(w);
    spec["nodeName"] = json!(node_name(p % scale.nodes));
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(w, j),
            "namespace": scale.namespace_of(w),
            "labels": labels,
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "9090",
                "kubectl.kubernetes.io/restartedAt": STARTED,
                "checksum/config": hex64(w as u64),
            },
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{name}-{hash}"),
                "uid": rs_uid, "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": spec,
    })
}

fn pod_status(scale: &Scale, w: usize, p: usize) -> Value {
    let name = workload_name(w);
    let node = p % scale.nodes;
    let restarted = p.is_multiple_of(7);
    let condition =
        |t: &str| json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": READY_AT});
    let running = json!({"running": {"startedAt": STARTED}});
    let app_last = if restarted {
        json!({"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": STARTED, "finishedAt": READY_AT,
                              "containerID": format!("containerd://{}", hex64(p as u64 * 31 + 7))}})
    } else {
        json!({})
    };
    json!({"status": {
        "phase": "Running",
        "conditions": [condition("PodReadyToStartContainers"), condition("Initialized"), condition("Ready"),
                       condition("ContainersReady"), condition("PodScheduled")],
        "hostIP": node_ip(node),
        "hostIPs": [{"ip": node_ip(node)}],
        "podIP": pod_ip(p),
        "podIPs": [{"ip": pod_ip(p)}],
        "startTime": STARTED,
        "containerStatuses": [
            {"name": "app", "ready": true, "started": true, "restartCount": if restarted { 1 } else { 0 },
             "image": format!("registry.example.com/team-{}/{name}:1.{}.{}", w % 17, w % 9, w % 4),
             "imageID": format!("registry.example.com/team-{}/{name}@sha256:{}", w % 17, hex64(w as u64 + 99)),
             "containerID": format!("containerd://{}", hex64(p as u64 * 31)),
             "state": running, "lastState": app_last},
            {"name": "proxy", "ready": true, "started": true, "restartCount": 0,
             "image": "registry.example.com/mesh/proxy:1.31.2",
             "imageID": format!("registry.example.com/mesh/proxy@sha256:{}", hex64(5)),
             "containerID": format!("containerd://{}", hex64(p as u64 * 31 + 1)),
             "state": running, "lastState": {}},
        ],
    }})
}

fn deployment_object(scale: &Scale, w: usize) -> Value {
    let labels = app_labels(w);
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": workload_name(w),
            "namespace": scale.namespace_of(w),
            "labels": labels,
            "annotations": {"deployment.kubernetes.io/revision": "1",
                            "meta.helm.sh/release-name": format!("{}-prod", workload_name(w)),
                            "meta.helm.sh/release-namespace": scale.namespace_of(w)},
        },
        "spec": {
            "replicas": scale.pods_of(w),
            "selector": {"matchLabels": {"app": workload_name(w)}},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec(w)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
    })
}

fn deployment_status(scale: &Scale, w: usize) -> Value {
    let n = scale.pods_of(w);
    json!({"status": {
        "observedGeneration": 1, "replicas": n, "updatedReplicas": n, "readyReplicas": n, "availableReplicas": n,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
             "message": "Deployment has minimum availability.", "lastUpdateTime": READY_AT, "lastTransitionTime": READY_AT},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
             "message": format!("ReplicaSet \"{}-{}\" has successfully progressed.", workload_name(w), template_hash(w)),
             "lastUpdateTime": READY_AT, "lastTransitionTime": STARTED},
        ],
    }})
}

fn replicaset_object(scale: &Scale, w: usize, deployment_uid: &str) -> Value {
    let mut labels = app_labels(w);
    labels.insert("pod-template-hash".into(), json!(template_hash(w)));
    let n = scale.pods_of(w);
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{}-{}", workload_name(w), template_hash(w)),
            "namespace": scale.namespace_of(w),
            "labels": labels,
            "annotations": {"deployment.kubernetes.io/desired-replicas": n.to_string(),
                            "deployment.kubernetes.io/max-replicas": (n + n.div_ceil(4)).to_string(),
                            "deployment.kubernetes.io/revision": "1"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": workload_name(w),
                                 "uid": deployment_uid, "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": {
            "replicas": n,
            "selector": {"matchLabels": {"app": workload_name(w), "pod-template-hash": template_hash(w)}},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec(w)},
        },
    })
}

fn replicaset_status(scale: &Scale, w: usize) -> Value {
    let n = scale.pods_of(w);
    json!({"status": {"observedGeneration": 1, "replicas": n, "fullyLabeledReplicas": n, "readyReplicas": n,
                      "availableReplicas": n}})
}

fn service_object(scale: &Scale, w: usize) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": workload_name(w), "namespace": scale.namespace_of(w), "labels": app_labels(w),
                     "annotations": {"meta.helm.sh/release-name": format!("{}-prod", workload_name(w))}},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": workload_name(w)},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                      {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"}],
        },
    })
}

fn endpointslice_object(scale: &Scale, w: usize) -> Value {
    let endpoints: Vec<Value> = (0..scale.pods_of(w))
        .map(|j| {
            let p = j * scale.workloads + w;
            json!({
                "addresses": [pod_ip(p)],
                "conditions": {"ready": true, "serving": true, "terminating": false},
                "nodeName": node_name(p % scale.nodes),
                "zone": format!("zone-{}", (p % scale.nodes) % 3),
                "targetRef": {"kind": "Pod", "namespace": scale.namespace_of(w), "name": pod_name(w, j)},
            })
        })
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": format!("{}-{}", workload_name(w), suffix(w, 3)),
            "namespace": scale.namespace_of(w),
            "labels": {"kubernetes.io/service-name": workload_name(w),
                       "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                       "app": workload_name(w)},
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "metrics", "port": 9090, "protocol": "TCP"}],
    })
}

fn configmap_object(scale: &Scale, w: usize) -> Value {
    let properties: String =
        (0..12).map(|i| format!("app.setting.{i}={}\n", &hex64(w as u64 * 13 + i)[..24])).collect();
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": format!("{}-config", workload_name(w)), "namespace": scale.namespace_of(w),
                     "labels": app_labels(w)},
        "data": {"app.properties": properties, "log-level": "info"},
    })
}

fn secret_object(scale: &Scale, w: usize) -> Value {
    // Hex digits are valid base64, and 64 of them decode to 48 bytes.
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": format!("{}-secret", workload_name(w)), "namespace": scale.namespace_of(w),
                     "labels": app_labels(w)},
        "type": "Opaque",
        "data": {"username": "YXBw", "password": hex64(w as u64 * 17 + 3)},
    })
}

fn node_object(i: usize) -> Value {
    let name = node_name(i);
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": "m6i.2xlarge",
                "topology.kubernetes.io/region": "bench-1", "topology.kubernetes.io/zone": format!("zone-{}", i % 3),
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                            "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        },
        "spec": {
            "podCIDR": format!("10.{}.{}.0/24", 128 + i / 256, i % 256),
            "podCIDRs": [format!("10.{}.{}.0/24", 128 + i / 256, i % 256)],
            "providerID": format!("bench://bench-1/zone-{}/{name}", i % 3),
        },
    })
}

fn node_status(i: usize) -> Value {
    let name = node_name(i);
    let capacity = json!({"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi",
                          "hugepages-1Gi": "0", "hugepages-2Mi": "0"});
    let allocatable = json!({"cpu": "7910m", "memory": "31Gi", "pods": "110", "ephemeral-storage": "95Gi",
                             "hugepages-1Gi": "0", "hugepages-2Mi": "0"});
    let condition = |t: &str, s: &str, reason: &str| {
        json!({"type": t, "status": s, "reason": reason, "message": format!("kubelet: {reason}"),
               "lastHeartbeatTime": READY_AT, "lastTransitionTime": STARTED})
    };
    json!({"status": {
        "capacity": capacity,
        "allocatable": allocatable,
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID"),
            condition("Ready", "True", "KubeletReady"),
        ],
        "addresses": [{"type": "InternalIP", "address": node_ip(i)}, {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": hex64(i as u64 + 1_000)[..32].to_string(),
            "systemUUID": hex64(i as u64 + 2_000)[..32].to_string(),
            "bootID": hex64(i as u64 + 3_000)[..32].to_string(),
            "kernelVersion": "6.1.0-27-cloud-amd64",
            "osImage": "Debian GNU/Linux 12 (bookworm)",
            "containerRuntimeVersion": "containerd://1.7.24",
            "kubeletVersion": crate::control_plane::KUBERNETES_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }})
}

/// Counts of the requests sent.
#[derive(Default)]
pub struct RequestCounts {
    sent: AtomicU64,
    retried: AtomicU64,
}

/// One client, a bound on requests in flight, and retries for transient errors.
#[derive(Clone)]
pub struct Writer {
    client: Client,
    concurrency: usize,
    counts: Arc<RequestCounts>,
}

const ATTEMPTS: u32 = 10;

fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(status) => matches!(status.code, 409 | 429 | 500 | 502 | 503 | 504),
        kube::Error::SerdeError(_) | kube::Error::BuildRequest(_) => false,
        _ => true,
    }
}

impl Writer {
    /// A writer with at most `concurrency` requests in flight per batch.
    pub fn new(client: Client, concurrency: usize) -> Self {
        Self { client, concurrency: concurrency.max(1), counts: Arc::default() }
    }

    /// Requests sent so far and how many of them were retries.
    pub fn counts(&self) -> (u64, u64) {
        (self.counts.sent.load(Ordering::Relaxed), self.counts.retried.load(Ordering::Relaxed))
    }

    /// Sends one request, retrying transient failures; returns the response body. A create that
    /// finds the object already there (a retried create that had gone through) reads it instead.
    pub async fn send(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<String> {
        let mut delay = Duration::from_millis(50);
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.counts.sent.fetch_add(1, Ordering::Relaxed);
            let content_type =
                if method == Method::PATCH { "application/merge-patch+json" } else { "application/json" };
            let req = Request::builder()
                .method(method.clone())
                .uri(path)
                .header(header::CONTENT_TYPE, content_type)
                .body(body.clone().unwrap_or_default())
                .map_err(|e| Error::Parse {
                    what: format!("request {method} {path}"),
                    detail: e.to_string(),
                })?;
            match self.client.request_text(req).await {
                Ok(text) => return Ok(text),
                Err(kube::Error::Api(status)) if status.code == 409 && method == Method::POST => {
                    let name = body
                        .as_deref()
                        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
                        .and_then(|v| v.pointer("/metadata/name").and_then(Value::as_str).map(String::from))
                        .unwrap_or_default();
                    return Box::pin(self.send(Method::GET, &format!("{path}/{name}"), None)).await;
                }
                Err(e) if transient(&e) && attempt < ATTEMPTS => {
                    self.counts.retried.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(source) => {
                    return Err(Error::Kube {
                        what: format!("{method} {path} ({attempt} attempts)"),
                        source,
                    });
                }
            }
        }
    }

    async fn create(&self, collection: &str, object: &Value) -> Result<String> {
        let body = serde_json::to_vec(object).map_err(|e| Error::Parse {
            what: format!("an object for {collection}"),
            detail: e.to_string(),
        })?;
        let text = self.send(Method::POST, collection, Some(body)).await?;
        let created: Value = serde_json::from_str(&text).map_err(|e| Error::Parse {
            what: format!("the answer of POST {collection}"),
            detail: e.to_string(),
        })?;
        Ok(created.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default().to_string())
    }

    async fn patch(&self, path: &str, patch: &Value) -> Result<()> {
        let body = serde_json::to_vec(patch)
            .map_err(|e| Error::Parse { what: format!("a patch for {path}"), detail: e.to_string() })?;
        self.send(Method::PATCH, path, Some(body)).await.map(drop)
    }

    /// Runs `f(i)` for `i` in `0..n` with the bound on concurrency, printing progress.
    async fn each<F, Fut, T>(&self, what: &str, n: usize, f: F) -> Result<Vec<T>>
    where
        F: Fn(usize) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let started = Instant::now();
        let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
        let mut done = 0usize;
        let mut results = stream::iter(0..n)
            .map(|i| {
                let fut = f(i);
                async move { (i, fut.await) }
            })
            .buffer_unordered(self.concurrency);
        let mut last_report = Instant::now();
        while let Some((i, r)) = results.next().await {
            out[i] = Some(r?);
            done += 1;
            if last_report.elapsed() > Duration::from_secs(10) {
                last_report = Instant::now();
                eprintln!(
                    "bench: load: {what} {done}/{n} ({:.0}/s)",
                    done as f64 / started.elapsed().as_secs_f64()
                );
            }
        }
        eprintln!("bench: load: {n} {what} in {:.1?}", started.elapsed());
        Ok(out.into_iter().flatten().collect())
    }
}

/// What loading took.
#[derive(Clone, Debug)]
pub struct LoadStats {
    /// Wall time.
    pub elapsed: Duration,
    /// Requests sent (creates, status patches, retries).
    pub requests: u64,
    /// Retries among them.
    pub retries: u64,
}

/// Creates the synthetic cluster of `scale` through `writer`.
pub async fn load(writer: &Writer, scale: &Scale) -> Result<LoadStats> {
    let started = Instant::now();
    let s = *scale;
    writer
        .each("namespaces", s.namespaces, |i| async move {
            let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
                "name": namespace_name(i), "labels": {"team": format!("team-{}", i % 17), "environment": "production"}}});
            writer.create("/api/v1/namespaces", &ns).await
        })
        .await?;
    let nodes = async {
        writer
            .each("nodes", s.nodes, |i| async move {
                writer.create("/api/v1/nodes", &node_object(i)).await?;
                writer.patch(&format!("/api/v1/nodes/{}/status", node_name(i)), &node_status(i)).await
            })
            .await
    };
    // Deployments, then their ReplicaSets (owned by UID), then the pods (owned by UID).
    let pods = async {
        let deployment_uids = writer
            .each("deployments", s.workloads, |w| async move {
                let ns = s.namespace_of(w);
                let uid = writer
                    .create(&format!("/apis/apps/v1/namespaces/{ns}/deployments"), &deployment_object(&s, w))
                    .await?;
                writer
                    .patch(
                        &format!("/apis/apps/v1/namespaces/{ns}/deployments/{}/status", workload_name(w)),
                        &deployment_status(&s, w),
                    )
                    .await?;
                Ok(uid)
            })
            .await?;
        let deployment_uids = &deployment_uids;
        let rs_uids = writer
            .each("replicasets", s.workloads, |w| async move {
                let ns = s.namespace_of(w);
                let uid = writer
                    .create(
                        &format!("/apis/apps/v1/namespaces/{ns}/replicasets"),
                        &replicaset_object(&s, w, &deployment_uids[w]),
                    )
                    .await?;
                writer
                    .patch(
                        &format!(
                            "/apis/apps/v1/namespaces/{ns}/replicasets/{}-{}/status",
                            workload_name(w),
                            template_hash(w)
                        ),
                        &replicaset_status(&s, w),
                    )
                    .await?;
                Ok(uid)
            })
            .await?;
        let rs_uids = &rs_uids;
        writer
            .each("pods", s.pods, |p| async move {
                let (w, j) = (p % s.workloads, p / s.workloads);
                let ns = s.namespace_of(w);
                writer
                    .create(&format!("/api/v1/namespaces/{ns}/pods"), &pod_object(&s, w, j, p, &rs_uids[w]))
                    .await?;
                writer
                    .patch(
                        &format!("/api/v1/namespaces/{ns}/pods/{}/status", pod_name(w, j)),
                        &pod_status(&s, w, p),
                    )
                    .await
            })
            .await
    };
    let rest = async {
        writer
            .each("services, endpointslices, configmaps, secrets", s.workloads, |w| async move {
                let ns = s.namespace_of(w);
                writer.create(&format!("/api/v1/namespaces/{ns}/services"), &service_object(&s, w)).await?;
                writer
                    .create(
                        &format!("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"),
                        &endpointslice_object(&s, w),
                    )
                    .await?;
                writer
                    .create(&format!("/api/v1/namespaces/{ns}/configmaps"), &configmap_object(&s, w))
                    .await?;
                writer.create(&format!("/api/v1/namespaces/{ns}/secrets"), &secret_object(&s, w)).await
            })
            .await
    };
    let (nodes, pods, rest) = tokio::join!(nodes, pods, rest);
    nodes?;
    pods?;
    rest?;
    let (requests, retries) = writer.counts();
    Ok(LoadStats { elapsed: started.elapsed(), requests, retries })
}

/// A resource whose objects the readiness check counts, with the family that has exactly one
/// series per object in both exporters.
#[derive(Clone, Debug)]
pub struct Counted {
    /// `--resources` name and the `?resources=` filter.
    pub resource: &'static str,
    /// Line prefix of the one-per-object family, e.g. `kube_pod_info{`.
    pub family: &'static str,
    /// Collection path for counting in the API.
    pub path: &'static str,
    /// Objects in the cluster.
    pub expected: u64,
}

/// The counted resources, pods last (the biggest, so the last to be complete).
pub const COUNTED: &[(&str, &str, &str)] = &[
    ("namespaces", "kube_namespace_created{", "/api/v1/namespaces"),
    ("nodes", "kube_node_info{", "/api/v1/nodes"),
    ("deployments", "kube_deployment_created{", "/apis/apps/v1/deployments"),
    ("replicasets", "kube_replicaset_created{", "/apis/apps/v1/replicasets"),
    ("services", "kube_service_info{", "/api/v1/services"),
    ("endpointslices", "kube_endpointslice_info{", "/apis/discovery.k8s.io/v1/endpointslices"),
    ("configmaps", "kube_configmap_info{", "/api/v1/configmaps"),
    ("secrets", "kube_secret_info{", "/api/v1/secrets"),
    ("pods", "kube_pod_info{", "/api/v1/pods"),
];

/// How many objects of each counted resource the API server holds (including those the API
/// server made itself, like the `default` namespace).
pub async fn expected_counts(client: &Client) -> Result<Vec<Counted>> {
    let mut out = Vec::new();
    for &(resource, family, path) in COUNTED {
        let mut total = 0u64;
        let mut cont = String::new();
        loop {
            // Metadata only: cheap even for 100k pods when the server does not give a count.
            let uri = if cont.is_empty() {
                format!("{path}?limit=500")
            } else {
                format!("{path}?limit=500&continue={cont}")
            };
            let req = Request::get(&uri)
                .header(header::ACCEPT, "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
                .body(Vec::new())
                .map_err(|e| Error::Parse { what: format!("request GET {uri}"), detail: e.to_string() })?;
            let list: Value = client
                .request(req)
                .await
                .map_err(|source| Error::Kube { what: format!("list {resource}"), source })?;
            let items = list.get("items").and_then(Value::as_array).map_or(0, Vec::len) as u64;
            total += items;
            if let Some(remaining) = list.pointer("/metadata/remainingItemCount").and_then(Value::as_u64) {
                total += remaining;
                break;
            }
            match list.pointer("/metadata/continue").and_then(Value::as_str) {
                Some(c) if !c.is_empty() => cont = c.to_string(),
                _ => break,
            }
        }
        out.push(Counted { resource, family, path, expected: total });
    }
    Ok(out)
}

/// What a churn window achieved.
#[derive(Clone, Debug, Default)]
pub struct ChurnStats {
    /// Patches that succeeded.
    pub updates: u64,
    /// Patches that failed after retries.
    pub failed: u64,
    /// Wall time from the first to the last answer.
    pub elapsed: Duration,
}

impl ChurnStats {
    /// Updates per second achieved.
    pub fn rate(&self) -> f64 {
        self.updates as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Patches a label and an annotation of pods, round-robin over every pod, at `rate` per second
/// for `duration`, with at most `inflight` requests outstanding. `seq` numbers the patches
/// across windows so every patch changes something.
pub async fn churn(
    writer: &Writer,
    scale: &Scale,
    rate: f64,
    duration: Duration,
    inflight: usize,
    seq: &AtomicU64,
) -> ChurnStats {
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let started = Instant::now();
    let first = seq.fetch_add(total, Ordering::Relaxed);
    let s = *scale;
    let results: Vec<bool> = stream::iter(0..total)
        .map(|i| async move {
            tokio::time::sleep_until(started + Duration::from_secs_f64(i as f64 / rate)).await;
            let n = first + i;
            // A stride coprime with the pod count visits every pod before repeating.
            let p = ((n as u128 * 7_919) % s.pods as u128) as usize;
            let (w, j) = (p % s.workloads, p / s.workloads);
            let path = format!("/api/v1/namespaces/{}/pods/{}", s.namespace_of(w), pod_name(w, j));
            let patch = json!({"metadata": {
                "labels": {"bench-churn": format!("g{}", n % 10)},
                "annotations": {"bench.statefleet.io/seq": n.to_string()},
            }});
            writer.patch(&path, &patch).await.is_ok()
        })
        .buffer_unordered(inflight)
        .collect()
        .await;
    let updates = results.iter().filter(|ok| **ok).count() as u64;
    ChurnStats { updates, failed: total - updates, elapsed: started.elapsed() }
}

/// Sets `spec.replicas` of workload `w`'s Deployment.
pub async fn set_replicas(writer: &Writer, scale: &Scale, w: usize, replicas: u64) -> Result<()> {
    let path = format!("/apis/apps/v1/namespaces/{}/deployments/{}", scale.namespace_of(w), workload_name(w));
    writer.patch(&path, &json!({"spec": {"replicas": replicas}})).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_valid() {
        let s = Scale { pods: 2_000, nodes: 10, namespaces: 3, workloads: 100 };
        let mut seen = std::collections::HashSet::new();
        for p in 0..s.pods {
            let (w, j) = (p % s.workloads, p / s.workloads);
            let name = pod_name(w, j);
            assert!(
                name.len() < 64
                    && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            );
            assert!(seen.insert((s.namespace_of(w), name)), "duplicate pod {p}");
        }
        assert_eq!((0..s.workloads).map(|w| s.pods_of(w)).sum::<usize>(), s.pods);
        let ips: std::collections::HashSet<_> = (0..70_000).map(pod_ip).collect();
        assert_eq!(ips.len(), 70_000);
    }
}
