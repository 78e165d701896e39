//! `kube_resourcequota*` families (upstream `internal/store/resourcequota.go`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*};
use k8s_openapi::{
    NamespaceResourceScope, api::core::v1::ResourceQuotaStatus, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Deserialize;

/// The fields of a ResourceQuota that metrics read (only the status; the spec's `hard` is what
/// the controller copies there).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ResourceQuota {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Status.
    #[serde(default)]
    pub status: Option<ResourceQuotaStatus>,
}
projection!(ResourceQuota, "ResourceQuota", "", "v1", "resourcequotas", NamespaceResourceScope);

impl Kind for ResourceQuota {
    const RESOURCE: &'static str = "resourcequotas";
    const KIND: &'static str = "ResourceQuota";
    const GO_TYPE: &'static str = "*v1.ResourceQuota";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("resourcequota", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            common::created_family("kube_resourcequota_created", "Unix creation timestamp", Stable),
            FamilyGen::gauge(
                "kube_resourcequota",
                "Information about resource quota.",
                Stable,
                |r: &Self, s| {
                    let status = r.status.as_ref();
                    common::write_quantities(s, status.and_then(|st| st.hard.as_ref()), &[("type", "hard")]);
                    common::write_quantities(s, status.and_then(|st| st.used.as_ref()), &[("type", "used")]);
                },
            ),
            common::annotations_family(
                "kube_resourcequota_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_resourcequota_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Stable,
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
    fn full_resourcequota_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["tier".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["note".into()]))),
        };
        let got = render_yaml::<ResourceQuota>(include_str!("fixtures/resourcequota-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/resourcequota-full.prom"));
    }

    #[test]
    fn minimal_resourcequota_writes_nothing_but_headers() {
        let got =
            render_yaml::<ResourceQuota>("metadata: {name: q, namespace: ns}\n", &FamilyOptions::default());
        assert_eq!(got.lines().filter(|l| !l.starts_with('#')).count(), 0);
        assert_eq!(got.matches("# TYPE ").count(), 4);
    }

    #[test]
    fn spec_alone_writes_nothing_and_bad_quantities_skip_one_sample() {
        let yaml = "metadata: {name: q, namespace: ns}\nspec: {hard: {cpu: '1'}}\nstatus: {used: {cpu: 'lots', pods: '1e20', memory: '-1Gi'}}\n";
        let got = render_yaml::<ResourceQuota>(yaml, &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_resourcequota"),
            [
                "kube_resourcequota{namespace=\"ns\",resourcequota=\"q\",resource=\"memory\",type=\"used\"} -1.073741824e+09",
                // apimachinery's Value() overflows int64 here, as upstream.
                "kube_resourcequota{namespace=\"ns\",resourcequota=\"q\",resource=\"pods\",type=\"used\"} 0",
            ]
        );
    }

    #[test]
    fn odd_labels_and_annotations_are_escaped() {
        let yaml = r#"
metadata:
  name: q
  namespace: ns
  labels: {"app.kubernetes.io/name": "naïve ☃", quote: 'say "hi"', path: 'C:\dir', "multi": "a\nb"}
  annotations: {"Ab": "1", "aB": "2"}
"#;
        let all = Some(Arc::new(KeyAllowlist::new(&["*".into()])));
        let options = FamilyOptions { labels: all.clone(), annotations: all };
        let got = render_yaml::<ResourceQuota>(yaml, &options);
        assert_eq!(
            samples_of(&got, "kube_resourcequota_labels"),
            [
                "kube_resourcequota_labels{namespace=\"ns\",resourcequota=\"q\",label_app_kubernetes_io_name=\"naïve ☃\",label_multi=\"a\\nb\",label_path=\"C:\\\\dir\",label_quote=\"say \\\"hi\\\"\"} 1"
            ]
        );
        assert_eq!(
            samples_of(&got, "kube_resourcequota_annotations"),
            [
                "kube_resourcequota_annotations{namespace=\"ns\",resourcequota=\"q\",annotation_ab=\"1\",annotation_a_b=\"2\"} 1"
            ]
        );
    }
}
