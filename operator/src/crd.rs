//! The `KubeStateMetrics` custom resource (`statefleet.io/v1alpha1`): spec, status and the CEL
//! rules the API server enforces. This module is the source of `crds/`; `bin/crdgen.rs` prints it.
//!
//! Validation happens in this order: Rust types and schema constraints (enums, patterns, sizes),
//! then CEL rules (`x-kubernetes-validations`) for what is always wrong, then
//! [`crate::desired::desired`] for what only the exporter can judge (a regex that does not compile).
//! Every default is written twice on purpose: as a serde default (so `spec: {}` deserializes into
//! a working single-shard fleet) and, through schemars, as a schema default (so the API server
//! stores and shows it). The image is the exception: it has no schema default, so an upgraded
//! operator rolls fleets that did not pin one onto the matching exporter.

use exporter::resources::REGISTRY;
use k8s_openapi::{
    api::core::v1::{Affinity, ResourceRequirements, Toleration},
    apimachinery::pkg::apis::meta::v1::Condition,
};
use kube::{
    CustomResource, KubeSchema,
    core::{Message, Rule},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Upper bound of `spec.sharding.shards`.
pub const MAX_SHARDS: i32 = 1000;

/// The image the fleet runs when `spec.image` is unset: the exporter built with this operator.
pub const DEFAULT_IMAGE: &str = concat!("statefleet-exporter:", env!("CARGO_PKG_VERSION"));

/// A fleet of `statefleet-exporter` processes serving kube-state-metrics compatible metrics,
/// sharded across a StatefulSet (and optionally a per-node DaemonSet for pod metrics).
///
/// `spec: {}` is a working single-shard fleet serving the exporter's default resources.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "statefleet.io",
    version = "v1alpha1",
    kind = "KubeStateMetrics",
    plural = "kubestatemetrics",
    namespaced,
    shortname = "ksm",
    category = "statefleet",
    status = "KubeStateMetricsStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "A sharded fleet of statefleet-exporter processes serving kube-state-metrics compatible metrics.",
    scale(
        spec_replicas_path = ".spec.sharding.shards",
        status_replicas_path = ".status.readyShards",
        label_selector_path = ".status.selector"
    ),
    printcolumn(name = "Shards", type_ = "integer", json_path = ".spec.sharding.shards"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyShards"),
    printcolumn(name = "Mode", type_ = "string", json_path = ".status.mode"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    // The name becomes the StatefulSet's and the Services' name: Services need a DNS-1035 label,
    // and StatefulSet pods carry `controller-revision-hash: <name>-<10 chars>` (63 at most).
    validation = Rule::new("self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 52")
        .message("metadata.name must be a DNS-1035 label (lowercase letters, digits, '-', starting with a letter) of at most 52 characters: it names the StatefulSet and its Services"),
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!(has(self.metricAllowlist) && size(self.metricAllowlist) > 0 && has(self.metricDenylist) && size(self.metricDenylist) > 0)")
        .message("metricAllowlist and metricDenylist are mutually exclusive; set only one"),
    validation = Rule::new("!(has(self.sharding) && has(self.sharding.podsPerNode) && self.sharding.podsPerNode) || !has(self.resources) || size(self.resources) == 0 || 'pods' in self.resources")
        .message("sharding.podsPerNode serves pod metrics from a DaemonSet, so resources must include 'pods' (or be left empty for the default set)"),
    validation = Rule::new("!(has(self.sharding) && has(self.sharding.podsPerNode) && self.sharding.podsPerNode) || !has(self.resources) || size(self.resources) == 0 || self.resources.exists(r, r != 'pods')")
        .message("sharding.podsPerNode with resources: [pods] leaves nothing for the StatefulSet shards; add other resources or turn podsPerNode off"),
)]
pub struct KubeStateMetricsSpec {
    /// How objects are split across exporter processes.
    #[serde(default)]
    pub sharding: Sharding,

    /// Resources to serve, as the exporter's `--resources` names (e.g. `pods`, `deployments`).
    /// Empty means the exporter's default set. Only these get list/watch RBAC.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 128), inner(length(max = 63)))]
    #[x_kube(validation = known_resources_rule(), merge_strategy = ListMerge::Set)]
    pub resources: Vec<String>,

    /// Namespaces to watch (`--namespaces`); empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1024), inner(length(max = 63), regex(pattern = NAMESPACE_PATTERN)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub namespaces: Vec<String>,

    /// Namespaces left out (`--namespaces-denylist`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1024), inner(length(max = 63), regex(pattern = NAMESPACE_PATTERN)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub namespaces_denylist: Vec<String>,

    /// Metric-name regexes to keep (`--metric-allowlist`; unanchored, lookarounds allowed).
    /// Mutually exclusive with `metricDenylist`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(max = 1024)))]
    #[x_kube(validation = no_comma_rule("metricAllowlist"))]
    pub metric_allowlist: Vec<String>,

    /// Metric-name regexes to drop (`--metric-denylist`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(max = 1024)))]
    #[x_kube(validation = no_comma_rule("metricDenylist"))]
    pub metric_denylist: Vec<String>,

    /// Regexes that switch on opt-in metric families (`--metric-opt-in-list`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(max = 1024)))]
    #[x_kube(validation = no_comma_rule("metricOptInList"))]
    pub metric_opt_in_list: Vec<String>,

    /// Kubernetes label keys exported as `label_*` per resource (`--metric-labels-allowlist`),
    /// e.g. `{pods: [app, team], "*": [tier]}`; `*` as a key means every served resource, `*`
    /// as a value every key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "allowlist_schema")]
    #[x_kube(validation = allowlist_resources_rule("metricLabelsAllowlist"))]
    pub metric_labels_allowlist: BTreeMap<String, Vec<String>>,

    /// Annotation keys exported as `annotation_*` per resource (`--metric-annotations-allowlist`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "allowlist_schema")]
    #[x_kube(validation = allowlist_resources_rule("metricAnnotationsAllowlist"))]
    pub metric_annotations_allowlist: BTreeMap<String, Vec<String>>,

    /// Serve lists from the API server's watch cache (`--use-apiserver-cache`): cheaper for the
    /// API server, possibly slightly stale at start-up.
    #[serde(default)]
    pub use_apiserver_cache: bool,

    /// Adds `cluster="<clusterName>"` to every object series (`--cluster-name`) and to the
    /// telemetry series scraped through the ServiceMonitor, so several clusters can share one
    /// Prometheus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub cluster_name: Option<String>,

    /// Exporter image; defaults to the exporter released with this operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub image: Option<String>,

    /// Image pull policy of the exporter containers (Kubernetes' default when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<ImagePullPolicy>,

    /// Compute resources of each exporter container. (Named `containerResources` because
    /// `resources` is the exporter's resource list.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_resources: Option<ResourceRequirements>,

    /// Node selector of the StatefulSet and the unscheduled-pods Deployment. The per-node
    /// DaemonSet ignores it: it must run on every node, or the pods of the nodes it skips would
    /// have no metrics.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,

    /// Tolerations of the StatefulSet and the Deployment; the DaemonSet tolerates every taint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,

    /// Affinity of the StatefulSet and the Deployment (not the DaemonSet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,

    /// Priority class of every exporter pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub priority_class_name: Option<String>,

    /// Extra labels on every exporter pod. The operator's own keys are reserved.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(validation = Rule::new(reserved_labels_rule())
        .message("podLabels must not set app.kubernetes.io/name, app.kubernetes.io/instance, app.kubernetes.io/component, app.kubernetes.io/managed-by or statefleet.io/role: the operator selects pods by them"))]
    pub pod_labels: BTreeMap<String, String>,

    /// Extra annotations on every exporter pod.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_annotations: BTreeMap<String, String>,

    /// A prometheus-operator ServiceMonitor scraping the fleet (skipped, with a condition saying
    /// so, while the ServiceMonitor CRD is not installed).
    #[serde(default)]
    pub service_monitor: ServiceMonitorConfig,

    /// A prometheus-operator PrometheusRule with the fleet's alerts (sharding mismatch, missing
    /// shards, list and watch errors).
    #[serde(default)]
    pub prometheus_rule: PrometheusRuleConfig,
}

/// Namespace names are DNS-1123 labels.
const NAMESPACE_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// Allowlist entries end up in `res=[a,b]` flag syntax, so the grammar's characters cannot occur.
const ALLOWLIST_KEY_PATTERN: &str = r"^[^,=\[\]\s]+$";

/// A map from resource name (or `*`) to label or annotation keys (a key may hold one `*`).
/// Sizes are bounded so the API server can cost the CEL rule on the keys.
fn allowlist_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": 128,
        "additionalProperties": {
            "type": "array",
            "maxItems": 256,
            "items": {"type": "string", "maxLength": 317, "pattern": ALLOWLIST_KEY_PATTERN},
        },
    })
}

/// How the fleet splits objects across processes.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Sharding {
    /// Number of StatefulSet shards; each serves the objects whose UID hashes to its ordinal.
    #[serde(default = "default_shards")]
    #[x_kube(validation = Rule::new(format!("self >= 1 && self <= {MAX_SHARDS}"))
        .message(Message::Message(format!("sharding.shards must be between 1 and {MAX_SHARDS}"))))]
    pub shards: i32,

    /// Hash that maps object UIDs to shards: `md5` (default) or `jump` (upstream
    /// kube-state-metrics' FNV-1a + jump hash, to mix with upstream shards).
    #[serde(default)]
    pub hash: ShardHash,

    /// Serve pod metrics from a DaemonSet (each pod watches only its node's pods) plus a
    /// one-replica Deployment for pods not scheduled yet; the StatefulSet shards then serve every
    /// other resource. Pods dominate large clusters, and this keeps each process's share small.
    #[serde(default)]
    pub pods_per_node: bool,
}

fn default_shards() -> i32 {
    1
}

impl Default for Sharding {
    fn default() -> Self {
        Self { shards: default_shards(), hash: ShardHash::default(), pods_per_node: false }
    }
}

/// The exporter's `--shard-hash`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShardHash {
    /// MD5 of the UID modulo the shard count.
    #[default]
    #[serde(rename = "md5")]
    Md5,
    /// Upstream kube-state-metrics' FNV-1a 64 + jump consistent hash.
    #[serde(rename = "jump")]
    Jump,
}

impl ShardHash {
    /// The flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            ShardHash::Md5 => "md5",
            ShardHash::Jump => "jump",
        }
    }
}

/// Image pull policy of the exporter containers (Kubernetes' default when unset).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImagePullPolicy {
    /// Pull on every start.
    Always,
    /// Pull only when the image is missing.
    IfNotPresent,
    /// Never pull.
    Never,
}

impl ImagePullPolicy {
    /// The Kubernetes value.
    pub fn as_str(self) -> &'static str {
        match self {
            ImagePullPolicy::Always => "Always",
            ImagePullPolicy::IfNotPresent => "IfNotPresent",
            ImagePullPolicy::Never => "Never",
        }
    }
}

/// Prometheus duration syntax, as prometheus-operator's `Duration` type.
const DURATION_PATTERN: &str =
    "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$";

/// The ServiceMonitor of the fleet.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorConfig {
    /// Create a ServiceMonitor for the fleet's Services.
    #[serde(default)]
    pub enabled: bool,
    /// Scrape interval, e.g. `30s` (Prometheus' global default when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: Option<String>,
    /// Scrape timeout, e.g. `25s`; at most the interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub scrape_timeout: Option<String>,
    /// Labels on the ServiceMonitor, to match a Prometheus' `serviceMonitorSelector`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The PrometheusRule of the fleet.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusRuleConfig {
    /// Create a PrometheusRule with the fleet's alerts.
    #[serde(default)]
    pub enabled: bool,
    /// Labels on the PrometheusRule, to match a Prometheus' `ruleSelector`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// What the operator last observed. Written only by the operator.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KubeStateMetricsStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready`, `Progressing` and `Degraded` (see the `conditions` module for reasons).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// StatefulSet shards the spec asks for.
    #[serde(default)]
    pub desired_shards: i32,

    /// StatefulSet shards that are ready (serving after their first full list).
    #[serde(default)]
    pub ready_shards: i32,

    /// Which workloads serve the fleet: `StatefulSet` or `StatefulSet+DaemonSet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,

    /// Label selector of the shard pods, for the scale subresource (e.g. an HPA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,

    /// Readiness of each workload of the fleet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub components: Vec<ComponentStatus>,
}

/// Readiness of one workload of the fleet.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    /// The component (`app.kubernetes.io/component`): `shards`, `node-pods` or `unscheduled-pods`.
    pub name: String,
    /// The workload kind: `StatefulSet`, `DaemonSet` or `Deployment`.
    pub kind: String,
    /// Pods wanted.
    pub desired: i32,
    /// Pods ready.
    pub ready: i32,
}

impl KubeStateMetricsSpec {
    /// The `status.mode` this spec runs in.
    pub fn mode(&self) -> &'static str {
        if self.sharding.pods_per_node { "StatefulSet+DaemonSet" } else { "StatefulSet" }
    }
}

/// Every resource name the exporter implements, from its registry.
pub fn known_resources() -> Vec<&'static str> {
    REGISTRY.iter().map(|r| r.name).collect()
}

/// `['a', 'b']` for a CEL list literal.
fn cel_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Built at schema-generation time from the exporter's registry, so the CRD accepts exactly the
/// resources this build serves (the staleness test of `crds/` catches a registry change).
fn known_resources_rule() -> Rule {
    let known = known_resources();
    let list = cel_list(&known);
    Rule::new(format!("self.all(r, r in {list})")).message(Message::Expression(format!(
        "'unknown resource ' + self.filter(r, !(r in {list}))[0] + '; supported: {}'",
        known.join(", ")
    )))
}

/// Allowlist keys are resource names or `*`.
fn allowlist_resources_rule(field: &str) -> Rule {
    let known = known_resources();
    Rule::new(format!("self.all(k, k == '*' || k in {})", cel_list(&known))).message(Message::Message(
        format!("{field} keys must be '*' or a resource name: {}", known.join(", ")),
    ))
}

/// The exporter's list flags are comma-separated: a comma would silently split one regex in two.
fn no_comma_rule(field: &str) -> Rule {
    Rule::new("self.all(p, !p.contains(','))").message(Message::Message(format!(
        "{field} entries must not contain ',': the exporter's flag is comma-separated, so one regex would become two"
    )))
}

/// Pod label keys the operator sets itself; see [`crate::desired`].
pub const RESERVED_POD_LABELS: [&str; 5] = [
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/managed-by",
    "statefleet.io/role",
];

fn reserved_labels_rule() -> String {
    format!("!{}.exists(k, k in self)", cel_list(&RESERVED_POD_LABELS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::{CustomResourceExt, core::cel::Validator};
    use serde_json::{Value, json};

    fn schema() -> Value {
        let crd = KubeStateMetrics::crd();
        let version = crd.spec.versions.into_iter().next().expect("one version");
        serde_json::to_value(version.schema.and_then(|s| s.open_api_v3_schema).expect("a schema"))
            .expect("schema serializes")
    }

    /// The CEL failures the API server would report for `spec` (client-side evaluation).
    fn cel_errors(name: &str, spec: Value) -> Vec<String> {
        let object = json!({
            "apiVersion": "statefleet.io/v1alpha1",
            "kind": "KubeStateMetrics",
            "metadata": {"name": name, "namespace": "monitoring"},
            "spec": spec,
        });
        match Validator::new().validate(&schema(), &object, None) {
            Ok(()) => Vec::new(),
            Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
        }
    }

    fn all_rules(value: &Value, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Array(rules)) = map.get("x-kubernetes-validations") {
                    for r in rules {
                        let message = r.get("message").or(r.get("messageExpression"));
                        out.push((
                            r["rule"].as_str().unwrap_or_default().to_string(),
                            message.and_then(Value::as_str).unwrap_or_default().to_string(),
                        ));
                    }
                }
                map.values().for_each(|v| all_rules(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| all_rules(v, out)),
            _ => {}
        }
    }

    #[test]
    fn empty_spec_is_a_single_shard_fleet() {
        let ksm: KubeStateMetrics = serde_norway::from_str(
            "apiVersion: statefleet.io/v1alpha1\nkind: KubeStateMetrics\nmetadata: {name: x}\nspec: {}\n",
        )
        .expect("spec: {} parses");
        assert_eq!(ksm.spec, KubeStateMetricsSpec::default());
        assert_eq!(ksm.spec.sharding, Sharding { shards: 1, hash: ShardHash::Md5, pods_per_node: false });
        assert_eq!(ksm.spec.mode(), "StatefulSet");
        assert!(cel_errors("x", json!({})).is_empty());
    }

    #[test]
    fn every_always_wrong_case_has_a_cel_rule_with_a_message() {
        let mut rules = Vec::new();
        all_rules(&schema(), &mut rules);
        let wanted = [
            "mutually exclusive",
            "sharding.shards must be between 1 and 1000",
            "unknown resource",
            "must include 'pods'",
            "leaves nothing for the StatefulSet",
            "must not contain ','",
            "metadata.name must be a DNS-1035 label",
            "podLabels must not set",
            "keys must be '*' or a resource name",
        ];
        for want in wanted {
            assert!(rules.iter().any(|(_, m)| m.contains(want)), "no rule with message {want:?}: {rules:#?}");
        }
        assert!(rules.iter().all(|(rule, message)| !rule.is_empty() && !message.is_empty()));
    }

    #[test]
    fn cel_rules_reject_what_is_always_wrong() {
        let cases = [
            (json!({"metricAllowlist": ["a"], "metricDenylist": ["b"]}), "mutually exclusive"),
            (json!({"sharding": {"shards": 0}}), "between 1 and 1000"),
            (json!({"sharding": {"shards": 1001}}), "between 1 and 1000"),
            (json!({"resources": ["pods", "foos"]}), "unknown resource foos; supported: "),
            (json!({"sharding": {"podsPerNode": true}, "resources": ["nodes"]}), "must include 'pods'"),
            (json!({"sharding": {"podsPerNode": true}, "resources": ["pods"]}), "leaves nothing"),
            (json!({"metricDenylist": ["kube_pod_{1,3}"]}), "must not contain ','"),
            (json!({"metricLabelsAllowlist": {"foos": ["app"]}}), "keys must be '*' or a resource name"),
            (json!({"podLabels": {"app.kubernetes.io/instance": "x"}}), "podLabels must not set"),
        ];
        for (spec, want) in cases {
            let errors = cel_errors("fleet", spec.clone());
            assert!(errors.iter().any(|e| e.contains(want)), "{spec}: want {want:?}, got {errors:?}");
        }
        let errors = cel_errors("Fleet.1", json!({}));
        assert!(errors.iter().any(|e| e.contains("DNS-1035")), "{errors:?}");
    }

    #[test]
    fn cel_rules_accept_valid_specs() {
        let specs = [
            json!({"sharding": {"shards": 1000, "hash": "jump", "podsPerNode": true}}),
            json!({"sharding": {"podsPerNode": true}, "resources": ["pods", "nodes"]}),
            json!({"metricAllowlist": ["kube_pod_.*"], "metricLabelsAllowlist": {"*": ["app"], "pods": []}}),
            json!({"podLabels": {"team": "sre"}, "resources": known_resources()}),
        ];
        for spec in specs {
            assert_eq!(cel_errors("fleet", spec.clone()), Vec::<String>::new(), "{spec}");
        }
    }

    #[test]
    fn resource_rule_follows_the_registry() {
        let mut rules = Vec::new();
        all_rules(&schema(), &mut rules);
        let (rule, _) =
            rules.iter().find(|(r, _)| r.starts_with("self.all(r, r in")).expect("resources rule");
        assert_eq!(rule, &format!("self.all(r, r in {})", cel_list(&known_resources())));
    }

    #[test]
    fn shard_hash_values_are_the_exporters() {
        for hash in [ShardHash::Md5, ShardHash::Jump] {
            let parsed: exporter::shard::ShardHash = hash.as_str().parse().expect("the exporter knows it");
            assert_eq!(parsed.as_str(), hash.as_str());
            assert_eq!(serde_json::to_value(hash).expect("serializes"), json!(hash.as_str()));
        }
    }
}
