//! `kube_serviceaccount_*` families (upstream `internal/store/serviceaccount.go`); off by default
//! upstream.

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*};
use k8s_openapi::{
    NamespaceResourceScope,
    api::core::v1::{LocalObjectReference, ObjectReference},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Deserialize;

/// The fields of a ServiceAccount that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccount {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// `automountServiceAccountToken`.
    #[serde(default)]
    pub automount_service_account_token: Option<bool>,
    /// Mountable secrets.
    #[serde(default)]
    pub secrets: Option<Vec<ObjectReference>>,
    /// Image pull secrets.
    #[serde(default)]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
}
projection!(ServiceAccount, "ServiceAccount", "", "v1", "serviceaccounts", NamespaceResourceScope);

impl Kind for ServiceAccount {
    const RESOURCE: &'static str = "serviceaccounts";
    const KIND: &'static str = "ServiceAccount";
    const GO_TYPE: &'static str = "*v1.ServiceAccount";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("serviceaccount", self.metadata.name.as_deref().unwrap_or_default()),
            ("uid", self.metadata.uid.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            FamilyGen::gauge(
                "kube_serviceaccount_info",
                "Information about a service account",
                Alpha,
                |sa: &Self, s| {
                    let automount = match sa.automount_service_account_token {
                        Some(true) => "true",
                        Some(false) => "false",
                        None => "",
                    };
                    s.sample([("automount_token", automount)], 1.0)
                },
            ),
            common::created_family("kube_serviceaccount_created", "Unix creation timestamp", Alpha),
            common::deletion_family("kube_serviceaccount_deleted", "Unix deletion timestamp", Alpha),
            FamilyGen::gauge(
                "kube_serviceaccount_secret",
                "Secret being referenced by a service account",
                Alpha,
                |sa: &Self, s| {
                    for secret in sa.secrets.as_deref().unwrap_or_default() {
                        s.sample([("name", secret.name.as_deref().unwrap_or_default())], 1.0);
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_serviceaccount_image_pull_secret",
                "Secret being referenced by a service account for the purpose of pulling images",
                Alpha,
                |sa: &Self, s| {
                    for secret in sa.image_pull_secrets.as_deref().unwrap_or_default() {
                        s.sample([("name", secret.name.as_str())], 1.0);
                    }
                },
            ),
            common::annotations_family(
                "kube_serviceaccount_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_serviceaccount_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Alpha,
                o.labels.clone(),
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
    fn full_serviceaccount_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["app".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
        };
        let got = render_yaml::<ServiceAccount>(include_str!("fixtures/serviceaccount-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/serviceaccount-full.prom"));
    }

    #[test]
    fn minimal_serviceaccount_writes_empty_automount() {
        let got =
            render_yaml::<ServiceAccount>("metadata: {name: sa, namespace: ns}\n", &FamilyOptions::default());
        let samples: Vec<&str> = got.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "kube_serviceaccount_info{namespace=\"ns\",serviceaccount=\"sa\",uid=\"\",automount_token=\"\"} 1"
            ]
        );
        assert_eq!(got.matches("# TYPE ").count(), 7);
    }

    #[test]
    fn unnamed_references_write_empty_names() {
        let yaml = "metadata: {name: sa, namespace: ns, uid: u}\nautomountServiceAccountToken: true\nsecrets: [{}]\nimagePullSecrets: [{}]\n";
        let got = render_yaml::<ServiceAccount>(yaml, &FamilyOptions::default());
        let samples: Vec<&str> = got.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "kube_serviceaccount_info{namespace=\"ns\",serviceaccount=\"sa\",uid=\"u\",automount_token=\"true\"} 1",
                "kube_serviceaccount_secret{namespace=\"ns\",serviceaccount=\"sa\",uid=\"u\",name=\"\"} 1",
                "kube_serviceaccount_image_pull_secret{namespace=\"ns\",serviceaccount=\"sa\",uid=\"u\",name=\"\"} 1",
            ]
        );
    }

    #[test]
    fn odd_labels_and_annotations_are_escaped() {
        let yaml = r#"
metadata:
  name: sa
  namespace: ns
  uid: u
  labels: {"app.kubernetes.io/name": "naïve ☃", quote: 'say "hi"', path: 'C:\dir', "multi": "a\nb"}
  annotations: {"x-y": "1", "x_y": "2"}
secrets: [{name: "s\"1"}]
"#;
        let all = Some(Arc::new(KeyAllowlist::new(&["*".into()])));
        let options = FamilyOptions { labels: all.clone(), annotations: all };
        let got = render_yaml::<ServiceAccount>(yaml, &options);
        assert_eq!(
            samples_of(&got, "kube_serviceaccount_labels"),
            [
                "kube_serviceaccount_labels{namespace=\"ns\",serviceaccount=\"sa\",uid=\"u\",label_app_kubernetes_io_name=\"naïve ☃\",label_multi=\"a\\nb\",label_path=\"C:\\\\dir\",label_quote=\"say \\\"hi\\\"\"} 1"
            ]
        );
        assert_eq!(
            samples_of(&got, "kube_serviceaccount_annotations"),
            [
                "kube_serviceaccount_annotations{namespace=\"ns\",serviceaccount=\"sa\",uid=\"u\",annotation_x_y_conflict1=\"1\",annotation_x_y_conflict2=\"2\"} 1"
            ]
        );
        assert_eq!(
            samples_of(&got, "kube_serviceaccount_secret"),
            [
                "kube_serviceaccount_secret{namespace=\"ns\",serviceaccount=\"sa\",uid=\"u\",name=\"s\\\"1\"} 1"
            ]
        );
    }
}
