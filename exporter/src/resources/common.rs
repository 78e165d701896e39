//! Shapes that many kinds share: lean object metadata, label/annotation allowlist families,
//! timestamps, owner references and one-hot condition series.

use crate::metric::{FamilyGen, Sink, Stability};
use k8s_openapi::apimachinery::pkg::{
    apis::meta::v1::{ObjectMeta, OwnerReference, Time},
    util::intstr::IntOrString,
};
use serde::{Deserialize, Deserializer};
use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
};

/// Deserializes only the metadata fields metrics read; `managedFields` and the rest are skipped
/// without being built.
pub fn lean_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Lean {
        name: Option<String>,
        namespace: Option<String>,
        uid: Option<String>,
        resource_version: Option<String>,
        generation: Option<i64>,
        creation_timestamp: Option<Time>,
        deletion_timestamp: Option<Time>,
        labels: Option<BTreeMap<String, String>>,
        annotations: Option<BTreeMap<String, String>>,
        owner_references: Option<Vec<OwnerReference>>,
    }
    let l = Lean::deserialize(d)?;
    Ok(ObjectMeta {
        name: l.name,
        namespace: l.namespace,
        uid: l.uid,
        resource_version: l.resource_version,
        generation: l.generation,
        creation_timestamp: l.creation_timestamp,
        deletion_timestamp: l.deletion_timestamp,
        labels: l.labels,
        annotations: l.annotations,
        owner_references: l.owner_references,
        ..ObjectMeta::default()
    })
}

/// Seconds since the epoch, as upstream writes timestamps (whole seconds).
pub fn unix_seconds(t: &Time) -> f64 {
    t.0.as_second() as f64
}

/// An entry of `--metric-labels-allowlist` / `--metric-annotations-allowlist` for one resource.
#[derive(Clone, Debug, Default)]
pub struct KeyAllowlist {
    all: bool,
    exact: Vec<String>,
    globs: Vec<regex::Regex>,
}

impl KeyAllowlist {
    /// Builds the matcher from the entry's items. `*` as the first item allows every key; an item
    /// with one `*` is an anchored glob; anything else matches exactly.
    pub fn new(items: &[String]) -> Self {
        let mut allow = KeyAllowlist::default();
        for (i, item) in items.iter().enumerate() {
            if item == "*" {
                // Upstream honours `*` only as the first entry.
                if i == 0 {
                    allow.all = true;
                }
                continue;
            }
            match item.matches('*').count() {
                0 => allow.exact.push(item.clone()),
                1 => {
                    let (pre, post) = item.split_once('*').unwrap_or((item, ""));
                    let pattern = format!("^{}.*{}$", regex::escape(pre), regex::escape(post));
                    if let Ok(re) = regex::Regex::new(&pattern) {
                        allow.globs.push(re);
                    }
                }
                _ => {} // rejected when the flag is parsed
            }
        }
        allow
    }

    /// Whether `key` passes.
    pub fn allows(&self, key: &str) -> bool {
        self.all || self.exact.iter().any(|e| e == key) || self.globs.iter().any(|g| g.is_match(key))
    }
}

/// Maps a Kubernetes label key to a Prometheus label name the way upstream does: every rune
/// outside `[a-zA-Z0-9_]` becomes `_`, then camelCase becomes snake_case, then lowercase.
pub fn sanitize_label_name(prefix: &str, key: &str) -> String {
    let sanitized: Vec<char> = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut out = String::with_capacity(prefix.len() + 1 + sanitized.len() + 4);
    out.push_str(prefix);
    out.push('_');
    let mut i = 0;
    while i < sanitized.len() {
        let c = sanitized[i];
        if (c.is_ascii_lowercase() || c.is_ascii_digit())
            && sanitized.get(i + 1).is_some_and(|n| n.is_ascii_uppercase())
        {
            out.push(c);
            out.push('_');
            out.push(sanitized[i + 1].to_ascii_lowercase());
            i += 2;
        } else {
            out.push(c.to_ascii_lowercase());
            i += 1;
        }
    }
    out
}

/// Label names for sorted `keys`, with upstream's `_conflictN` renaming of keys that sanitise to
/// the same name.
pub fn label_names<'k>(prefix: &str, keys: impl IntoIterator<Item = &'k str>) -> Vec<String> {
    let mut names: Vec<String> = keys.into_iter().map(|k| sanitize_label_name(prefix, k)).collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for n in &names {
        *counts.entry(n.as_str()).or_default() += 1;
    }
    let clashing: HashSet<String> = counts
        .into_iter()
        .filter(|(_, c)| *c > 1)
        .map(|(n, _)| n.to_string())
        .collect();
    if clashing.is_empty() {
        return names;
    }
    let mut taken: HashSet<String> = names.iter().filter(|n| !clashing.contains(*n)).cloned().collect();
    let mut next: BTreeMap<String, usize> = BTreeMap::new();
    for name in names.iter_mut() {
        if !clashing.contains(name) {
            continue;
        }
        let k = next.entry(name.clone()).or_insert(1);
        let renamed = loop {
            let candidate = format!("{name}_conflict{k}");
            *k += 1;
            if !taken.contains(&candidate) {
                break candidate;
            }
        };
        taken.insert(renamed.clone());
        *name = renamed;
    }
    names
}

/// Writes one `kube_<kind>_labels`-style sample: the allowed entries of `map` as `prefix_*`
/// labels. Without an allowlist entry no sample is written, as upstream.
pub fn write_allowed(
    sink: &mut Sink<'_>,
    map: Option<&BTreeMap<String, String>>,
    allow: Option<&KeyAllowlist>,
    prefix: &str,
) {
    let Some(allow) = allow else { return };
    let empty = BTreeMap::new();
    let pairs: Vec<(&str, &str)> = map
        .unwrap_or(&empty)
        .iter()
        .filter(|(k, _)| allow.allows(k))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let names = label_names(prefix, pairs.iter().map(|(k, _)| *k));
    sink.sample(names.iter().zip(pairs.iter().map(|(_, v)| *v)), 1.0);
}

/// The `kube_<kind>_labels` family: allowlisted Kubernetes labels as `label_*`.
pub fn labels_family<K: HasMeta + 'static>(
    name: &'static str,
    help: &'static str,
    stability: Stability,
    allow: Option<Arc<KeyAllowlist>>,
) -> FamilyGen<K> {
    FamilyGen::gauge(name, help, stability, move |o: &K, s| {
        write_allowed(s, o.meta().labels.as_ref(), allow.as_deref(), "label")
    })
}

/// The `kube_<kind>_annotations` family: allowlisted annotations as `annotation_*`.
pub fn annotations_family<K: HasMeta + 'static>(
    name: &'static str,
    help: &'static str,
    stability: Stability,
    allow: Option<Arc<KeyAllowlist>>,
) -> FamilyGen<K> {
    FamilyGen::gauge(name, help, stability, move |o: &K, s| {
        write_allowed(s, o.meta().annotations.as_ref(), allow.as_deref(), "annotation")
    })
}

/// The `kube_<kind>_created` family: creation timestamp in seconds, when set.
pub fn created_family<K: HasMeta + 'static>(
    name: &'static str,
    help: &'static str,
    stability: Stability,
) -> FamilyGen<K> {
    FamilyGen::gauge(name, help, stability, |o: &K, s| {
        if let Some(t) = &o.meta().creation_timestamp {
            s.value(unix_seconds(t))
        }
    })
}

/// The `kube_<kind>_deletion_timestamp` family: deletion timestamp in seconds, when set.
pub fn deletion_family<K: HasMeta + 'static>(
    name: &'static str,
    help: &'static str,
    stability: Stability,
) -> FamilyGen<K> {
    FamilyGen::gauge(name, help, stability, |o: &K, s| {
        if let Some(t) = &o.meta().deletion_timestamp {
            s.value(unix_seconds(t))
        }
    })
}

/// `kube_<kind>_owner`: one sample per owner reference, or one with empty values.
pub fn owner_family<K: HasMeta + 'static>(
    name: &'static str,
    help: &'static str,
    stability: Stability,
) -> FamilyGen<K> {
    FamilyGen::gauge(name, help, stability, |o: &K, s| {
        write_owners(s, o.meta().owner_references.as_deref())
    })
}

/// Owner samples as upstream writes them: kind, name and is_controller (`false` when unset) per
/// reference; a single sample of empty values when there is no owner.
pub fn write_owners(s: &mut Sink<'_>, owners: Option<&[OwnerReference]>) {
    let owners = owners.unwrap_or_default();
    if owners.is_empty() {
        s.sample(
            [
                ("owner_kind", ""),
                ("owner_name", ""),
                ("owner_is_controller", ""),
            ],
            1.0,
        );
    }
    for r in owners {
        let controller = if r.controller == Some(true) {
            "true"
        } else {
            "false"
        };
        s.sample(
            [
                ("owner_kind", r.kind.as_str()),
                ("owner_name", r.name.as_str()),
                ("owner_is_controller", controller),
            ],
            1.0,
        );
    }
}

/// One-hot condition status: three samples `status=true|false|unknown`, 1 on the one that holds.
pub fn write_condition_status(s: &mut Sink<'_>, leading: &[(&'static str, &str)], status: &str) {
    for (label, value) in [("true", "True"), ("false", "False"), ("unknown", "Unknown")] {
        let labels = leading.iter().copied().chain(std::iter::once(("status", label)));
        s.sample(labels, crate::metric::bool_f64(status == value));
    }
}

/// Scales an int-or-percent against `total` as apimachinery's `GetScaledValueFromIntOrPercent`:
/// an int is taken as is, `"N%"` becomes N% of total rounded up or down; anything else is `None`.
pub fn scaled_int_or_percent(v: &IntOrString, total: i32, round_up: bool) -> Option<i32> {
    match v {
        IntOrString::Int(i) => Some(*i),
        IntOrString::String(s) => {
            let percent: i32 = s.strip_suffix('%')?.parse().ok()?;
            let scaled = f64::from(percent) * f64::from(total) / 100.0;
            Some(if round_up { scaled.ceil() } else { scaled.floor() } as i32)
        }
    }
}

/// Access to an object's metadata, for the shared families.
pub trait HasMeta {
    /// The object's (lean) metadata.
    fn meta(&self) -> &ObjectMeta;
}

impl<K: kube::Resource> HasMeta for K {
    fn meta(&self) -> &ObjectMeta {
        kube::Resource::meta(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_are_sanitised_like_upstream() {
        let cases = [
            ("camelCase", "label_camel_case"),
            ("fooBAR", "label_foo_bar"),
            ("ABCDef", "label_abcdef"),
            ("app.kubernetes.io/name", "label_app_kubernetes_io_name"),
            ("_app5", "label__app5"),
            ("$app4", "label__app4"),
            ("0_app3", "label_0_app3"),
            ("", "label_"),
            ("é-x", "label___x"),
        ];
        for (key, want) in cases {
            assert_eq!(sanitize_label_name("label", key), want, "key {key:?}");
        }
    }

    #[test]
    fn clashing_names_get_conflict_suffixes_in_sorted_key_order() {
        let names = label_names(
            "label",
            ["conflicting-label1", "conflicting.label1", "conflicting_label1"],
        );
        assert_eq!(
            names,
            [
                "label_conflicting_label1_conflict1",
                "label_conflicting_label1_conflict2",
                "label_conflicting_label1_conflict3"
            ]
        );
        let names = label_names("label", ["A.b.conflict1", "a-b", "a.b"]);
        assert_eq!(
            names,
            [
                "label_a_b_conflict1",
                "label_a_b_conflict2",
                "label_a_b_conflict3"
            ]
        );
    }

    #[test]
    fn allowlist_matches_star_exact_and_globs() {
        let allow = KeyAllowlist::new(&["app".into(), "team-*".into()]);
        assert!(allow.allows("app"));
        assert!(allow.allows("team-a"));
        assert!(!allow.allows("xteam-a"));
        assert!(!allow.allows("apps"));
        assert!(KeyAllowlist::new(&["*".into()]).allows("anything"));
        // `*` after the first entry is ignored.
        assert!(!KeyAllowlist::new(&["app".into(), "*".into()]).allows("other"));
    }
}
