//! `kube_certificatesigningrequest_*` families (upstream
//! `internal/store/certificatesigningrequest.go`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*};
use k8s_openapi::{ByteString, ClusterResourceScope, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use serde::Deserialize;

/// The fields of a CertificateSigningRequest that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CertificateSigningRequest {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec: the signer only (the request itself is skipped).
    #[serde(default)]
    pub spec: Option<CsrSpec>,
    /// Status.
    #[serde(default)]
    pub status: Option<CsrStatus>,
}
projection!(
    CertificateSigningRequest,
    "CertificateSigningRequest",
    "certificates.k8s.io",
    "v1",
    "certificatesigningrequests",
    ClusterResourceScope
);

/// The part of a request's spec that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CsrSpec {
    /// The requested signer, a default label.
    pub signer_name: Option<String>,
}

/// The part of a request's status that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CsrStatus {
    /// The issued certificate (base64 in JSON; its decoded length is measured).
    pub certificate: Option<ByteString>,
    /// Approved, Denied and Failed conditions.
    pub conditions: Option<Vec<CsrCondition>>,
}

/// A request condition; only its type is counted.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CsrCondition {
    /// `Approved`, `Denied` or `Failed`.
    #[serde(rename = "type")]
    pub type_: Option<String>,
}

/// Counted condition types and the `condition` label each is written under, in upstream's order.
const CONDITIONS: [(&str, &str); 3] = [("Approved", "approved"), ("Denied", "denied"), ("Failed", "failed")];

impl Kind for CertificateSigningRequest {
    const RESOURCE: &'static str = "certificatesigningrequests";
    const KIND: &'static str = "CertificateSigningRequest";
    const GO_TYPE: &'static str = "*v1.CertificateSigningRequest";
    const NAMESPACED: bool = false;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("certificatesigningrequest", self.metadata.name.as_deref().unwrap_or_default()),
            ("signer_name", self.spec.as_ref().and_then(|s| s.signer_name.as_deref()).unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            common::annotations_family(
                "kube_certificatesigningrequest_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_certificatesigningrequest_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Stable,
                o.labels.clone(),
            ),
            common::created_family(
                "kube_certificatesigningrequest_created",
                "Unix creation timestamp",
                Stable,
            ),
            FamilyGen::gauge(
                "kube_certificatesigningrequest_condition",
                "The number of each certificatesigningrequest condition",
                Stable,
                |c: &Self, s| {
                    let conditions =
                        c.status.as_ref().and_then(|st| st.conditions.as_deref()).unwrap_or_default();
                    for (type_, label) in CONDITIONS {
                        let count = conditions.iter().filter(|c| c.type_.as_deref() == Some(type_)).count();
                        s.sample([("condition", label)], count as f64);
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_certificatesigningrequest_cert_length",
                "Length of the issued cert",
                Stable,
                |c: &Self, s| {
                    let cert = c.status.as_ref().and_then(|st| st.certificate.as_ref());
                    s.value(cert.map_or(0, |b| b.0.len()) as f64)
                },
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{common::KeyAllowlist, testing::*};
    use std::sync::Arc;

    #[test]
    fn full_request_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["app".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["purpose".into()]))),
        };
        let got = render_yaml::<CertificateSigningRequest>(
            include_str!("fixtures/certificatesigningrequest-full.yaml"),
            &options,
        );
        assert_eq!(got, include_str!("fixtures/certificatesigningrequest-full.prom"));
    }

    #[test]
    fn minimal_request_counts_nothing() {
        let got =
            render_yaml::<CertificateSigningRequest>("metadata: {name: r}\n", &FamilyOptions::default());
        let r = "certificatesigningrequest=\"r\",signer_name=\"\"";
        assert_eq!(
            samples_of(&got, "kube_certificatesigningrequest_condition"),
            ["approved", "denied", "failed"]
                .map(|c| format!("kube_certificatesigningrequest_condition{{{r},condition=\"{c}\"}} 0"))
        );
        assert_eq!(
            samples_of(&got, "kube_certificatesigningrequest_cert_length"),
            [format!("kube_certificatesigningrequest_cert_length{{{r}}} 0")]
        );
        assert!(samples_of(&got, "kube_certificatesigningrequest_created").is_empty());
    }

    #[test]
    fn odd_content_is_escaped() {
        let yaml = r#"
metadata:
  name: "r\"\\"
  labels: {"app": "x\ny", "ñ": "\""}
  annotations: {"a.b/cD": "\\"}
spec: {signerName: "example.com/\"s\"\n"}
status:
  conditions: [{type: Approved}, {type: Approved}, {type: approved}]
"#;
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
        };
        let got = render_yaml::<CertificateSigningRequest>(yaml, &options);
        let r = "certificatesigningrequest=\"r\\\"\\\\\",signer_name=\"example.com/\\\"s\\\"\\n\"";
        assert_eq!(
            samples_of(&got, "kube_certificatesigningrequest_labels"),
            [format!("kube_certificatesigningrequest_labels{{{r},label_app=\"x\\ny\",label__=\"\\\"\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_certificatesigningrequest_annotations"),
            [format!("kube_certificatesigningrequest_annotations{{{r},annotation_a_b_c_d=\"\\\\\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_certificatesigningrequest_condition"),
            [("approved", 2), ("denied", 0), ("failed", 0)].map(|(c, n)| format!(
                "kube_certificatesigningrequest_condition{{{r},condition=\"{c}\"}} {n}"
            ))
        );
    }
}
