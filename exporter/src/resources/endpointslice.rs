//! `kube_endpointslice_*` families (upstream `internal/store/endpointslice.go`). Unlike most
//! kinds, the default labels put the name before the namespace.

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Sink, Stability::*};
use k8s_openapi::{
    NamespaceResourceScope,
    api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Deserialize;

/// The fields of an EndpointSlice that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSlice {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// `IPv4`, `IPv6` or `FQDN`.
    #[serde(default)]
    pub address_type: Option<String>,
    /// The endpoints.
    #[serde(default)]
    pub endpoints: Option<Vec<Endpoint>>,
    /// The ports.
    #[serde(default)]
    pub ports: Option<Vec<EndpointPort>>,
}
projection!(
    EndpointSlice,
    "EndpointSlice",
    "discovery.k8s.io",
    "v1",
    "endpointslices",
    NamespaceResourceScope
);

impl EndpointSlice {
    fn endpoints(&self) -> &[Endpoint] {
        self.endpoints.as_deref().unwrap_or_default()
    }
}

impl Kind for EndpointSlice {
    const RESOURCE: &'static str = "endpointslices";
    const KIND: &'static str = "EndpointSlice";
    const GO_TYPE: &'static str = "*v1.EndpointSlice";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("endpointslice", self.metadata.name.as_deref().unwrap_or_default()),
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            FamilyGen::gauge(
                "kube_endpointslice_info",
                "Information about endpointslice.",
                Alpha,
                |e: &Self, s| s.sample([("addresstype", e.address_type.as_deref().unwrap_or_default())], 1.0),
            ),
            common::created_family("kube_endpointslice_created", "Unix creation timestamp", Alpha),
            FamilyGen::gauge(
                "kube_endpointslice_endpoints_hints",
                "Topology routing hints attached to endpoints",
                Alpha,
                write_hints,
            ),
            FamilyGen::gauge(
                "kube_endpointslice_endpoints",
                "Endpoints attached to the endpointslice.",
                Alpha,
                write_endpoints,
            ),
            FamilyGen::gauge(
                "kube_endpointslice_ports",
                "Ports attached to the endpointslice.",
                Alpha,
                |e: &Self, s| {
                    for port in e.ports.as_deref().unwrap_or_default() {
                        let number = port.port.map(|p| p.to_string()).unwrap_or_default();
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
            ),
            common::annotations_family(
                "kube_endpointslice_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_endpointslice_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Alpha,
                o.labels.clone(),
            ),
        ]
    }
}

/// `kube_endpointslice_endpoints_hints`: one sample per zone hint, against the endpoint's first
/// address; endpoints without zone hints or without addresses write nothing.
fn write_hints(e: &EndpointSlice, s: &mut Sink<'_>) {
    for ep in e.endpoints() {
        let zones = ep.hints.as_ref().and_then(|h| h.for_zones.as_deref()).unwrap_or_default();
        let Some(address) = ep.addresses.first() else { continue };
        for zone in zones {
            s.sample([("address", address.as_str()), ("for_zone", zone.name.as_str())], 1.0);
        }
    }
}

/// `kube_endpointslice_endpoints`: one sample per address; unset conditions and optional fields
/// are empty strings.
fn write_endpoints(e: &EndpointSlice, s: &mut Sink<'_>) {
    let flag = |b: Option<bool>| match b {
        Some(true) => "true",
        Some(false) => "false",
        None => "",
    };
    for ep in e.endpoints() {
        let condition = |f: fn(&EndpointConditions) -> Option<bool>| flag(ep.conditions.as_ref().and_then(f));
        let target = ep.target_ref.as_ref();
        let target_field = |f: fn(&k8s_openapi::api::core::v1::ObjectReference) -> &Option<String>| -> &str {
            target.and_then(|t| f(t).as_deref()).unwrap_or_default()
        };
        for address in &ep.addresses {
            s.sample(
                [
                    ("ready", condition(|c| c.ready)),
                    ("serving", condition(|c| c.serving)),
                    ("hostname", ep.hostname.as_deref().unwrap_or_default()),
                    ("terminating", condition(|c| c.terminating)),
                    ("targetref_kind", target_field(|t| &t.kind)),
                    ("targetref_name", target_field(|t| &t.name)),
                    ("targetref_namespace", target_field(|t| &t.namespace)),
                    ("endpoint_nodename", ep.node_name.as_deref().unwrap_or_default()),
                    ("endpoint_zone", ep.zone.as_deref().unwrap_or_default()),
                    ("address", address.as_str()),
                ],
                1.0,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{common::KeyAllowlist, testing::*};
    use std::sync::Arc;

    #[test]
    fn full_endpointslice_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["kubernetes.io/*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
        };
        let got = render_yaml::<EndpointSlice>(include_str!("fixtures/endpointslice-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/endpointslice-full.prom"));
    }

    #[test]
    fn minimal_endpointslice_writes_info_with_name_first() {
        let got =
            render_yaml::<EndpointSlice>("metadata: {name: e, namespace: ns}\n", &FamilyOptions::default());
        let samples: Vec<&str> = got.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            ["kube_endpointslice_info{endpointslice=\"e\",namespace=\"ns\",addresstype=\"\"} 1"]
        );
        assert_eq!(got.matches("# TYPE ").count(), 7);
    }

    #[test]
    fn odd_labels_and_annotations_are_escaped() {
        let yaml = r#"
metadata:
  name: e
  namespace: ns
  labels: {"app.kubernetes.io/name": "naïve ☃", quote: 'say "hi"', path: 'C:\dir', "multi": "a\nb"}
  annotations: {"x\u00e9": "1"}
addressType: FQDN
endpoints: [{addresses: ["a\"b.example"], hostname: "h\\1", zone: "z\n"}]
"#;
        let all = Some(Arc::new(KeyAllowlist::new(&["*".into()])));
        let options = FamilyOptions { labels: all.clone(), annotations: all };
        let got = render_yaml::<EndpointSlice>(yaml, &options);
        assert_eq!(
            samples_of(&got, "kube_endpointslice_labels"),
            [
                "kube_endpointslice_labels{endpointslice=\"e\",namespace=\"ns\",label_app_kubernetes_io_name=\"naïve ☃\",label_multi=\"a\\nb\",label_path=\"C:\\\\dir\",label_quote=\"say \\\"hi\\\"\"} 1"
            ]
        );
        assert_eq!(
            samples_of(&got, "kube_endpointslice_annotations"),
            ["kube_endpointslice_annotations{endpointslice=\"e\",namespace=\"ns\",annotation_x_=\"1\"} 1"]
        );
        assert_eq!(
            samples_of(&got, "kube_endpointslice_endpoints"),
            [
                "kube_endpointslice_endpoints{endpointslice=\"e\",namespace=\"ns\",ready=\"\",serving=\"\",hostname=\"h\\\\1\",terminating=\"\",targetref_kind=\"\",targetref_name=\"\",targetref_namespace=\"\",endpoint_nodename=\"\",endpoint_zone=\"z\\n\",address=\"a\\\"b.example\"} 1"
            ]
        );
    }
}
