//! Binds the autosharding Role to the fleet's ServiceAccount.

use super::{
    Fleet,
    common::{COMPONENT_EXPORTER, meta},
};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};

/// `<name>-autosharding` in the CR's namespace.
pub fn build(fleet: &Fleet) -> RoleBinding {
    RoleBinding {
        metadata: meta(fleet, fleet.autosharding_name(), COMPONENT_EXPORTER),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_string()),
            kind: "Role".to_string(),
            name: fleet.autosharding_name(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_string(),
            name: fleet.name.to_string(),
            namespace: Some(fleet.namespace.to_string()),
            ..Default::default()
        }]),
    }
}
