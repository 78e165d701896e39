//! `kube_service_*` families (upstream `internal/store/service.go`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*};
use k8s_openapi::{NamespaceResourceScope, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use serde::Deserialize;

/// The fields of a Service that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Service {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// The spec fields metrics read.
    #[serde(default)]
    pub spec: Option<ServiceSpec>,
    /// The status fields metrics read.
    #[serde(default)]
    pub status: Option<ServiceStatus>,
}
projection!(Service, "Service", "", "v1", "services", NamespaceResourceScope);

/// The part of `ServiceSpec` metrics read (ports and selectors are left out).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// `type`, e.g. `ClusterIP`.
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
    /// `clusterIP`.
    #[serde(default, rename = "clusterIP")]
    pub cluster_ip: Option<String>,
    /// `externalName`.
    #[serde(default)]
    pub external_name: Option<String>,
    /// `loadBalancerIP`.
    #[serde(default, rename = "loadBalancerIP")]
    pub load_balancer_ip: Option<String>,
    /// `externalTrafficPolicy`.
    #[serde(default)]
    pub external_traffic_policy: Option<String>,
    /// `externalIPs`.
    #[serde(default, rename = "externalIPs")]
    pub external_ips: Option<Vec<String>>,
}

/// The part of `ServiceStatus` metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    /// `loadBalancer`.
    #[serde(default)]
    pub load_balancer: Option<LoadBalancerStatus>,
}

/// `status.loadBalancer`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct LoadBalancerStatus {
    /// One entry per ingress point.
    #[serde(default)]
    pub ingress: Option<Vec<LoadBalancerIngress>>,
}

/// One load-balancer ingress point.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct LoadBalancerIngress {
    /// `ip`.
    #[serde(default)]
    pub ip: Option<String>,
    /// `hostname`.
    #[serde(default)]
    pub hostname: Option<String>,
}

impl Service {
    /// A string field of the spec, `""` when unset (Go's zero value).
    fn spec_str(&self, field: impl Fn(&ServiceSpec) -> &Option<String>) -> &str {
        self.spec.as_ref().and_then(|s| field(s).as_deref()).unwrap_or_default()
    }
}

impl Kind for Service {
    const RESOURCE: &'static str = "services";
    const KIND: &'static str = "Service";
    const GO_TYPE: &'static str = "*v1.Service";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("service", self.metadata.name.as_deref().unwrap_or_default()),
            ("uid", self.metadata.uid.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            FamilyGen::gauge("kube_service_info", "Information about service.", Stable, |svc: &Self, s| {
                s.sample(
                    [
                        ("cluster_ip", svc.spec_str(|sp| &sp.cluster_ip)),
                        ("external_name", svc.spec_str(|sp| &sp.external_name)),
                        ("load_balancer_ip", svc.spec_str(|sp| &sp.load_balancer_ip)),
                        ("external_traffic_policy", svc.spec_str(|sp| &sp.external_traffic_policy)),
                    ],
                    1.0,
                )
            }),
            common::created_family("kube_service_created", "Unix creation timestamp", Stable),
            FamilyGen::gauge("kube_service_spec_type", "Type about service.", Stable, |svc: &Self, s| {
                s.sample([("type", svc.spec_str(|sp| &sp.type_))], 1.0)
            }),
            common::annotations_family(
                "kube_service_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_service_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Stable,
                o.labels.clone(),
            ),
            FamilyGen::gauge(
                "kube_service_spec_external_ip",
                "Service external ips. One series for each ip",
                Stable,
                |svc: &Self, s| {
                    for ip in svc.spec.as_ref().and_then(|sp| sp.external_ips.as_deref()).unwrap_or_default()
                    {
                        s.sample([("external_ip", ip.as_str())], 1.0);
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_service_status_load_balancer_ingress",
                "Service load balancer ingress status",
                Stable,
                |svc: &Self, s| {
                    let ingress = svc
                        .status
                        .as_ref()
                        .and_then(|st| st.load_balancer.as_ref())
                        .and_then(|lb| lb.ingress.as_deref())
                        .unwrap_or_default();
                    for i in ingress {
                        s.sample(
                            [
                                ("ip", i.ip.as_deref().unwrap_or_default()),
                                ("hostname", i.hostname.as_deref().unwrap_or_default()),
                            ],
                            1.0,
                        );
                    }
                },
            ),
            common::deletion_family("kube_service_deletion_timestamp", "Unix deletion timestamp", Alpha),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{common::KeyAllowlist, testing::*};
    use std::sync::Arc;

    #[test]
    fn full_service_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["app".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
        };
        let got = render_yaml::<Service>(include_str!("fixtures/service-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/service-full.prom"));
    }

    #[test]
    fn minimal_service_writes_empty_info_and_type() {
        let got = render_yaml::<Service>("metadata: {name: s, namespace: ns}\n", &FamilyOptions::default());
        let samples: Vec<&str> = got.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "kube_service_info{namespace=\"ns\",service=\"s\",uid=\"\",cluster_ip=\"\",external_name=\"\",load_balancer_ip=\"\",external_traffic_policy=\"\"} 1",
                "kube_service_spec_type{namespace=\"ns\",service=\"s\",uid=\"\",type=\"\"} 1",
            ]
        );
        assert_eq!(got.matches("# TYPE ").count(), 8);
    }

    #[test]
    fn external_name_service_and_null_lists() {
        let yaml = "metadata: {name: s, namespace: ns, uid: u}\nspec: {type: ExternalName, externalName: db.example.com, externalIPs: null}\nstatus: {loadBalancer: {}}\n";
        let got = render_yaml::<Service>(yaml, &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_service_info"),
            [
                "kube_service_info{namespace=\"ns\",service=\"s\",uid=\"u\",cluster_ip=\"\",external_name=\"db.example.com\",load_balancer_ip=\"\",external_traffic_policy=\"\"} 1"
            ]
        );
        assert!(samples_of(&got, "kube_service_spec_external_ip").is_empty());
        assert!(samples_of(&got, "kube_service_status_load_balancer_ingress").is_empty());
    }

    #[test]
    fn odd_labels_and_annotations_are_escaped() {
        let yaml = r#"
metadata:
  name: s
  namespace: ns
  uid: "u\\1"
  labels: {"app.kubernetes.io/name": "naïve ☃", quote: 'say "hi"', path: 'C:\dir', "multi": "a\nb"}
  annotations: {"camelCase": "x", "CamelCase": "y"}
"#;
        let all = Some(Arc::new(KeyAllowlist::new(&["*".into()])));
        let options = FamilyOptions { labels: all.clone(), annotations: all };
        let got = render_yaml::<Service>(yaml, &options);
        assert_eq!(
            samples_of(&got, "kube_service_labels"),
            [
                "kube_service_labels{namespace=\"ns\",service=\"s\",uid=\"u\\\\1\",label_app_kubernetes_io_name=\"naïve ☃\",label_multi=\"a\\nb\",label_path=\"C:\\\\dir\",label_quote=\"say \\\"hi\\\"\"} 1"
            ]
        );
        // `CamelCase` and `camelCase` both become `annotation_camel_case`.
        assert_eq!(
            samples_of(&got, "kube_service_annotations"),
            [
                "kube_service_annotations{namespace=\"ns\",service=\"s\",uid=\"u\\\\1\",annotation_camel_case_conflict1=\"y\",annotation_camel_case_conflict2=\"x\"} 1"
            ]
        );
    }
}
