//! `kube_endpoint_*` families (upstream `internal/store/endpoint.go`); off by default upstream.

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Sink, Stability::*};
use k8s_openapi::{
    NamespaceResourceScope, api::core::v1::EndpointSubset, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Deserialize;

/// The fields of an Endpoints object that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Endpoints {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Address/port groups.
    #[serde(default)]
    pub subsets: Option<Vec<EndpointSubset>>,
}
projection!(Endpoints, "Endpoints", "", "v1", "endpoints", NamespaceResourceScope);

impl Endpoints {
    fn subsets(&self) -> &[EndpointSubset] {
        self.subsets.as_deref().unwrap_or_default()
    }
}

impl Kind for Endpoints {
    const RESOURCE: &'static str = "endpoints";
    const KIND: &'static str = "Endpoints";
    const GO_TYPE: &'static str = "*v1.Endpoints";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("endpoint", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            common::info_family("kube_endpoint_info", "Information about endpoint.", Stable),
            common::created_family("kube_endpoint_created", "Unix creation timestamp", Stable),
            common::annotations_family(
                "kube_endpoint_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_endpoint_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Stable,
                o.labels.clone(),
            ),
            FamilyGen::gauge(
                "kube_endpoint_address",
                "Information about Endpoint available and non available addresses.",
                Stable,
                write_addresses,
            ),
            FamilyGen::gauge(
                "kube_endpoint_ports",
                "Information about the Endpoint ports.",
                Stable,
                |e: &Self, s| {
                    for port in e.subsets().iter().flat_map(|sub| sub.ports.as_deref().unwrap_or_default()) {
                        let number = port.port.to_string();
                        s.sample(
                            [
                                ("port_name", port.name.as_deref().unwrap_or_default()),
                                ("port_protocol", port.protocol.as_deref().unwrap_or_default()),
                                ("port_number", number.as_str()),
                            ],
                            1.0,
                        );
                    }
                },
            )
            .deprecated("v2.14.0"),
        ]
    }
}

/// `kube_endpoint_address`: per subset, per port, the ready addresses then the not-ready ones. A
/// subset without ports writes nothing, as upstream (its loops nest addresses inside ports).
fn write_addresses(e: &Endpoints, s: &mut Sink<'_>) {
    for sub in e.subsets() {
        for port in sub.ports.as_deref().unwrap_or_default() {
            let number = port.port.to_string();
            let protocol = port.protocol.as_deref().unwrap_or_default();
            let name = port.name.as_deref().unwrap_or_default();
            let ready = sub.addresses.iter().flatten().map(|a| (a, "true"));
            let not_ready = sub.not_ready_addresses.iter().flatten().map(|a| (a, "false"));
            for (address, is_ready) in ready.chain(not_ready) {
                s.sample(
                    [
                        ("port_protocol", protocol),
                        ("port_number", number.as_str()),
                        ("port_name", name),
                        ("ip", address.ip.as_str()),
                        ("ready", is_ready),
                    ],
                    1.0,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{common::KeyAllowlist, testing::*};
    use std::sync::Arc;

    #[test]
    fn full_endpoints_matches_golden_exposition() {
        let options =
            FamilyOptions { labels: Some(Arc::new(KeyAllowlist::new(&["app".into()]))), annotations: None };
        let got = render_yaml::<Endpoints>(include_str!("fixtures/endpoint-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/endpoint-full.prom"));
    }

    #[test]
    fn minimal_endpoints_writes_info_only() {
        let got = render_yaml::<Endpoints>("metadata: {name: e, namespace: ns}\n", &FamilyOptions::default());
        let samples: Vec<&str> = got.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(samples, ["kube_endpoint_info{namespace=\"ns\",endpoint=\"e\"} 1"]);
        assert!(got.contains(
            "# HELP kube_endpoint_ports [STABLE] (Deprecated since v2.14.0) Information about the Endpoint ports.\n"
        ));
    }

    #[test]
    fn ports_without_addresses_and_addresses_without_ports() {
        let yaml = "metadata: {name: e, namespace: ns}\nsubsets: [{ports: [{port: 1}]}, {addresses: [{ip: 10.0.0.1}]}, {}]\n";
        let got = render_yaml::<Endpoints>(yaml, &FamilyOptions::default());
        assert!(samples_of(&got, "kube_endpoint_address").is_empty());
        assert_eq!(
            samples_of(&got, "kube_endpoint_ports"),
            [
                "kube_endpoint_ports{namespace=\"ns\",endpoint=\"e\",port_name=\"\",port_protocol=\"\",port_number=\"1\"} 1"
            ]
        );
    }

    #[test]
    fn odd_labels_and_annotations_are_escaped() {
        let yaml = r#"
metadata:
  name: e
  namespace: ns
  labels: {"app.kubernetes.io/name": "naïve ☃", quote: 'say "hi"', path: 'C:\dir', "multi": "a\nb"}
  annotations: {"a/b": "\"", "a.b": "\\"}
subsets: [{addresses: [{ip: "bad\"ip"}], ports: [{name: "p\nq", port: -1}]}]
"#;
        let all = Some(Arc::new(KeyAllowlist::new(&["*".into()])));
        let options = FamilyOptions { labels: all.clone(), annotations: all };
        let got = render_yaml::<Endpoints>(yaml, &options);
        assert_eq!(
            samples_of(&got, "kube_endpoint_labels"),
            [
                "kube_endpoint_labels{namespace=\"ns\",endpoint=\"e\",label_app_kubernetes_io_name=\"naïve ☃\",label_multi=\"a\\nb\",label_path=\"C:\\\\dir\",label_quote=\"say \\\"hi\\\"\"} 1"
            ]
        );
        assert_eq!(
            samples_of(&got, "kube_endpoint_annotations"),
            [
                "kube_endpoint_annotations{namespace=\"ns\",endpoint=\"e\",annotation_a_b_conflict1=\"\\\\\",annotation_a_b_conflict2=\"\\\"\"} 1"
            ]
        );
        assert_eq!(
            samples_of(&got, "kube_endpoint_address"),
            [
                "kube_endpoint_address{namespace=\"ns\",endpoint=\"e\",port_protocol=\"\",port_number=\"-1\",port_name=\"p\\nq\",ip=\"bad\\\"ip\",ready=\"true\"} 1"
            ]
        );
    }
}
