//! `kube_ingress_*` families (upstream `internal/store/ingress.go`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Sink, Stability::*};
use k8s_openapi::{
    NamespaceResourceScope, api::networking::v1::IngressSpec, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Deserialize;

/// The fields of an Ingress that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Ingress {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<IngressSpec>,
}
projection!(Ingress, "Ingress", "networking.k8s.io", "v1", "ingresses", NamespaceResourceScope);

/// The legacy class annotation; when present it wins over `spec.ingressClassName`.
const INGRESS_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

impl Ingress {
    /// The annotation, else `spec.ingressClassName`, else `_default`.
    fn class(&self) -> &str {
        let annotation = self.metadata.annotations.as_ref().and_then(|a| a.get(INGRESS_CLASS_ANNOTATION));
        let spec = self.spec.as_ref().and_then(|s| s.ingress_class_name.as_ref());
        annotation.or(spec).map_or("_default", String::as_str)
    }
}

impl Kind for Ingress {
    const RESOURCE: &'static str = "ingresses";
    const KIND: &'static str = "Ingress";
    const GO_TYPE: &'static str = "*v1.Ingress";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("ingress", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            FamilyGen::gauge("kube_ingress_info", "Information about ingress.", Stable, |i: &Self, s| {
                s.sample([("ingressclass", i.class())], 1.0)
            }),
            common::annotations_family(
                "kube_ingress_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_ingress_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Stable,
                o.labels.clone(),
            ),
            common::created_family("kube_ingress_created", "Unix creation timestamp", Stable),
            common::resource_version_family(
                "kube_ingress_metadata_resource_version",
                "Resource version representing a specific version of ingress.",
                Alpha,
            ),
            FamilyGen::gauge(
                "kube_ingress_path",
                "Ingress host, paths and backend service information.",
                Stable,
                write_paths,
            ),
            FamilyGen::gauge(
                "kube_ingress_tls",
                "Ingress TLS host and secret information.",
                Stable,
                |i: &Self, s| {
                    for tls in i.spec.as_ref().and_then(|sp| sp.tls.as_deref()).unwrap_or_default() {
                        let secret = tls.secret_name.as_deref().unwrap_or_default();
                        for host in tls.hosts.as_deref().unwrap_or_default() {
                            s.sample([("tls_host", host.as_str()), ("secret", secret)], 1.0);
                        }
                    }
                },
            ),
        ]
    }
}

/// `kube_ingress_path`: one sample per HTTP path, labelled with its service backend or, failing
/// that, its resource backend. A path with neither (the API server rejects it) would make
/// upstream dereference nil; here it is skipped.
fn write_paths(i: &Ingress, s: &mut Sink<'_>) {
    for rule in i.spec.as_ref().and_then(|sp| sp.rules.as_deref()).unwrap_or_default() {
        let host = rule.host.as_deref().unwrap_or_default();
        for path in rule.http.as_ref().map(|h| h.paths.as_slice()).unwrap_or_default() {
            let (p, path_type) = (path.path.as_deref().unwrap_or_default(), path.path_type.as_str());
            if let Some(service) = &path.backend.service {
                // Go's zero port number when the port is unset or named.
                let port = service.port.as_ref().and_then(|p| p.number).unwrap_or(0).to_string();
                s.sample(
                    [
                        ("host", host),
                        ("path", p),
                        ("path_type", path_type),
                        ("service_name", service.name.as_str()),
                        ("service_port", port.as_str()),
                    ],
                    1.0,
                );
            } else if let Some(resource) = &path.backend.resource {
                s.sample(
                    [
                        ("host", host),
                        ("path", p),
                        ("path_type", path_type),
                        ("resource_api_group", resource.api_group.as_deref().unwrap_or_default()),
                        ("resource_kind", resource.kind.as_str()),
                        ("resource_name", resource.name.as_str()),
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
    fn full_ingress_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["app".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["kubernetes.io/*".into()]))),
        };
        let got = render_yaml::<Ingress>(include_str!("fixtures/ingress-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/ingress-full.prom"));
    }

    #[test]
    fn minimal_ingress_has_default_class_and_nothing_else() {
        let got = render_yaml::<Ingress>("metadata: {name: i, namespace: ns}\n", &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_ingress_info"),
            ["kube_ingress_info{namespace=\"ns\",ingress=\"i\",ingressclass=\"_default\"} 1"]
        );
        for family in [
            "kube_ingress_annotations",
            "kube_ingress_labels",
            "kube_ingress_created",
            "kube_ingress_metadata_resource_version",
            "kube_ingress_path",
            "kube_ingress_tls",
        ] {
            assert!(samples_of(&got, family).is_empty(), "{family}");
        }
    }

    #[test]
    fn odd_content_is_escaped_and_backendless_paths_are_skipped() {
        let yaml = r#"
metadata:
  name: "i\"\\"
  namespace: ns
  resourceVersion: "not-a-number"
  labels: {"app\n": "a\"b", "ö": "\\"}
  annotations: {"kubernetes.io/ingress.class": "c\nd"}
spec:
  ingressClassName: ignored
  rules:
  - host: "h\""
    http:
      paths:
      - {path: "/\\", pathType: Prefix, backend: {}}
      - {path: "/x\ny", pathType: Exact, backend: {service: {name: "s\"", port: {name: http}}}}
  tls:
  - {hosts: ["t\\"]}
"#;
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
        };
        let got = render_yaml::<Ingress>(yaml, &options);
        let i = "namespace=\"ns\",ingress=\"i\\\"\\\\\"";
        assert_eq!(
            samples_of(&got, "kube_ingress_info"),
            [format!("kube_ingress_info{{{i},ingressclass=\"c\\nd\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_ingress_labels"),
            [format!("kube_ingress_labels{{{i},label_app_=\"a\\\"b\",label__=\"\\\\\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_ingress_annotations"),
            [format!("kube_ingress_annotations{{{i},annotation_kubernetes_io_ingress_class=\"c\\nd\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_ingress_path"),
            [format!(
                "kube_ingress_path{{{i},host=\"h\\\"\",path=\"/x\\ny\",path_type=\"Exact\",service_name=\"s\\\"\",service_port=\"0\"}} 1"
            )]
        );
        assert_eq!(
            samples_of(&got, "kube_ingress_tls"),
            [format!("kube_ingress_tls{{{i},tls_host=\"t\\\\\",secret=\"\"}} 1")]
        );
        assert!(samples_of(&got, "kube_ingress_metadata_resource_version").is_empty());
    }
}
