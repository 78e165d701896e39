//! Test fixtures: custom resource builders and a fake API server behind kube's client, in the
//! style of controller-rs' `ApiServerVerifier` (`tower_test::mock::pair`).
//!
//! The fake keeps objects in memory and answers the requests the reconciler makes (get, list
//! with label selectors, server-side apply, JSON and merge patches, create, replace, delete,
//! discovery of `monitoring.coreos.com/v1`) the way the API server would, adding server-side
//! fields (uid, resourceVersion, generation, a few defaults), so a second reconcile sees what
//! the first one applied. Every request is recorded for the tests to check.

use crate::{
    crd::{KubeStateMetrics, KubeStateMetricsSpec},
    metrics::Metrics,
    reconcile::{Context, FINALIZER},
};
use http::{Method, Request, Response, StatusCode};
use kube::{Client, client::Body, runtime::events::Reporter};
use parking_lot::Mutex;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use std::{collections::BTreeMap, sync::Arc, time::Duration};

impl KubeStateMetrics {
    /// `monitoring/ksm`, as the API server returns it: uid, generation 1, the operator's finalizer.
    pub fn test() -> Self {
        let mut ksm = KubeStateMetrics::new("ksm", KubeStateMetricsSpec::default());
        ksm.metadata.namespace = Some("monitoring".into());
        ksm.metadata.uid = Some("ksm-uid".into());
        ksm.metadata.generation = Some(1);
        ksm.metadata.resource_version = Some("1".into());
        ksm.metadata.finalizers = Some(vec![FINALIZER.to_string()]);
        ksm
    }

    /// With the spec changed by `f` (and the generation bumped, as the API server would).
    pub fn with_spec(mut self, f: impl FnOnce(&mut KubeStateMetricsSpec)) -> Self {
        f(&mut self.spec);
        self.metadata.generation = Some(self.metadata.generation.unwrap_or(0) + 1);
        self
    }

    /// Without the operator's finalizer (a custom resource the operator has not seen yet).
    pub fn without_finalizer(mut self) -> Self {
        self.metadata.finalizers = None;
        self
    }

    /// Marked for deletion.
    pub fn deleting(mut self) -> Self {
        self.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::from_second(1_700_000_000).expect("valid timestamp"),
        ));
        self
    }
}

/// One request the fake API server answered.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// HTTP method.
    pub method: Method,
    /// URL path.
    pub path: String,
    /// Decoded query parameters.
    pub query: BTreeMap<String, String>,
    /// `Content-Type`, if sent.
    pub content_type: Option<String>,
    /// JSON body, if sent.
    pub body: Option<Value>,
}

impl Recorded {
    /// Anything but a read.
    pub fn is_write(&self) -> bool {
        self.method != Method::GET
    }

    /// `METHOD path`, for assertion messages.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// Where a request path points.
struct Target {
    /// Path of the collection, e.g. `/apis/apps/v1/namespaces/monitoring/statefulsets`.
    collection: String,
    name: Option<String>,
    subresource: Option<String>,
}

impl Target {
    fn parse(path: &str) -> Option<Target> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let prefix = match segments.first() {
            Some(&"api") => 2,
            Some(&"apis") => 3,
            _ => return None,
        };
        let mut rest = segments.get(prefix..)?;
        let mut collection = format!("/{}", segments[..prefix].join("/"));
        if rest.len() >= 3 && rest[0] == "namespaces" {
            collection = format!("{collection}/namespaces/{}", rest[1]);
            rest = &rest[2..];
        }
        let plural = rest.first()?;
        Some(Target {
            collection: format!("{collection}/{plural}"),
            name: rest.get(1).map(|s| s.to_string()),
            subresource: rest.get(2).map(|s| s.to_string()),
        })
    }
}

/// The fake cluster's state.
#[derive(Default)]
pub struct Cluster {
    /// Objects by path (`<collection>/<name>`).
    pub objects: BTreeMap<String, Value>,
    /// Every request, in order.
    pub requests: Vec<Recorded>,
    /// Whether `monitoring.coreos.com/v1` (ServiceMonitor, PrometheusRule) is served.
    pub monitoring_crds: bool,
    /// Requests (method and path) answered with 403 Forbidden.
    pub forbidden: Vec<(Method, String)>,
    /// Answer every replace (PUT) with 409 Conflict, as if someone wrote first.
    pub stale_writes: bool,
    resource_version: u64,
}

fn status_error(code: StatusCode, reason: &str, message: &str) -> (StatusCode, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
               "message": message, "code": code.as_u16()}),
    )
}

fn not_found(path: &str) -> (StatusCode, Value) {
    status_error(StatusCode::NOT_FOUND, "NotFound", &format!("{path} not found"))
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// The RFC 6902 operations the finalizer helper sends (`test`, `add`, `remove`).
fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    for op in ops.as_array().ok_or("a JSON patch is an array")? {
        let path = op["path"].as_str().ok_or("op without path")?;
        let (parent_path, last) = path.rsplit_once('/').ok_or("path without /")?;
        match op["op"].as_str() {
            Some("test") => {
                let found = target.pointer(path).cloned().unwrap_or(Value::Null);
                if found != op["value"] {
                    return Err(format!("test of {path} failed"));
                }
            }
            Some("add") => {
                let parent = target.pointer_mut(parent_path).ok_or("no parent")?;
                match parent {
                    Value::Array(items) if last == "-" => items.push(op["value"].clone()),
                    Value::Object(map) => {
                        map.insert(last.to_string(), op["value"].clone());
                    }
                    _ => return Err(format!("cannot add at {path}")),
                }
            }
            Some("remove") => match target.pointer_mut(parent_path).ok_or("no parent")? {
                Value::Array(items) => {
                    items.remove(last.parse::<usize>().map_err(|e| e.to_string())?);
                }
                Value::Object(map) => {
                    map.remove(last);
                }
                _ => return Err(format!("cannot remove {path}")),
            },
            other => return Err(format!("unsupported op {other:?}")),
        }
    }
    Ok(())
}

/// A few of the defaults the real API server fills in, so comparisons must tolerate them.
fn server_defaults(object: &mut Value) {
    if let Some(pod) = object.pointer_mut("/spec/template/spec").and_then(Value::as_object_mut) {
        pod.entry("restartPolicy").or_insert(json!("Always"));
        pod.entry("dnsPolicy").or_insert(json!("ClusterFirst"));
        if let Some(containers) = pod.get_mut("containers").and_then(Value::as_array_mut) {
            for container in containers.iter_mut().filter_map(Value::as_object_mut) {
                container.entry("terminationMessagePath").or_insert(json!("/dev/termination-log"));
                container.entry("imagePullPolicy").or_insert(json!("IfNotPresent"));
            }
        }
    }
    if object["kind"] == "Service"
        && let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut)
    {
        spec.entry("type").or_insert(json!("ClusterIP"));
        spec.entry("clusterIPs").or_insert(json!(["None"]));
        spec.entry("sessionAffinity").or_insert(json!("None"));
    }
}

fn labels_match(object: &Value, selector: Option<&String>) -> bool {
    let Some(selector) = selector else { return true };
    selector.split(',').filter(|t| !t.is_empty()).all(|term| {
        let (key, value) = term.split_once('=').unwrap_or((term, ""));
        object["metadata"]["labels"][key].as_str() == Some(value)
    })
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(query: Option<&str>) -> BTreeMap<String, String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

impl Cluster {
    fn next_version(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    /// Stores `object` (serializable to a Kubernetes object) at `path`.
    pub fn put(&mut self, path: &str, object: impl serde::Serialize) {
        let mut value = serde_json::to_value(object).expect("objects serialize");
        value["metadata"]["resourceVersion"] = json!(self.next_version());
        self.objects.insert(path.to_string(), value);
    }

    /// Stores a custom resource where the reconciler looks for it.
    pub fn put_ksm(&mut self, ksm: &KubeStateMetrics) {
        self.put(&ksm_path(ksm), ksm);
    }

    /// The stored custom resource, as the next reconcile would receive it from the watch.
    pub fn ksm(&self, ksm: &KubeStateMetrics) -> KubeStateMetrics {
        let value = self.objects.get(&ksm_path(ksm)).expect("the custom resource is stored").clone();
        serde_json::from_value(value).expect("a KubeStateMetrics")
    }

    /// The object at `path`, mutably (to simulate someone else's edit).
    pub fn object_mut(&mut self, path: &str) -> &mut Value {
        self.objects.get_mut(path).unwrap_or_else(|| panic!("no object at {path}"))
    }

    /// Forgets the recorded requests.
    pub fn take_requests(&mut self) -> Vec<Recorded> {
        std::mem::take(&mut self.requests)
    }

    fn handle(&mut self, request: Recorded) -> (StatusCode, Value) {
        self.requests.push(request.clone());
        let path = request.path.as_str();
        if self.forbidden.iter().any(|(m, p)| *m == request.method && p == path) {
            return status_error(StatusCode::FORBIDDEN, "Forbidden", &format!("{path} is forbidden"));
        }
        if path == "/apis/monitoring.coreos.com/v1" {
            return if self.monitoring_crds {
                (
                    StatusCode::OK,
                    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "monitoring.coreos.com/v1",
                    "resources": [
                        {"name": "servicemonitors", "singularName": "servicemonitor", "namespaced": true,
                         "kind": "ServiceMonitor", "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
                        {"name": "prometheusrules", "singularName": "prometheusrule", "namespaced": true,
                         "kind": "PrometheusRule", "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
                    ]}),
                )
            } else {
                // What the real API server answers for a group it does not serve: plain text.
                (StatusCode::NOT_FOUND, json!("404 page not found"))
            };
        }
        let Some(target) = Target::parse(path) else {
            return not_found(path);
        };
        if target.collection.starts_with("/apis/monitoring.coreos.com/") && !self.monitoring_crds {
            return not_found(path);
        }
        let key = target.name.as_ref().map(|n| format!("{}/{n}", target.collection));
        match (request.method.clone(), key) {
            (Method::GET, Some(key)) => match self.objects.get(&key) {
                Some(object) => (StatusCode::OK, object.clone()),
                None => not_found(path),
            },
            (Method::GET, None) => {
                let prefix = format!("{}/", target.collection);
                let items: Vec<Value> = self
                    .objects
                    .iter()
                    .filter(|(k, _)| k.strip_prefix(&prefix).is_some_and(|rest| !rest.contains('/')))
                    .filter(|(_, v)| labels_match(v, request.query.get("labelSelector")))
                    .map(|(_, v)| {
                        // List items carry no apiVersion and kind, as the real API server's.
                        let mut item = v.clone();
                        if let Some(map) = item.as_object_mut() {
                            map.remove("apiVersion");
                            map.remove("kind");
                        }
                        item
                    })
                    .collect();
                let version = self.resource_version.to_string();
                (
                    StatusCode::OK,
                    json!({"kind": "List", "apiVersion": "v1",
                                        "metadata": {"resourceVersion": version}, "items": items}),
                )
            }
            (Method::PATCH, Some(key)) => self.patch(&key, &target, &request),
            (Method::POST, None) => {
                let mut object = request.body.clone().unwrap_or_default();
                let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
                let key = format!("{}/{name}", target.collection);
                if self.objects.contains_key(&key) {
                    return status_error(StatusCode::CONFLICT, "AlreadyExists", &format!("{name} exists"));
                }
                object["metadata"]["resourceVersion"] = json!(self.next_version());
                object["metadata"]["uid"] = json!(format!("uid-{name}"));
                self.objects.insert(key, object.clone());
                (StatusCode::CREATED, object)
            }
            (Method::PUT, Some(key)) => {
                let Some(existing) = self.objects.get(&key) else { return not_found(path) };
                let mut object = request.body.clone().unwrap_or_default();
                let sent = object["metadata"]["resourceVersion"].clone();
                if self.stale_writes || (!sent.is_null() && sent != existing["metadata"]["resourceVersion"]) {
                    return status_error(StatusCode::CONFLICT, "Conflict", "the object has been modified");
                }
                object["metadata"]["resourceVersion"] = json!(self.next_version());
                self.objects.insert(key, object.clone());
                (StatusCode::OK, object)
            }
            (Method::DELETE, Some(key)) => match self.objects.remove(&key) {
                Some(_) => {
                    (StatusCode::OK, json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}))
                }
                None => not_found(path),
            },
            _ => status_error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", path),
        }
    }

    fn patch(&mut self, key: &str, target: &Target, request: &Recorded) -> (StatusCode, Value) {
        let body = request.body.clone().unwrap_or_default();
        let content_type = request.content_type.as_deref().unwrap_or_default();
        let version = self.next_version();
        let existing = self.objects.get(key).cloned();
        let mut object = match (content_type, existing, target.subresource.as_deref()) {
            ("application/apply-patch+yaml", Some(mut object), Some("status")) => {
                object["status"] = body["status"].clone();
                object
            }
            (_, None, Some(_)) => return not_found(&request.path),
            ("application/apply-patch+yaml", None, None) => {
                let mut object = body;
                let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
                object["metadata"]["uid"] = json!(format!("uid-{name}"));
                object["metadata"]["generation"] = json!(1);
                object["metadata"]["creationTimestamp"] = json!("2024-01-01T00:00:00Z");
                server_defaults(&mut object);
                object
            }
            ("application/apply-patch+yaml", Some(mut object), None) => {
                let spec_before = object["spec"].clone();
                merge_patch(&mut object, &body);
                if object["spec"] != spec_before {
                    let generation = object["metadata"]["generation"].as_i64().unwrap_or(0);
                    object["metadata"]["generation"] = json!(generation + 1);
                }
                object
            }
            ("application/merge-patch+json", Some(mut object), _) => {
                merge_patch(&mut object, &body);
                object
            }
            ("application/json-patch+json", Some(mut object), _) => {
                if let Err(message) = json_patch(&mut object, &body) {
                    return status_error(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", &message);
                }
                object
            }
            (_, None, _) => return not_found(&request.path),
            (other, ..) => {
                return status_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType", other);
            }
        };
        object["metadata"]["resourceVersion"] = json!(version);
        self.objects.insert(key.to_string(), object.clone());
        (StatusCode::OK, object)
    }
}

/// The path of a custom resource.
pub fn ksm_path(ksm: &KubeStateMetrics) -> String {
    format!(
        "/apis/statefleet.io/v1alpha1/namespaces/{}/kubestatemetrics/{}",
        ksm.metadata.namespace.as_deref().unwrap_or_default(),
        ksm.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The fake API server: answers every request of a mocked kube `Client` from a [`Cluster`].
pub struct ApiServerVerifier {
    /// The state, shared with the task answering requests.
    pub cluster: Arc<Mutex<Cluster>>,
}

impl ApiServerVerifier {
    /// A client backed by a fresh fake cluster, and the verifier to inspect it.
    pub fn new() -> (Client, ApiServerVerifier) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let cluster = Arc::new(Mutex::new(Cluster::default()));
        let state = cluster.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let (parts, body) = request.into_parts();
                let bytes = body.collect_bytes().await.expect("request body");
                let recorded = Recorded {
                    method: parts.method.clone(),
                    path: parts.uri.path().to_string(),
                    query: parse_query(parts.uri.query()),
                    content_type: parts
                        .headers
                        .get(http::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string),
                    body: (!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).expect("JSON body")),
                };
                let (code, value) = state.lock().handle(recorded);
                let body = match value {
                    Value::String(text) => text.into_bytes(),
                    value => serde_json::to_vec(&value).expect("responses serialize"),
                };
                let response =
                    Response::builder().status(code).body(Body::from(body)).expect("valid response");
                send.send_response(response);
            }
        });
        let client = Client::new(service, "default");
        (client, ApiServerVerifier { cluster })
    }

    /// A reconcile context on a fresh fake cluster (discovery is not cached, so tests can
    /// install the monitoring CRDs between reconciles).
    pub fn context() -> (Arc<Context>, ApiServerVerifier) {
        let (client, verifier) = ApiServerVerifier::new();
        let metrics = Metrics::register(&mut Registry::default());
        let reporter = Reporter { controller: "statefleet-operator".into(), instance: None };
        (Arc::new(Context::new(client, metrics, reporter, Duration::ZERO)), verifier)
    }

    /// Takes the requests recorded so far.
    pub fn take_requests(&self) -> Vec<Recorded> {
        self.cluster.lock().take_requests()
    }
}

/// Fails a test that hangs instead of waiting forever (generous: CI machines are shared).
pub async fn with_deadline<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future).await.expect("timed out after 10s")
}
