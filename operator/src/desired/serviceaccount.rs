//! The ServiceAccount every exporter pod of the fleet runs as.

use super::{
    Fleet,
    common::{COMPONENT_EXPORTER, meta},
};
use k8s_openapi::api::core::v1::ServiceAccount;

/// `<name>` in the CR's namespace.
pub fn build(fleet: &Fleet) -> ServiceAccount {
    ServiceAccount { metadata: meta(fleet, fleet.name, COMPONENT_EXPORTER), ..Default::default() }
}
