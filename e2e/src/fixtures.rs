//! Test objects: `make_<kind>` gives a minimal valid object as JSON, [`Fixture::set`] changes any
//! field by JSON pointer, and [`Fixture::typed`] turns it into the k8s-openapi type.
//!
//! ```text
//! let d: Deployment = make_deployment("web", 2).set("/spec/paused", true).typed();
//! ```

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// Image used by every container; it is never pulled (there is no kubelet).
pub const IMAGE: &str = "registry.invalid/statefleet-e2e/pause:1.0";

/// An object under construction.
#[derive(Clone, Debug)]
pub struct Fixture(pub Value);

impl Fixture {
    /// Sets the field at JSON pointer `path` (e.g. `/spec/strategy/type`), creating objects on
    /// the way.
    pub fn set(mut self, path: &str, value: impl Into<Value>) -> Self {
        let mut at = &mut self.0;
        let parts: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(|p| p.replace("~1", "/").replace("~0", "~"))
            .collect();
        let (last, parents) = parts.split_last().expect("a JSON pointer with at least one part");
        for part in parents {
            if !at.is_object() {
                *at = Value::Object(Map::new());
            }
            at = at
                .as_object_mut()
                .expect("just made an object")
                .entry(part.clone())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        at.as_object_mut().expect("just made an object").insert(last.clone(), value.into());
        self
    }

    /// Adds a label to the object.
    pub fn label(self, key: &str, value: &str) -> Self {
        self.set(&format!("/metadata/labels/{}", key.replace('/', "~1")), value)
    }

    /// The typed object; panics with the JSON if it does not decode (a broken fixture).
    pub fn typed<K: DeserializeOwned>(self) -> K {
        serde_json::from_value(self.0.clone())
            .unwrap_or_else(|e| panic!("fixture does not decode: {e}: {}", self.0))
    }
}

fn pod_template(app: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": app}},
        "spec": {
            "containers": [{
                "name": "main",
                "image": IMAGE,
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
            }],
            "terminationGracePeriodSeconds": 0,
        },
    })
}

/// A Deployment of `replicas` pods labelled `app=<name>`.
pub fn make_deployment(name: &str, replicas: i32) -> Fixture {
    Fixture(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name),
        },
    }))
}

/// A StatefulSet of `replicas` pods labelled `app=<name>`, with service name `<name>`.
pub fn make_statefulset(name: &str, replicas: i32) -> Fixture {
    Fixture(json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name),
        },
    }))
}

/// A DaemonSet (one pod per node) labelled `app=<name>`.
pub fn make_daemonset(name: &str) -> Fixture {
    Fixture(json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name),
        },
    }))
}

/// A bare object of any kind: `apiVersion`, `kind` and `metadata.name`.
pub fn make(api_version: &str, kind: &str, name: &str) -> Fixture {
    Fixture(json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}}))
}

/// A bare pod labelled `app=<name>` with one container, scheduled by the scheduler.
pub fn make_pod(name: &str) -> Fixture {
    let template = pod_template(name);
    Fixture(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }))
}

/// A Job of `completions` pods (one at a time) labelled `app=<name>`.
pub fn make_job(name: &str, completions: i32) -> Fixture {
    let mut template = pod_template(name);
    template["spec"]["restartPolicy"] = json!("Never");
    Fixture(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"completions": completions, "parallelism": 1, "backoffLimit": 2, "template": template},
    }))
}

/// A CronJob on `schedule` whose jobs run one pod.
pub fn make_cronjob(name: &str, schedule: &str) -> Fixture {
    let job = make_job(name, 1).0;
    Fixture(json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"schedule": schedule, "jobTemplate": {"spec": job["spec"]}},
    }))
}

/// A ClusterIP Service selecting `app=<app>` on port 80.
pub fn make_service(name: &str, app: &str) -> Fixture {
    Fixture(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    }))
}

/// The ServiceAccount the exporter pods of the fixtures run as.
pub const EXPORTER_SERVICE_ACCOUNT: &str = "statefleet-exporter";

/// The pod template of an exporter workload labelled `app=<app>`: command
/// `statefleet-exporter` with `args`, the downward-API env `POD_NAME`, `POD_NAMESPACE` and
/// `NODE_NAME` (use them in args as `$(POD_NAME)`), ports `http-metrics` (8080) and `telemetry`
/// (8081), a readiness probe on `/readyz` of `telemetry`, service account
/// [`EXPORTER_SERVICE_ACCOUNT`]. The process kubelet ([`crate::ProcessKubelet`]) runs such pods.
pub fn exporter_pod_template(app: &str, args: &[String]) -> Value {
    let field =
        |name: &str, path: &str| json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}});
    json!({
        "metadata": {"labels": {"app": app}},
        "spec": {
            "serviceAccountName": EXPORTER_SERVICE_ACCOUNT,
            "terminationGracePeriodSeconds": 5,
            "containers": [{
                "name": "exporter",
                "image": "registry.invalid/statefleet/statefleet-exporter:e2e",
                "command": ["statefleet-exporter"],
                "args": args,
                "env": [
                    field("POD_NAME", "metadata.name"),
                    field("POD_NAMESPACE", "metadata.namespace"),
                    field("NODE_NAME", "spec.nodeName"),
                ],
                "ports": [
                    {"name": "http-metrics", "containerPort": 8080},
                    {"name": "telemetry", "containerPort": 8081},
                ],
                "readinessProbe": {"httpGet": {"path": "/readyz", "port": "telemetry"}},
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
            }],
        },
    })
}

/// A StatefulSet of `replicas` exporter pods ([`exporter_pod_template`]), default
/// (`OrderedReady`) pod management.
pub fn make_exporter_statefulset(name: &str, replicas: i32, args: &[String]) -> Fixture {
    make_statefulset(name, replicas).set("/spec/template", exporter_pod_template(name, args))
}

/// A DaemonSet of exporter pods ([`exporter_pod_template`]).
pub fn make_exporter_daemonset(name: &str, args: &[String]) -> Fixture {
    make_daemonset(name).set("/spec/template", exporter_pod_template(name, args))
}

/// A Deployment of `replicas` exporter pods ([`exporter_pod_template`]).
pub fn make_exporter_deployment(name: &str, replicas: i32, args: &[String]) -> Fixture {
    make_deployment(name, replicas).set("/spec/template", exporter_pod_template(name, args))
}

/// One or more objects of every covered kind besides workloads, in several states, for a
/// namespace: bare pods (running, pending on a node, unschedulable, one to delete), jobs
/// (running, suspended), cron jobs, services (the controllers add endpoints and slices), config
/// maps, secrets, a PDB and an HPA on deployment `web`, a quota, limits, a lease, a claim, a
/// replication controller, policies and RBAC. Create them with [`crate::TestNs::create_fixture`].
pub fn one_of_each_kind(namespace: &str) -> Vec<Fixture> {
    let ignore = crate::namespace::KUBELET_IGNORE_LABEL;
    vec![
        make_pod("solo").label("tier", "front"),
        make_pod("unplaced").set("/spec/nodeSelector", json!({"statefleet.io/no-such-node": "true"})),
        make_pod("waiting").label(ignore, "yes"),
        make_pod("doomed"),
        make_job("once", 1),
        make_job("held", 2).set("/spec/suspend", true),
        make_cronjob("nightly", "0 3 * * *").set("/spec/timeZone", "Etc/UTC"),
        make_cronjob("paused", "*/5 * * * *").set("/spec/suspend", true),
        make_service("web", "web"),
        make_service("db", "db").set("/spec/clusterIP", "None"),
        make_service("edge", "web").set("/spec/type", "NodePort"),
        make("v1", "ConfigMap", "settings").set("/data", json!({"mode": "e2e"})).label("tier", "back"),
        make("v1", "Secret", "token").set("/stringData", json!({"token": "not-a-secret"})),
        make("v1", "Secret", "login")
            .set("/type", "kubernetes.io/basic-auth")
            .set("/stringData", json!({"username": "e2e", "password": "e2e"})),
        make("v1", "ServiceAccount", "robot"),
        make("policy/v1", "PodDisruptionBudget", "web")
            .set("/spec", json!({"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}})),
        make("autoscaling/v2", "HorizontalPodAutoscaler", "web").set(
            "/spec",
            json!({
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2,
                "maxReplicas": 6,
                "metrics": [{"type": "Resource", "resource": {
                    "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80},
                }}],
            }),
        ),
        make("v1", "ResourceQuota", "counts").set("/spec/hard", json!({"pods": "100", "configmaps": "50"})),
        make("v1", "LimitRange", "limits").set(
            "/spec/limits",
            json!([{"type": "Container", "max": {"memory": "1Gi"}, "min": {"memory": "1Mi"}}]),
        ),
        make("coordination.k8s.io/v1", "Lease", "leader").set(
            "/spec",
            json!({
                "holderIdentity": "e2e",
                "leaseDurationSeconds": 15,
                "acquireTime": "2026-01-01T00:00:00.000000Z",
                "renewTime": "2026-01-01T00:00:10.000000Z",
            }),
        ),
        make("v1", "PersistentVolumeClaim", "data").set(
            "/spec",
            json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}),
        ),
        make("v1", "ReplicationController", "legacy").set(
            "/spec",
            json!({
                "replicas": 1,
                "selector": {"app": "legacy"},
                "template": pod_template("legacy"),
            }),
        ),
        make("networking.k8s.io/v1", "NetworkPolicy", "deny-in")
            .set("/spec", json!({"podSelector": {}, "policyTypes": ["Ingress"]})),
        make("networking.k8s.io/v1", "Ingress", "web").set(
            "/spec",
            json!({"rules": [{"host": "web.e2e.invalid", "http": {"paths": [{
                "path": "/",
                "pathType": "Prefix",
                "backend": {"service": {"name": "web", "port": {"number": 80}}},
            }]}}]}),
        ),
        make("rbac.authorization.k8s.io/v1", "Role", "reader")
            .set("/rules", json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}])),
        make("rbac.authorization.k8s.io/v1", "RoleBinding", "robot-reads")
            .set(
                "/roleRef",
                json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"}),
            )
            .set("/subjects", json!([{"kind": "ServiceAccount", "name": "robot", "namespace": namespace}])),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;

    #[test]
    fn set_creates_paths_and_typed_decodes() {
        let d: Deployment = make_deployment("web", 2)
            .set("/spec/paused", true)
            .set("/spec/strategy/rollingUpdate/maxSurge", "50%")
            .label("statefleet.io/tier", "front")
            .typed();
        let spec = d.spec;
        assert_eq!(spec.paused, Some(true));
        assert_eq!(spec.replicas, Some(2));
        assert!(spec.strategy.and_then(|s| s.rolling_update).is_some());
        assert_eq!(
            d.metadata.labels.expect("labels").get("statefleet.io/tier").map(String::as_str),
            Some("front")
        );
    }
}
