//! The ClusterRole that lets the exporters list and watch exactly the resources they serve.

use super::{
    Fleet,
    common::{COMPONENT_EXPORTER, cluster_meta},
};
use exporter::resources;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use std::collections::BTreeMap;

/// Rules granting `verbs` on `names` (registry names, which are the API plurals), one rule per
/// API group, groups and resources sorted so the object is stable.
pub fn rules_for(names: &[&str], verbs: &[&str]) -> Vec<PolicyRule> {
    let mut by_group: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in names {
        let entry = resources::find(name).expect("resource names are checked against the registry first");
        let (group, _version) = (entry.group_version)();
        by_group.entry(group).or_default().push(entry.name.to_string());
    }
    by_group
        .into_iter()
        .map(|(group, mut resources)| {
            resources.sort_unstable();
            PolicyRule {
                api_groups: Some(vec![group]),
                resources: Some(resources),
                verbs: verbs.iter().map(|v| v.to_string()).collect(),
                ..Default::default()
            }
        })
        .collect()
}

/// `statefleet:<namespace>:<name>`: list and watch on the served resources, nothing else.
pub fn build(fleet: &Fleet) -> ClusterRole {
    ClusterRole {
        metadata: cluster_meta(fleet, COMPONENT_EXPORTER),
        rules: Some(rules_for(&fleet.resources, &["list", "watch"])),
        ..Default::default()
    }
}
