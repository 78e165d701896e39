//! `kube_lease_*` families (upstream `internal/store/lease.go`). The only default label is
//! `lease`; `namespace` is one of each family's own labels, written after the owner labels.

use super::{FamilyOptions, Kind, common::lean_meta, projection};
use crate::metric::{FamilyGen, Stability::*};
use k8s_openapi::{
    NamespaceResourceScope,
    api::coordination::v1::LeaseSpec,
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
};
use serde::Deserialize;

/// The fields of a Lease that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Lease {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<LeaseSpec>,
}
projection!(Lease, "Lease", "coordination.k8s.io", "v1", "leases", NamespaceResourceScope);

/// `Time.Unix()` of Go's zero time (0001-01-01T00:00:00Z), which `IsZero()` treats as unset.
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

impl Lease {
    fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or_default()
    }
}

/// `MicroTime.Unix()` unless `IsZero()`: whole seconds rounded down (also before 1970, where
/// truncating toward zero would be one second off), `None` for Go's zero time.
fn micro_time_unix(t: &MicroTime) -> Option<f64> {
    let (secs, nanos) = (t.0.as_second(), t.0.subsec_nanosecond());
    if secs == GO_ZERO_TIME_UNIX && nanos == 0 {
        return None;
    }
    Some((if nanos < 0 { secs - 1 } else { secs }) as f64)
}

impl Kind for Lease {
    const RESOURCE: &'static str = "leases";
    const KIND: &'static str = "Lease";
    const GO_TYPE: &'static str = "*v1.Lease";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![("lease", self.metadata.name.as_deref().unwrap_or_default())]
    }

    fn families(_: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            FamilyGen::gauge(
                "kube_lease_owner",
                "Information about the Lease's owner.",
                Alpha,
                |l: &Self, s| {
                    let holder =
                        l.spec.as_ref().and_then(|sp| sp.holder_identity.as_deref()).unwrap_or_default();
                    let owners = l.metadata.owner_references.as_deref().unwrap_or_default();
                    if owners.is_empty() {
                        s.sample(
                            [
                                ("owner_kind", ""),
                                ("owner_name", ""),
                                ("namespace", l.namespace()),
                                ("lease_holder", holder),
                            ],
                            1.0,
                        );
                    }
                    for r in owners {
                        s.sample(
                            [
                                ("owner_kind", r.kind.as_str()),
                                ("owner_name", r.name.as_str()),
                                ("namespace", l.namespace()),
                                ("lease_holder", holder),
                            ],
                            1.0,
                        );
                    }
                },
            ),
            FamilyGen::gauge("kube_lease_renew_time", "Kube lease renew time.", Alpha, |l: &Self, s| {
                if let Some(t) =
                    l.spec.as_ref().and_then(|sp| sp.renew_time.as_ref()).and_then(micro_time_unix)
                {
                    s.sample([("namespace", l.namespace())], t);
                }
            }),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::testing::*;

    #[test]
    fn full_lease_matches_golden_exposition() {
        let got = render_yaml::<Lease>(include_str!("fixtures/lease-full.yaml"), &FamilyOptions::default());
        assert_eq!(got, include_str!("fixtures/lease-full.prom"));
    }

    #[test]
    fn minimal_lease_writes_empty_owner() {
        let got = render_yaml::<Lease>("metadata: {name: l, namespace: ns}\n", &FamilyOptions::default());
        let samples: Vec<&str> = got.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "kube_lease_owner{lease=\"l\",owner_kind=\"\",owner_name=\"\",namespace=\"ns\",lease_holder=\"\"} 1"
            ]
        );
        assert_eq!(got.matches("# TYPE ").count(), 2);
    }

    #[test]
    fn renew_time_rounds_down_and_skips_go_zero_time() {
        let cases = [
            ("2024-05-01T10:20:30.999999Z", Some("1.71455883e+09")),
            ("1969-12-31T23:59:58.500000Z", Some("-2")),
            ("0001-01-01T00:00:00.000000Z", None),
        ];
        for (renew, want) in cases {
            let yaml = format!("metadata: {{name: l, namespace: ns}}\nspec: {{renewTime: '{renew}'}}\n");
            let got = render_yaml::<Lease>(&yaml, &FamilyOptions::default());
            let want: Vec<String> = want
                .map(|v| format!("kube_lease_renew_time{{lease=\"l\",namespace=\"ns\"}} {v}"))
                .into_iter()
                .collect();
            assert_eq!(samples_of(&got, "kube_lease_renew_time"), want, "{renew}");
        }
    }

    #[test]
    fn odd_values_are_escaped() {
        let yaml = "metadata: {name: \"l\\\"1\", namespace: \"n\\\\s\", ownerReferences: [{apiVersion: v1, kind: \"K\\n\", name: \"ö\", uid: x}]}\nspec: {holderIdentity: \"h\\\"\"}\n";
        let got = render_yaml::<Lease>(yaml, &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_lease_owner"),
            [
                "kube_lease_owner{lease=\"l\\\"1\",owner_kind=\"K\\n\",owner_name=\"ö\",namespace=\"n\\\\s\",lease_holder=\"h\\\"\"} 1"
            ]
        );
    }
}
