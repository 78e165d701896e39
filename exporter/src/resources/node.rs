//! `kube_node_*` families (upstream `internal/store/node.go`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Sink, Stability::*, bool_f64};
use k8s_openapi::{
    ClusterResourceScope,
    api::core::v1::{NodeAddress, NodeSpec, NodeStatus, NodeSystemInfo},
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::ObjectMeta},
};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The fields of a Node that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Node {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<NodeSpec>,
    /// Status.
    #[serde(default)]
    pub status: Option<NodeStatus>,
}
projection!(Node, "Node", "", "v1", "nodes", ClusterResourceScope);

/// Label keys with this prefix name a role (`kube_node_role`).
const ROLE_PREFIX: &str = "node-role.kubernetes.io/";

/// Borrowing accessors: a node's status carries its image list, too big to clone per family.
impl Node {
    fn spec_field<T: ?Sized>(&self, f: impl FnOnce(&NodeSpec) -> Option<&T>) -> Option<&T> {
        self.spec.as_ref().and_then(f)
    }

    fn status_field<T: ?Sized>(&self, f: impl FnOnce(&NodeStatus) -> Option<&T>) -> Option<&T> {
        self.status.as_ref().and_then(f)
    }

    fn addresses(&self) -> &[NodeAddress] {
        self.status_field(|st| st.addresses.as_deref()).unwrap_or_default()
    }
}

impl Kind for Node {
    const RESOURCE: &'static str = "nodes";
    const KIND: &'static str = "Node";
    const GO_TYPE: &'static str = "*v1.Node";
    const NAMESPACED: bool = false;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![("node", self.metadata.name.as_deref().unwrap_or_default())]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            common::annotations_family(
                "kube_node_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::created_family("kube_node_created", "Unix creation timestamp", Stable),
            common::deletion_family("kube_node_deletion_timestamp", "Unix deletion timestamp", Alpha),
            FamilyGen::gauge("kube_node_info", "Information about a cluster node.", Stable, write_info),
            common::labels_family(
                "kube_node_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Stable,
                o.labels.clone(),
            ),
            FamilyGen::gauge("kube_node_role", "The role of a cluster node.", Alpha, |n: &Self, s| {
                // Upstream walks the label map in Go's random order; here keys come sorted.
                for key in n.metadata.labels.iter().flat_map(BTreeMap::keys) {
                    if let Some(role) = key.strip_prefix(ROLE_PREFIX) {
                        s.sample([("role", role)], 1.0);
                    }
                }
            }),
            FamilyGen::gauge(
                "kube_node_spec_pod_cidrs",
                "The pod CIDRs of a cluster node.",
                Alpha,
                |n: &Self, s| {
                    for cidr in n.spec_field(|sp| sp.pod_cidrs.as_deref()).unwrap_or_default() {
                        s.sample([("pod_cidr", cidr.as_str())], 1.0);
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_node_spec_taint",
                "The taint of a cluster node.",
                Stable,
                |n: &Self, s| {
                    for t in n.spec_field(|sp| sp.taints.as_deref()).unwrap_or_default() {
                        let value = t.value.as_deref().unwrap_or_default();
                        s.sample(
                            [("key", t.key.as_str()), ("value", value), ("effect", t.effect.as_str())],
                            1.0,
                        );
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_node_spec_unschedulable",
                "Whether a node can schedule new pods.",
                Stable,
                |n: &Self, s| {
                    s.value(bool_f64(n.spec.as_ref().and_then(|sp| sp.unschedulable).unwrap_or(false)))
                },
            ),
            FamilyGen::gauge(
                "kube_node_status_allocatable",
                "The allocatable for different resources of a node that are available for scheduling.",
                Stable,
                |n: &Self, s| write_resources(s, n.status_field(|st| st.allocatable.as_ref())),
            ),
            FamilyGen::gauge(
                "kube_node_status_capacity",
                "The capacity for different resources of a node.",
                Stable,
                |n: &Self, s| write_resources(s, n.status_field(|st| st.capacity.as_ref())),
            ),
            FamilyGen::gauge(
                "kube_node_status_condition",
                "The condition of a cluster node.",
                Stable,
                |n: &Self, s| {
                    for c in n.status_field(|st| st.conditions.as_deref()).unwrap_or_default() {
                        common::write_condition_status(s, &[("condition", c.type_.as_str())], &c.status);
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_node_status_addresses",
                "Node address information.",
                Alpha,
                |n: &Self, s| {
                    for a in n.addresses() {
                        s.sample([("type", a.type_.as_str()), ("address", a.address.as_str())], 1.0);
                    }
                },
            ),
        ]
    }
}

/// `kube_node_info`: one sample of system info; `kubeproxy_version` is always `deprecated`, and
/// `internal_ip` is the last `InternalIP` address (kept until upstream v3 drops it).
fn write_info(n: &Node, s: &mut Sink<'_>) {
    let default_info = NodeSystemInfo::default();
    let info = n.status_field(|st| st.node_info.as_ref()).unwrap_or(&default_info);
    let internal_ip =
        n.addresses().iter().rev().find(|a| a.type_ == "InternalIP").map(|a| a.address.as_str());
    s.sample(
        [
            ("kernel_version", info.kernel_version.as_str()),
            ("os_image", info.os_image.as_str()),
            ("container_runtime_version", info.container_runtime_version.as_str()),
            ("kubelet_version", info.kubelet_version.as_str()),
            ("kubeproxy_version", "deprecated"),
            ("provider_id", n.spec_field(|sp| sp.provider_id.as_deref()).unwrap_or_default()),
            ("pod_cidr", n.spec_field(|sp| sp.pod_cidr.as_deref()).unwrap_or_default()),
            ("system_uuid", info.system_uuid.as_str()),
            ("internal_ip", internal_ip.unwrap_or_default()),
        ],
        1.0,
    );
}

/// Capacity or allocatable: one sample per resource upstream knows a unit for. A name can match
/// more than one of the non-core cases, and then gets one sample per match, as upstream. Upstream
/// walks a Go map, so its sample order is random; here it is by resource name.
fn write_resources(s: &mut Sink<'_>, resources: Option<&BTreeMap<String, Quantity>>) {
    for (name, quantity) in resources.into_iter().flatten() {
        // A quantity upstream could not have decoded: skip only this sample.
        let Some(value) = common::quantity_to_f64(quantity) else {
            continue;
        };
        let resource = common::sanitize_resource_name(name);
        for unit in resource_units(name) {
            s.sample([("resource", resource.as_str()), ("unit", unit)], value);
        }
    }
}

/// The `unit` label(s) upstream gives a node resource; none for names it does not recognise.
fn resource_units(name: &str) -> Vec<&'static str> {
    match name {
        "cpu" => vec!["core"],
        "storage" | "ephemeral-storage" | "memory" => vec!["byte"],
        "pods" => vec!["integer"],
        _ => [
            (common::is_huge_page_resource_name(name), "byte"),
            (common::is_attachable_volume_resource_name(name), "byte"),
            (common::is_extended_resource_name(name), "integer"),
        ]
        .into_iter()
        .filter_map(|(matches, unit)| matches.then_some(unit))
        .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{common::KeyAllowlist, testing::*};
    use std::sync::Arc;

    #[test]
    fn full_node_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["kubernetes.io/*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["team".into()]))),
        };
        let got = render_yaml::<Node>(include_str!("fixtures/node-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/node-full.prom"));
    }

    #[test]
    fn minimal_node_writes_defaults_and_skips_unset_values() {
        let got = render_yaml::<Node>("metadata: {name: n1}\n", &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_node_info"),
            [
                "kube_node_info{node=\"n1\",kernel_version=\"\",os_image=\"\",container_runtime_version=\"\",kubelet_version=\"\",kubeproxy_version=\"deprecated\",provider_id=\"\",pod_cidr=\"\",system_uuid=\"\",internal_ip=\"\"} 1"
            ]
        );
        assert_eq!(
            samples_of(&got, "kube_node_spec_unschedulable"),
            ["kube_node_spec_unschedulable{node=\"n1\"} 0"]
        );
        for family in [
            "kube_node_annotations",
            "kube_node_created",
            "kube_node_deletion_timestamp",
            "kube_node_labels",
            "kube_node_role",
            "kube_node_spec_pod_cidrs",
            "kube_node_spec_taint",
            "kube_node_status_allocatable",
            "kube_node_status_capacity",
            "kube_node_status_condition",
            "kube_node_status_addresses",
        ] {
            assert!(samples_of(&got, family).is_empty(), "{family}");
            assert!(got.contains(&format!("# TYPE {family} gauge\n")), "{family}");
        }
    }

    #[test]
    fn odd_content_is_escaped_and_bad_quantities_skip_one_sample() {
        let yaml = r#"
metadata:
  name: "n\"1\\"
  labels: {"app.kubernetes.io/name": "a\"b\\c\nd", "node-role.kubernetes.io/ë": "", "ü": "ö"}
spec:
  taints: [{key: "k\"", value: "v\nw", effect: NoSchedule}, {key: "only-key", effect: ""}]
status:
  capacity: {cpu: "4x", memory: "1Gi", "nvidia.com/gpu": " 2 ", "vendor.io/bad name": "1"}
  conditions: [{type: "Odd\\", status: "maybe"}]
"#;
        let options =
            FamilyOptions { labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))), annotations: None };
        let got = render_yaml::<Node>(yaml, &options);
        assert_eq!(
            samples_of(&got, "kube_node_labels"),
            [
                "kube_node_labels{node=\"n\\\"1\\\\\",label_app_kubernetes_io_name=\"a\\\"b\\\\c\\nd\",label_node_role_kubernetes_io__=\"\",label__=\"ö\"} 1"
            ]
        );
        assert_eq!(samples_of(&got, "kube_node_role"), ["kube_node_role{node=\"n\\\"1\\\\\",role=\"ë\"} 1"]);
        assert_eq!(
            samples_of(&got, "kube_node_spec_taint"),
            [
                "kube_node_spec_taint{node=\"n\\\"1\\\\\",key=\"k\\\"\",value=\"v\\nw\",effect=\"NoSchedule\"} 1",
                "kube_node_spec_taint{node=\"n\\\"1\\\\\",key=\"only-key\",value=\"\",effect=\"\"} 1",
            ]
        );
        assert_eq!(
            samples_of(&got, "kube_node_status_capacity"),
            [
                "kube_node_status_capacity{node=\"n\\\"1\\\\\",resource=\"memory\",unit=\"byte\"} 1.073741824e+09",
                "kube_node_status_capacity{node=\"n\\\"1\\\\\",resource=\"nvidia_com_gpu\",unit=\"integer\"} 2",
            ]
        );
        assert_eq!(
            samples_of(&got, "kube_node_status_condition"),
            [
                "kube_node_status_condition{node=\"n\\\"1\\\\\",condition=\"Odd\\\\\",status=\"true\"} 0",
                "kube_node_status_condition{node=\"n\\\"1\\\\\",condition=\"Odd\\\\\",status=\"false\"} 0",
                "kube_node_status_condition{node=\"n\\\"1\\\\\",condition=\"Odd\\\\\",status=\"unknown\"} 0",
            ]
        );
        // Every line is a header or a well-formed sample.
        for line in got.lines() {
            assert!(line.starts_with("# ") || line.starts_with("kube_node_"), "{line:?}");
        }
    }

    #[test]
    fn resource_units_follow_upstream_switch() {
        assert_eq!(resource_units("cpu"), ["core"]);
        assert_eq!(resource_units("ephemeral-storage"), ["byte"]);
        assert_eq!(resource_units("pods"), ["integer"]);
        assert_eq!(resource_units("hugepages-1Gi"), ["byte"]);
        assert_eq!(resource_units("attachable-volumes-aws-ebs"), ["byte"]);
        assert_eq!(resource_units("example.com/dongle"), ["integer"]);
        // Matches both the hugepages prefix and the extended-resource rule.
        assert_eq!(resource_units("hugepages-x.io/y"), ["byte", "integer"]);
        assert!(resource_units("kubernetes.io/other").is_empty());
        assert!(resource_units("gpu").is_empty());
    }
}
