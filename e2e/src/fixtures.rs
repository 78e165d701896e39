//! Test objects: `make_<kind>` gives a minimal valid object as JSON, [`Fixture::set`] changes any
//! field by JSON pointer, and [`Fixture::typed`] turns it into the k8s-openapi type.
//!
//! ```text
//! let d: Deployment = make_deployment("web", 2).set("/spec/paused", true).typed();
//! ```

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// Image used by every container; it is never pulled (there is no kubelet).
pub const IMAGE: &str = "registry.invalid/statefleet-e2e/pause:1.0";

/// An object under construction.
#[derive(Clone, Debug)]
pub struct Fixture(pub Value);

impl Fixture {
    /// Sets the field at JSON pointer `path` (e.g. `/spec/strategy/type`), creating objects on
    /// the way.
    pub fn set(mut self, path: &str, value: impl Into<Value>) -> Self {
        let mut at = &mut self.0;
        let parts: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(|p| p.replace("~1", "/").replace("~0", "~"))
            .collect();
        let (last, parents) = parts.split_last().expect("a JSON pointer with at least one part");
        for part in parents {
            if !at.is_object() {
                *at = Value::Object(Map::new());
            }
            at = at
                .as_object_mut()
                .expect("just made an object")
                .entry(part.clone())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        at.as_object_mut().expect("just made an object").insert(last.clone(), value.into());
        self
    }

    /// Adds a label to the object.
    pub fn label(self, key: &str, value: &str) -> Self {
        self.set(&format!("/metadata/labels/{}", key.replace('/', "~1")), value)
    }

    /// The typed object; panics with the JSON if it does not decode (a broken fixture).
    pub fn typed<K: DeserializeOwned>(self) -> K {
        serde_json::from_value(self.0.clone())
            .unwrap_or_else(|e| panic!("fixture does not decode: {e}: {}", self.0))
    }
}

fn pod_template(app: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": app}},
        "spec": {
            "containers": [{
                "name": "main",
                "image": IMAGE,
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
            }],
            "terminationGracePeriodSeconds": 0,
        },
    })
}

/// A Deployment of `replicas` pods labelled `app=<name>`.
pub fn make_deployment(name: &str, replicas: i32) -> Fixture {
    Fixture(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name),
        },
    }))
}

/// A StatefulSet of `replicas` pods labelled `app=<name>`, with service name `<name>`.
pub fn make_statefulset(name: &str, replicas: i32) -> Fixture {
    Fixture(json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name),
        },
    }))
}

/// A DaemonSet (one pod per node) labelled `app=<name>`.
pub fn make_daemonset(name: &str) -> Fixture {
    Fixture(json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;

    #[test]
    fn set_creates_paths_and_typed_decodes() {
        let d: Deployment = make_deployment("web", 2)
            .set("/spec/paused", true)
            .set("/spec/strategy/rollingUpdate/maxSurge", "50%")
            .label("statefleet.io/tier", "front")
            .typed();
        let spec = d.spec;
        assert_eq!(spec.paused, Some(true));
        assert_eq!(spec.replicas, Some(2));
        assert!(spec.strategy.and_then(|s| s.rolling_update).is_some());
        assert_eq!(
            d.metadata.labels.expect("labels").get("statefleet.io/tier").map(String::as_str),
            Some("front")
        );
    }
}
