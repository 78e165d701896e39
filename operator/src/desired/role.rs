//! The Role autosharding needs: each shard reads its own pod to find its StatefulSet, then
//! watches that StatefulSet for the shard count (reference §9.3).

use super::{
    Fleet,
    common::{COMPONENT_EXPORTER, meta},
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role};

/// `<name>-autosharding` in the CR's namespace.
pub fn build(fleet: &Fleet) -> Role {
    let rule = |group: &str, resource: &str, names: Option<Vec<String>>, verbs: &[&str]| PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(vec![resource.to_string()]),
        resource_names: names,
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..Default::default()
    };
    Role {
        metadata: meta(fleet, fleet.autosharding_name(), COMPONENT_EXPORTER),
        rules: Some(vec![
            // Pod names are only known at run time (`<name>-<ordinal>`), so no resourceNames.
            rule("", "pods", None, &["get"]),
            // The exporter watches with `fieldSelector=metadata.name=<name>`, which RBAC matches
            // against resourceNames, so list and watch can be pinned to the fleet's StatefulSet.
            rule("apps", "statefulsets", Some(vec![fleet.name.to_string()]), &["get", "list", "watch"]),
        ]),
    }
}
