//! Whether a child needs a server-side apply: the reconciler applies only when the live object
//! lacks something the operator sets, so reconciling an unchanged fleet writes nothing.
//!
//! ```text
//! desired child ─▶ applied_object (+ owner reference, + hash annotation) ─┐
//!                                         live object (LIST/GET) ─────────┴▶ drift() ─▶ None: skip
//!                                                                                    └▶ Some(path): apply
//! ```
//!
//! Two checks, because each alone misses a case:
//! - The hash annotation records which desired object was last applied. When the desired object
//!   changes, the hash changes, and the apply also removes fields the operator no longer sets
//!   (a subset comparison cannot see a field that should be gone).
//! - The subset comparison finds drift: a field the operator sets that someone changed or
//!   removed (StatefulSet replicas, container args, a label). Fields the API server or other
//!   managers add (defaults, status, other labels) do not count.
//!
//! Pure: no client, no clock.

use crate::desired::Child;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::DynamicObject;
use md5::{Digest, Md5};
use serde_json::Value;

/// Annotation holding the hash of the desired object the operator last applied.
pub const HASH_ANNOTATION: &str = "statefleet.io/desired-hash";

/// The object the reconciler applies for `child`: the desired object, with `owner` (the custom
/// resource, for namespaced children) and the hash annotation of everything else.
pub fn applied_object(child: &Child, owner: Option<&OwnerReference>) -> DynamicObject {
    let mut object = child.object.clone();
    if let Some(owner) = owner {
        object.metadata.owner_references = Some(vec![owner.clone()]);
    }
    let hash = hash(&object);
    object.metadata.annotations.get_or_insert_with(Default::default).insert(HASH_ANNOTATION.into(), hash);
    object
}

/// MD5 of the object's JSON. `serde_json` maps are sorted, so equal objects hash equally.
fn hash(object: &DynamicObject) -> String {
    let bytes = serde_json::to_vec(object).expect("a DynamicObject serializes to JSON");
    Md5::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Where `live` differs from `applied` in a field the operator sets, as a JSON path such as
/// `spec.replicas`; `None` when applying would change nothing. `apiVersion` and `kind` are not
/// compared: list responses leave them out of their items.
pub fn drift(applied: &DynamicObject, live: &DynamicObject) -> Option<String> {
    let want = serde_json::to_value(applied).expect("a DynamicObject serializes to JSON");
    let have = serde_json::to_value(live).expect("a DynamicObject serializes to JSON");
    let (Value::Object(mut want), Value::Object(have)) = (want, have) else {
        return Some(String::new());
    };
    want.remove("apiVersion");
    want.remove("kind");
    let mut path = Vec::new();
    first_difference(&mut path, &Value::Object(want), Some(&Value::Object(have)))
}

/// The first path where `have` lacks or contradicts `want`. Objects may hold extra keys; lists
/// must have the same length (a list the operator sets is the operator's, element by element).
fn first_difference(path: &mut Vec<String>, want: &Value, have: Option<&Value>) -> Option<String> {
    let here = |path: &[String]| Some(path.join("."));
    match (want, have) {
        // serde leaves absent fields out; an explicit null sets nothing.
        (Value::Null, _) => None,
        // The API server drops empty objects and lists it was sent.
        (Value::Object(w), None) if w.is_empty() => None,
        (Value::Array(w), None) if w.is_empty() => None,
        (_, None) => here(path),
        (Value::Object(w), Some(Value::Object(h))) => w.iter().find_map(|(key, value)| {
            path.push(key.clone());
            let found = first_difference(path, value, h.get(key));
            path.pop();
            found
        }),
        (Value::Array(w), Some(Value::Array(h))) => {
            if w.len() != h.len() {
                return here(path);
            }
            w.iter().zip(h).enumerate().find_map(|(i, (w, h))| {
                path.push(i.to_string());
                let found = first_difference(path, w, Some(h));
                path.pop();
                found
            })
        }
        (Value::String(w), Some(Value::String(h))) if w != h && is_quantity_path(path) => {
            match (quantity(w), quantity(h)) {
                (Some(a), Some(b)) if (a - b).abs() <= f64::EPSILON * a.abs().max(b.abs()) => None,
                _ => here(path),
            }
        }
        (w, Some(h)) => (w != h).then(|| path.join(".")),
    }
}

/// Resource requests and limits, which the API server rewrites in canonical form (`0.5` becomes
/// `500m`, `1024Mi` becomes `1Gi`).
fn is_quantity_path(path: &[String]) -> bool {
    path.len() >= 3
        && path[path.len() - 3] == "resources"
        && matches!(path[path.len() - 2].as_str(), "requests" | "limits")
}

/// The value of a Kubernetes quantity (`100m`, `1.5Gi`, `2e3`), close enough to compare two
/// spellings of one value.
fn quantity(text: &str) -> Option<f64> {
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("Pi", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("Ei", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    const BIG: [(&str, f64); 2] = [("P", 1e15), ("E", 1e18)];
    let text = text.trim();
    for (suffix, factor) in SUFFIXES.iter().chain(BIG.iter()) {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<f64>().ok().map(|n| n * factor);
        }
    }
    text.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ApiResource;
    use serde_json::json;

    fn make_child(data: Value) -> Child {
        let resource = ApiResource {
            group: "apps".into(),
            version: "v1".into(),
            api_version: "apps/v1".into(),
            kind: "StatefulSet".into(),
            plural: "statefulsets".into(),
        };
        let mut object = DynamicObject::new("ksm", &resource).within("monitoring").data(data);
        object.metadata.labels = Some([("app".to_string(), "x".to_string())].into());
        Child { resource, namespaced: true, requires_crd: None, object }
    }

    fn live_from(applied: &DynamicObject, f: impl FnOnce(&mut Value)) -> DynamicObject {
        let mut value = serde_json::to_value(applied).expect("serializes");
        value["metadata"]["uid"] = json!("uid-1");
        value["metadata"]["resourceVersion"] = json!("7");
        value["metadata"]["labels"]["added-by-someone"] = json!("yes");
        value["status"] = json!({"readyReplicas": 1});
        value["spec"]["revisionHistoryLimit"] = json!(10);
        value["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] = json!("/dev/x");
        value.as_object_mut().expect("object").remove("apiVersion");
        f(&mut value);
        serde_json::from_value(value).expect("a DynamicObject")
    }

    fn make_spec() -> Value {
        json!({"spec": {
            "replicas": 2,
            "template": {"spec": {"containers": [{
                "name": "exporter",
                "args": ["--port=8080", "--resources=pods"],
                "resources": {"requests": {"cpu": "0.5", "memory": "1024Mi"}},
            }]}},
        }})
    }

    #[test]
    fn what_the_server_adds_is_no_drift() {
        let applied = applied_object(&make_child(make_spec()), None);
        assert_eq!(drift(&applied, &live_from(&applied, |_| {})), None);
    }

    #[test]
    fn changed_or_removed_fields_are_drift() {
        let applied = applied_object(&make_child(make_spec()), None);
        type Edit = fn(&mut Value);
        let cases: [(&str, Edit); 5] = [
            ("spec.replicas", |v| v["spec"]["replicas"] = json!(5)),
            ("spec.template.spec.containers.0.args", |v| {
                v["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["--port=8080"])
            }),
            ("spec.template.spec.containers.0.args.1", |v| {
                v["spec"]["template"]["spec"]["containers"][0]["args"][1] = json!("--resources=nodes")
            }),
            ("metadata.labels.app", |v| {
                v["metadata"]["labels"].as_object_mut().expect("labels").remove("app");
            }),
            ("metadata.annotations.statefleet.io/desired-hash", |v| {
                v["metadata"]["annotations"][HASH_ANNOTATION] = json!("older")
            }),
        ];
        for (want, edit) in cases {
            assert_eq!(drift(&applied, &live_from(&applied, edit)).as_deref(), Some(want));
        }
    }

    #[test]
    fn a_changed_desired_object_changes_the_hash() {
        let before = applied_object(&make_child(make_spec()), None);
        let mut spec = make_spec();
        spec["spec"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .expect("container")
            .remove("resources");
        let after = applied_object(&make_child(spec), None);
        // The live object still has the old resources (a superset): only the hash tells.
        assert_eq!(
            drift(&after, &live_from(&before, |_| {})).as_deref(),
            Some("metadata.annotations.statefleet.io/desired-hash")
        );
    }

    #[test]
    fn owner_reference_is_part_of_the_applied_object() {
        let owner = OwnerReference {
            api_version: "statefleet.io/v1alpha1".into(),
            kind: "KubeStateMetrics".into(),
            name: "ksm".into(),
            uid: "uid-0".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        let applied = applied_object(&make_child(make_spec()), Some(&owner));
        assert_eq!(applied.metadata.owner_references, Some(vec![owner]));
        let stripped = live_from(&applied, |v| {
            v["metadata"].as_object_mut().expect("metadata").remove("ownerReferences");
        });
        assert_eq!(drift(&applied, &stripped).as_deref(), Some("metadata.ownerReferences"));
    }

    #[test]
    fn quantities_compare_by_value() {
        assert_eq!(quantity("500m"), Some(0.5));
        assert_eq!(quantity("1Gi"), quantity("1024Mi"));
        assert_eq!(quantity("2e3"), Some(2000.0));
        assert_eq!(quantity("1P"), Some(1e15));
        assert_eq!(quantity("lots"), None);
        let applied = applied_object(&make_child(make_spec()), None);
        let canonical = live_from(&applied, |v| {
            v["spec"]["template"]["spec"]["containers"][0]["resources"] =
                json!({"requests": {"cpu": "500m", "memory": "1Gi"}})
        });
        assert_eq!(drift(&applied, &canonical), None);
        let bigger = live_from(&applied, |v| {
            v["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = json!("1")
        });
        assert_eq!(
            drift(&applied, &bigger).as_deref(),
            Some("spec.template.spec.containers.0.resources.requests.cpu")
        );
    }
}
