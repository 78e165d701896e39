//! Binds the fleet's ClusterRole to its ServiceAccount.

use super::{
    Fleet,
    common::{COMPONENT_EXPORTER, cluster_meta},
};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};

/// `statefleet:<namespace>:<name>`, like the ClusterRole it binds.
pub fn build(fleet: &Fleet) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: cluster_meta(fleet, COMPONENT_EXPORTER),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_string()),
            kind: "ClusterRole".to_string(),
            name: fleet.cluster_scoped_name(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_string(),
            name: fleet.name.to_string(),
            namespace: Some(fleet.namespace.to_string()),
            ..Default::default()
        }]),
    }
}
