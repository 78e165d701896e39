//! `statefleet-exporter render`: the exposition the server would serve for a dump of objects
//! (`kubectl get ... -o json|yaml`), with the same filters, shard and labels.

use crate::{
    options::{Options, ShardMode},
    resources::{self, Kind},
    runtime::renderer_for,
    shard::ShardFilter,
    store::{Part, ResourceStore, Store},
};
use serde::Deserialize;
use serde_json::Value;
use std::{collections::BTreeMap, sync::Arc};

/// Why a dump cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The input is neither JSON nor YAML.
    #[error("failed to parse input: {0}")]
    Parse(String),
    /// An object of a known kind does not decode.
    #[error("failed to decode {kind} {name:?}: {source}")]
    Decode {
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// Autosharding needs a cluster.
    #[error("render cannot use --pod/--pod-namespace autosharding; pass --shard and --total-shards")]
    AutoShard,
}

/// Flattens objects, `List`s and multi-document YAML into plain objects.
pub fn parse_objects(input: &str) -> Result<Vec<Value>, RenderError> {
    let mut docs = Vec::new();
    if input.trim_start().starts_with(['{', '[']) {
        let mut stream = serde_json::Deserializer::from_str(input).into_iter::<Value>();
        for doc in stream.by_ref() {
            docs.push(doc.map_err(|e| RenderError::Parse(e.to_string()))?);
        }
    } else {
        for doc in serde_norway::Deserializer::from_str(input) {
            let value = Value::deserialize(doc).map_err(|e| RenderError::Parse(e.to_string()))?;
            if !value.is_null() {
                docs.push(value);
            }
        }
    }
    let mut out = Vec::new();
    let mut stack = docs;
    stack.reverse();
    while let Some(doc) = stack.pop() {
        match doc {
            Value::Array(items) => stack.extend(items.into_iter().rev()),
            Value::Object(mut map) if map.get("items").is_some_and(Value::is_array) => {
                if let Some(Value::Array(items)) = map.remove("items") {
                    stack.extend(items.into_iter().rev());
                }
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Renders `objects` as the server would: enabled resources only, namespace and node filters,
/// this shard only, families in order.
pub fn render(objects: Vec<Value>, options: &Options) -> Result<Vec<u8>, RenderError> {
    let filter = match options.shard_mode {
        ShardMode::Static { shard, total } => ShardFilter { hash: options.shard_hash, shard, total },
        ShardMode::Auto { .. } => return Err(RenderError::AutoShard),
    };
    let mut by_kind: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for obj in objects {
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
        by_kind.entry(kind).or_default().push(obj);
    }
    let mut stores = Vec::new();
    for &name in &options.resources {
        let Some(entry) = resources::find(name) else {
            continue;
        };
        let items = by_kind.remove(entry.kind).unwrap_or_default();
        stores.push((entry.render)(items, options, &filter)?);
    }
    Ok(Store::new(stores).exposition())
}

/// Renders the objects of one kind; see [`render_kind`].
pub type RenderFn = fn(Vec<Value>, &Options, &ShardFilter) -> Result<Arc<ResourceStore>, RenderError>;

/// Renders objects of kind `K` into a store of their own.
pub fn render_kind<K: Kind>(
    items: Vec<Value>,
    options: &Options,
    filter: &ShardFilter,
) -> Result<Arc<ResourceStore>, RenderError> {
    let renderer = renderer_for::<K>(options);
    let store = ResourceStore::new(K::RESOURCE, renderer.headers());
    let part = Arc::new(Part::default());
    for item in items {
        if K::NAMESPACED && !namespace_selected(&item, options) {
            continue;
        }
        if let Some(node) = &options.node_selector {
            let on = item.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default();
            if on != node {
                continue;
            }
        }
        let name = item.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        let obj: K = serde_json::from_value(item).map_err(|source| RenderError::Decode {
            kind: K::KIND.into(),
            name,
            source,
        })?;
        let uid = obj.meta().uid.clone().unwrap_or_default();
        if filter.keeps(&uid) {
            part.apply(&uid, renderer.render(&obj));
        }
    }
    store.set_parts(vec![part]);
    Ok(Arc::new(store))
}

fn namespace_selected(item: &Value, options: &Options) -> bool {
    let ns = item.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
    (options.namespaces.is_empty() || options.namespaces.iter().any(|n| n == ns))
        && !options.namespaces_denylist.iter().any(|n| n == ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_arrays_and_yaml_documents_are_flattened() {
        let json = r#"{"kind":"List","items":[{"kind":"A"},{"kind":"B"}]} {"kind":"C"}"#;
        let kinds: Vec<_> = parse_objects(json).expect("json").iter().map(|o| o["kind"].clone()).collect();
        assert_eq!(kinds, ["A", "B", "C"]);
        let yaml = "kind: A\n---\nkind: List\nitems:\n- kind: B\n";
        assert_eq!(parse_objects(yaml).expect("yaml").len(), 2);
        assert!(parse_objects("{").is_err());
    }
}
