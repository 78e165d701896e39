//! The varied cluster of the side-by-side test: `e2e/fixtures/varied-cluster.yaml` (objects of
//! every resource the exporter serves, in many states) created in a test namespace, with the
//! statuses no controller would set posted through the status subresources.
//!
//! ```text
//! let cluster = VariedCluster::create(&ns).await?;   // ${NS} -> ns, ${ID} -> random hex
//! ... compare exporters, keeping series that cluster.owns() ...
//! cluster.cleanup().await;                           // cluster-scoped objects, terminating pods
//! ```

use crate::{Error, KubeContext, Result, TestNs, process};
use kube::{
    Api, Client,
    api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams},
    discovery::{self, Scope},
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The fixture file, relative to the e2e crate.
pub const FIXTURE: &str = "fixtures/varied-cluster.yaml";

/// An object the harness made, to delete it afterwards.
#[derive(Clone, Debug)]
struct Made {
    resource: ApiResource,
    namespaced: bool,
    name: String,
    /// Deleted right after creation; needs a forced delete at the end.
    left_terminating: bool,
}

/// The varied cluster, created. Delete it with [`VariedCluster::cleanup`]: the namespace's
/// deletion does not reach its cluster-scoped objects.
pub struct VariedCluster {
    id: String,
    namespace: String,
    client: Client,
    made: Vec<Made>,
}

impl VariedCluster {
    /// Creates every object of [`FIXTURE`] in `ns` (cluster-scoped ones named `sbs-<id>-...`),
    /// posts their statuses, and returns the handle. On error, what was made so far is deleted.
    pub async fn create(ns: &TestNs) -> Result<Self> {
        let id = crate::random_hex(3);
        let docs = load(ns.name(), &id)?;
        let mut cluster =
            VariedCluster { id, namespace: ns.name().to_string(), client: ns.client(), made: Vec::new() };
        let mut kinds = KindCache::default();
        for doc in docs {
            match cluster.create_one(&mut kinds, doc).await {
                Ok(made) => cluster.made.push(made),
                Err(e) => {
                    cluster.cleanup().await;
                    return Err(e);
                }
            }
        }
        Ok(cluster)
    }

    /// The random id in the names of this run's cluster-scoped objects.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The prefix of every cluster-scoped object's name: `sbs-<id>-`.
    pub fn prefix(&self) -> String {
        format!("sbs-{}-", self.id)
    }

    /// Number of objects created from the fixture.
    pub fn len(&self) -> usize {
        self.made.len()
    }

    /// Whether the fixture made nothing.
    pub fn is_empty(&self) -> bool {
        self.made.is_empty()
    }

    /// The namespaces to watch: the test's and those the fixture makes.
    pub fn namespaces(&self) -> Vec<String> {
        let made = self.made.iter().filter(|m| m.resource.kind == "Namespace").map(|m| m.name.clone());
        std::iter::once(self.namespace.clone()).chain(made).collect()
    }

    /// Objects created per kind, for the test's summary.
    pub fn kinds(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for m in &self.made {
            *out.entry(m.resource.kind.clone()).or_insert(0) += 1;
        }
        out
    }

    /// Whether a series belongs to this cluster: it carries the test namespace as `namespace`,
    /// or names one of the cluster-scoped objects (a label value with [`Self::prefix`]). Series
    /// of other tests' objects (nodes, cluster roles, namespaces ... they create meanwhile) are
    /// not.
    pub fn owns(&self, labels: &BTreeMap<String, String>) -> bool {
        let prefix = self.prefix();
        labels.get("namespace").is_some_and(|n| n == &self.namespace)
            || labels.values().any(|v| v.starts_with(&prefix))
    }

    /// Deletes the cluster-scoped objects, releases the objects left terminating (their
    /// finalizers removed, then a forced delete) so the namespace can go (best effort: the
    /// control plane goes away with the test binary anyway).
    pub async fn cleanup(&self) {
        let release = Patch::Merge(json!({"metadata": {"finalizers": null}}));
        for m in self.made.iter().rev() {
            let api = self.api(&m.resource, m.namespaced);
            if m.left_terminating {
                let _ = api.patch(&m.name, &PatchParams::default(), &release).await;
            }
            if !m.namespaced || m.left_terminating {
                let _ = api.delete(&m.name, &DeleteParams::default().grace_period(0)).await;
            }
        }
    }

    fn api(&self, resource: &ApiResource, namespaced: bool) -> Api<DynamicObject> {
        if namespaced {
            Api::namespaced_with(self.client.clone(), &self.namespace, resource)
        } else {
            Api::all_with(self.client.clone(), resource)
        }
    }

    /// Creates one fixture document, then its ephemeral containers, status and deletion.
    async fn create_one(&self, kinds: &mut KindCache, mut doc: Value) -> Result<Made> {
        let parts = Parts::split(&mut doc)?;
        let (resource, namespaced) = kinds.get(&self.client, &parts.gvk).await?;
        let api = self.api(&resource, namespaced);
        let what = format!("{} {}", parts.gvk.kind, parts.name);
        let obj: DynamicObject = serde_json::from_value(doc)
            .map_err(|e| Error::Parse { what: format!("fixture {what}"), detail: e.to_string() })?;
        api.create(&PostParams::default(), &obj).await.kube(|| format!("create {what}"))?;
        if let Some(containers) = parts.ephemeral {
            let patch = Patch::Merge(json!({"spec": {"ephemeralContainers": containers}}));
            api.patch_subresource("ephemeralcontainers", &parts.name, &PatchParams::default(), &patch)
                .await
                .kube(|| format!("add the ephemeral containers of {what}"))?;
        }
        if let Some(status) = parts.status {
            post_status(&api, &parts.gvk.kind, &parts.name, status)
                .await
                .kube(|| format!("post the status of {what}"))?;
        }
        if parts.delete {
            api.delete(&parts.name, &DeleteParams::default()).await.kube(|| format!("delete {what}"))?;
        }
        Ok(Made { resource, namespaced, name: parts.name, left_terminating: parts.delete })
    }
}

/// The fixture's documents with `${NS}` and `${ID}` replaced, in creation order (see
/// [`creation_rank`]).
pub fn load(namespace: &str, id: &str) -> Result<Vec<Value>> {
    let path = process::workspace_root().join("e2e").join(FIXTURE);
    let text = std::fs::read_to_string(&path)
        .map_err(|source| Error::Io { what: format!("read {}", path.display()), source })?;
    let text = text.replace("${NS}", namespace).replace("${ID}", id);
    let mut docs = Vec::new();
    for de in serde_norway::Deserializer::from_str(&text) {
        let doc = Value::deserialize(de)
            .map_err(|e| Error::Parse { what: path.display().to_string(), detail: e.to_string() })?;
        if !doc.is_null() {
            docs.push(doc);
        }
    }
    docs.sort_by_key(|d| creation_rank(d["kind"].as_str().unwrap_or_default()));
    Ok(docs)
}

/// Objects others refer to at admission come first (a pod's service account must exist); the
/// limit range and quotas come last, so that their admission defaults and checks do not change
/// the hand-made pods.
fn creation_rank(kind: &str) -> u8 {
    match kind {
        "Namespace" | "ServiceAccount" | "Secret" | "ConfigMap" | "Node" | "StorageClass"
        | "IngressClass" | "RuntimeClass" => 0,
        "LimitRange" | "ResourceQuota" => 2,
        _ => 1,
    }
}

/// A fixture document taken apart: what the create may carry and what is posted afterwards.
struct Parts {
    gvk: GroupVersionKind,
    name: String,
    status: Option<Value>,
    ephemeral: Option<Value>,
    delete: bool,
}

impl Parts {
    /// Removes `status`, `x-e2e` and pod ephemeral containers from `doc`.
    fn split(doc: &mut Value) -> Result<Self> {
        let what = format!("fixture document {}", doc["metadata"]["name"]);
        let bad = |detail: &str| Error::Parse { what: what.clone(), detail: detail.into() };
        let api_version = doc["apiVersion"].as_str().ok_or_else(|| bad("no apiVersion"))?.to_string();
        let kind = doc["kind"].as_str().ok_or_else(|| bad("no kind"))?.to_string();
        let name = doc["metadata"]["name"].as_str().ok_or_else(|| bad("no metadata.name"))?.to_string();
        let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
        let gvk = GroupVersionKind::gvk(group, version, &kind);
        let obj = doc.as_object_mut().ok_or_else(|| bad("not a mapping"))?;
        let status = obj.remove("status");
        let delete = obj.remove("x-e2e").is_some_and(|x| x["delete"] == json!(true));
        let ephemeral = match (kind.as_str(), obj.get_mut("spec").and_then(Value::as_object_mut)) {
            ("Pod", Some(spec)) => spec.remove("ephemeralContainers"),
            _ => None,
        };
        Ok(Parts { gvk, name, status, ephemeral, delete })
    }
}

/// Posts `status`: a merge patch of the status subresource; for a CertificateSigningRequest the
/// Approved/Denied conditions go through the approval subresource first (the status one ignores
/// them).
async fn post_status(
    api: &Api<DynamicObject>,
    kind: &str,
    name: &str,
    mut status: Value,
) -> kube::Result<()> {
    if kind == "CertificateSigningRequest"
        && let Some(conditions) = status.as_object_mut().and_then(|s| s.remove("conditions"))
    {
        let mut current = api.get(name).await?;
        current.data["status"] = json!({"conditions": conditions});
        api.replace_subresource("approval", name, &PostParams::default(), &current).await?;
        if status.as_object().is_none_or(|s| s.is_empty()) {
            return Ok(());
        }
    }
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(json!({"status": status}))).await?;
    Ok(())
}

/// API resources by kind, discovered once each.
#[derive(Default)]
struct KindCache(BTreeMap<(String, String, String), (ApiResource, bool)>);

impl KindCache {
    async fn get(&mut self, client: &Client, gvk: &GroupVersionKind) -> Result<(ApiResource, bool)> {
        let key = (gvk.group.clone(), gvk.version.clone(), gvk.kind.clone());
        if let Some(found) = self.0.get(&key) {
            return Ok(found.clone());
        }
        let (resource, caps) = discovery::pinned_kind(client, gvk)
            .await
            .kube(|| format!("discover {}/{} {}", gvk.group, gvk.version, gvk.kind))?;
        let found = (resource, caps.scope == Scope::Namespaced);
        self.0.insert(key, found.clone());
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_loads_with_placeholders_replaced_and_every_document_named() {
        let docs = load("ns-x", "abc123").expect("the fixture parses");
        assert!(docs.len() > 40, "{} documents", docs.len());
        let text = serde_json::to_string(&docs).expect("serialises");
        assert!(!text.contains("${"), "a placeholder is left");
        for d in &docs {
            assert!(d["metadata"]["name"].is_string(), "unnamed document {d}");
        }
        assert_eq!(docs[0]["kind"], "Node", "prerequisites first (file order among them)");
    }
}
