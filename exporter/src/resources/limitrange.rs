//! `kube_limitrange*` families (upstream `internal/store/limitrange.go`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*};
use k8s_openapi::{
    NamespaceResourceScope, api::core::v1::LimitRangeSpec, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Deserialize;

/// The fields of a LimitRange that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct LimitRange {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<LimitRangeSpec>,
}
projection!(LimitRange, "LimitRange", "", "v1", "limitranges", NamespaceResourceScope);

impl Kind for LimitRange {
    const RESOURCE: &'static str = "limitranges";
    const KIND: &'static str = "LimitRange";
    const GO_TYPE: &'static str = "*v1.LimitRange";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("limitrange", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(_: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            FamilyGen::gauge("kube_limitrange", "Information about limit range.", Stable, |r: &Self, s| {
                // Per item, the constraints in upstream's order; within one, by resource name.
                for item in r.spec.iter().flat_map(|sp| &sp.limits) {
                    let t = item.type_.as_str();
                    for (constraint, list) in [
                        ("min", &item.min),
                        ("max", &item.max),
                        ("default", &item.default),
                        ("defaultRequest", &item.default_request),
                        ("maxLimitRequestRatio", &item.max_limit_request_ratio),
                    ] {
                        common::write_quantities(
                            s,
                            list.as_ref(),
                            &[("type", t), ("constraint", constraint)],
                        );
                    }
                }
            }),
            common::created_family("kube_limitrange_created", "Unix creation timestamp", Stable),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::testing::*;

    #[test]
    fn full_limitrange_matches_golden_exposition() {
        let got = render_yaml::<LimitRange>(
            include_str!("fixtures/limitrange-full.yaml"),
            &FamilyOptions::default(),
        );
        assert_eq!(got, include_str!("fixtures/limitrange-full.prom"));
    }

    #[test]
    fn minimal_limitrange_writes_nothing_but_headers() {
        let got =
            render_yaml::<LimitRange>("metadata: {name: l, namespace: ns}\n", &FamilyOptions::default());
        assert_eq!(got.lines().filter(|l| !l.starts_with('#')).count(), 0);
        assert_eq!(got.matches("# TYPE ").count(), 2);
    }

    #[test]
    fn odd_resource_names_stay_raw_and_bad_quantities_skip_one_sample() {
        let yaml = "metadata: {name: l, namespace: ns}\nspec: {limits: [{type: \"Odd\\\"\", max: {\"example.com/gpu\": \"2\", cpu: \"x\", \"a\\\\b\": \"1e3\"}}]}\n";
        let got = render_yaml::<LimitRange>(yaml, &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_limitrange"),
            [
                "kube_limitrange{namespace=\"ns\",limitrange=\"l\",resource=\"a\\\\b\",type=\"Odd\\\"\",constraint=\"max\"} 1000",
                "kube_limitrange{namespace=\"ns\",limitrange=\"l\",resource=\"example.com/gpu\",type=\"Odd\\\"\",constraint=\"max\"} 2",
            ]
        );
    }
}
