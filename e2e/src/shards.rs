//! Checking a set of shard outputs against an unsharded output: the shards must be pairwise
//! disjoint by series, and their union must equal the unsharded series exactly.

use crate::{
    expo::{Diff, Exposition, SeriesKey, diff_series},
    resources,
};
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
};

/// Why a set of shard outputs is not a partition of the unsharded output.
#[derive(Debug, Default)]
pub struct ShardReport {
    /// Series served by more than one shard, with the shards' names.
    pub overlaps: Vec<(SeriesKey, Vec<String>)>,
    /// Union of the shards compared with the unsharded output (expected = unsharded).
    pub union_diff: Diff,
    /// Objects per shard, for context.
    pub objects_per_shard: Vec<(String, usize)>,
}

impl ShardReport {
    /// Whether the shards partition the unsharded output.
    pub fn is_ok(&self) -> bool {
        self.overlaps.is_empty() && self.union_diff.is_empty()
    }
}

impl fmt::Display for ShardReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ok() {
            return f.write_str("the shards partition the unsharded output");
        }
        let counts: Vec<String> =
            self.objects_per_shard.iter().map(|(n, c)| format!("{n}: {c} objects")).collect();
        writeln!(f, "shard outputs are not a partition ({})", counts.join(", "))?;
        if !self.overlaps.is_empty() {
            writeln!(f, "  {} series served by more than one shard:", self.overlaps.len())?;
            for (k, shards) in self.overlaps.iter().take(25) {
                writeln!(f, "    {k} in {}", shards.join(", "))?;
            }
            if self.overlaps.len() > 25 {
                writeln!(f, "    ... and {} more", self.overlaps.len() - 25)?;
            }
        }
        if !self.union_diff.is_empty() {
            write!(f, "  union of the shards vs the unsharded output: {}", self.union_diff)?;
        }
        Ok(())
    }
}

/// The objects an exposition covers, as `(kind, namespace, name)`: for a resource the harness
/// knows ([`resources::KINDS`]), the singular kind from its metric prefix (`deployment`), the
/// namespace (empty for cluster-scoped kinds) and the object label's value; otherwise the word
/// after `kube_` and the label of that name.
pub fn objects(expo: &Exposition) -> BTreeSet<(String, String, String)> {
    expo.samples
        .iter()
        .filter_map(|s| {
            if let Some(kind) = resources::for_metric(&s.name) {
                let name = s.labels.get(kind.object_label)?;
                let ns = if kind.namespaced { s.labels.get("namespace").cloned()? } else { String::new() };
                let singular = kind.metric_prefix.trim_start_matches("kube_").trim_end_matches('_');
                return Some((singular.to_string(), ns, name.clone()));
            }
            let kind = s.name.strip_prefix("kube_")?.split('_').next()?;
            let name = s.labels.get(kind)?;
            let ns = s.labels.get("namespace").cloned().unwrap_or_default();
            Some((kind.to_string(), ns, name.clone()))
        })
        .collect()
}

/// Checks that `shards` (name, output) are pairwise disjoint and that their union is exactly
/// `unsharded`, values included.
pub fn check_union(unsharded: &Exposition, shards: &[(String, Exposition)]) -> Result<(), ShardReport> {
    let mut owners: BTreeMap<SeriesKey, Vec<String>> = BTreeMap::new();
    let mut union: BTreeMap<SeriesKey, f64> = BTreeMap::new();
    for (name, expo) in shards {
        for (key, value) in expo.series() {
            owners.entry(key.clone()).or_default().push(name.clone());
            union.insert(key, value);
        }
    }
    let report = ShardReport {
        overlaps: owners.into_iter().filter(|(_, o)| o.len() > 1).collect(),
        union_diff: diff_series(&unsharded.series(), &union),
        objects_per_shard: shards.iter().map(|(n, e)| (n.clone(), objects(e).len())).collect(),
    };
    if report.is_ok() { Ok(()) } else { Err(report) }
}

/// The object-to-shard functions, written again from the specification (reference §9.1 for
/// `jump`; `md5` is MD5 of the UID read as a 128-bit big-endian integer, modulo N) so the e2e
/// check does not trust the exporter's own code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardHash {
    /// MD5 of the UID, big-endian, mod N.
    Md5,
    /// Upstream KSM: FNV-1a 64 of the UID, then jump consistent hash.
    Jump,
}

impl ShardHash {
    /// The `--shard-hash` value.
    pub fn flag(self) -> &'static str {
        match self {
            ShardHash::Md5 => "md5",
            ShardHash::Jump => "jump",
        }
    }

    /// The shard in `0..total` that owns `uid`.
    pub fn shard_of(self, uid: &str, total: u32) -> u32 {
        match self {
            ShardHash::Md5 => {
                use md5::Digest;
                let digest: [u8; 16] = md5::Md5::digest(uid.as_bytes()).into();
                (u128::from_be_bytes(digest) % u128::from(total.max(1))) as u32
            }
            ShardHash::Jump => {
                let mut key = uid
                    .bytes()
                    .fold(0xcbf29ce484222325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3));
                let (mut b, mut j) = (-1_i64, 0_i64);
                while j < i64::from(total.max(1)) {
                    b = j;
                    key = key.wrapping_mul(2862933555777941757).wrapping_add(1);
                    j = ((b + 1) as f64 * ((1_u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
                }
                b as u32
            }
        }
    }
}

/// The `(kind, namespace, name)` of an API object, as [`objects`] names it in an exposition.
pub fn object_key(item: &serde_json::Value) -> (String, String, String) {
    let field = |p: &str| item.pointer(p).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let api_kind = field("/kind");
    match resources::for_api_kind(&api_kind) {
        Some(k) => (
            k.metric_prefix.trim_start_matches("kube_").trim_end_matches('_').to_string(),
            if k.namespaced { field("/metadata/namespace") } else { String::new() },
            field("/metadata/name"),
        ),
        None => (api_kind.to_lowercase(), field("/metadata/namespace"), field("/metadata/name")),
    }
}

/// The objects of `list` (a `{"items": [...]}` from the API), keyed as [`objects`] does.
pub fn list_objects(list: &serde_json::Value) -> BTreeSet<(String, String, String)> {
    list.get("items").and_then(|i| i.as_array()).into_iter().flatten().map(object_key).collect()
}

/// Checks that every object of `list` (a `{"items": [...]}` from the API) appears in exactly the
/// shard `hash` assigns its UID to, where `shards[i]` is shard `i` of `shards.len()`. Returns one
/// line per misplaced object.
pub fn check_assignment(
    list: &serde_json::Value,
    shards: &[(String, Exposition)],
    hash: ShardHash,
) -> Result<(), Vec<String>> {
    let total = shards.len() as u32;
    let held: Vec<BTreeSet<(String, String, String)>> = shards.iter().map(|(_, e)| objects(e)).collect();
    let mut wrong = Vec::new();
    for item in list.get("items").and_then(|i| i.as_array()).into_iter().flatten() {
        let key = object_key(item);
        let uid = item.pointer("/metadata/uid").and_then(|v| v.as_str()).unwrap_or_default();
        let want = hash.shard_of(uid, total);
        let found: Vec<u32> = (0..total).filter(|&i| held[i as usize].contains(&key)).collect();
        if found != [want] {
            wrong.push(format!(
                "{} {}/{} (uid {uid}): {} puts it on shard {want} of {total}, found on {found:?}",
                key.0,
                key.1,
                key.2,
                hash.flag()
            ));
        }
    }
    if wrong.is_empty() { Ok(()) } else { Err(wrong) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expo::parse;

    fn p(text: &str) -> Exposition {
        parse(text).expect("test exposition parses")
    }

    #[test]
    fn hashes_match_the_specification_vectors() {
        // Reference §9.1 (jump) and the md5 vectors computed with Python's hashlib.
        let jump: Vec<u32> = (1..=5).map(|t| ShardHash::Jump.shard_of("uid-2", t)).collect();
        assert_eq!(jump, [0, 0, 0, 3, 3]);
        let uid = "5a9b1f3e-2f4c-4d8e-9a1b-0c2d3e4f5a6b";
        let jump: Vec<u32> = (1..=5).map(|t| ShardHash::Jump.shard_of(uid, t)).collect();
        assert_eq!(jump, [0, 0, 2, 2, 4]);
        let md5: Vec<u32> = (1..=5).map(|t| ShardHash::Md5.shard_of(uid, t)).collect();
        assert_eq!(md5, [0, 0, 2, 2, 0]);
    }

    #[test]
    fn assignment_check_names_misplaced_objects() {
        let uid = "5a9b1f3e-2f4c-4d8e-9a1b-0c2d3e4f5a6b"; // md5 shard 2 of 3
        let list = serde_json::json!({"items": [
            {"kind": "Deployment", "metadata": {"name": "x", "namespace": "n", "uid": uid}},
        ]});
        let on = |i: usize| -> Vec<(String, Exposition)> {
            (0..3)
                .map(|s| {
                    let text =
                        if s == i { "kube_deployment_a{deployment=\"x\",namespace=\"n\"} 1\n" } else { "" };
                    (format!("shard {s}"), p(text))
                })
                .collect()
        };
        assert!(check_assignment(&list, &on(2), ShardHash::Md5).is_ok());
        let wrong = check_assignment(&list, &on(1), ShardHash::Md5).expect_err("misplaced");
        assert!(wrong[0].contains("shard 2 of 3, found on [1]"), "{wrong:?}");
    }

    #[test]
    fn objects_are_named_by_each_kind_s_own_label() {
        let e = p("kube_job_info{namespace=\"n\",job_name=\"j\"} 1\n\
                   kube_namespace_created{namespace=\"n\"} 1\n\
                   kube_node_info{node=\"e2e-node-0\"} 1\n\
                   kube_poddisruptionbudget_created{namespace=\"n\",poddisruptionbudget=\"b\"} 1\n\
                   kube_pod_info{namespace=\"n\",pod=\"x\"} 1\n");
        let found: Vec<(String, String, String)> = objects(&e).into_iter().collect();
        let want: Vec<(String, String, String)> = [
            ("job", "n", "j"),
            ("namespace", "", "n"),
            ("node", "", "e2e-node-0"),
            ("pod", "n", "x"),
            ("poddisruptionbudget", "n", "b"),
        ]
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
        assert_eq!(found, want);
        let list = serde_json::json!({"items": [
            {"kind": "Job", "metadata": {"name": "j", "namespace": "n"}},
            {"kind": "Namespace", "metadata": {"name": "n"}},
            {"kind": "Node", "metadata": {"name": "e2e-node-0"}},
            {"kind": "Pod", "metadata": {"name": "x", "namespace": "n"}},
            {"kind": "PodDisruptionBudget", "metadata": {"name": "b", "namespace": "n"}},
        ]});
        assert_eq!(list_objects(&list), objects(&e));
    }

    #[test]
    fn a_partition_passes_and_each_breakage_is_named() {
        let all = p("kube_deployment_a{deployment=\"x\",namespace=\"n\"} 1\n\
                     kube_deployment_a{deployment=\"y\",namespace=\"n\"} 2\n\
                     kube_statefulset_b{statefulset=\"z\",namespace=\"n\"} 3\n");
        let s0 = p("kube_deployment_a{deployment=\"x\",namespace=\"n\"} 1\n");
        let s1 = p("kube_deployment_a{namespace=\"n\",deployment=\"y\"} 2\n\
                    kube_statefulset_b{statefulset=\"z\",namespace=\"n\"} 3\n");
        let named = |v: Vec<Exposition>| -> Vec<(String, Exposition)> {
            v.into_iter().enumerate().map(|(i, e)| (format!("shard {i}"), e)).collect()
        };
        assert!(check_union(&all, &named(vec![s0.clone(), s1.clone()])).is_ok());
        assert_eq!(objects(&s1).len(), 2);

        let dropped = check_union(&all, &named(vec![s1.clone()])).expect_err("a shard is missing");
        assert_eq!(dropped.union_diff.missing.len(), 1, "{dropped}");

        let overlap = check_union(&all, &named(vec![s0.clone(), s1.clone(), s0.clone()]))
            .expect_err("a series is served twice");
        assert_eq!(overlap.overlaps.len(), 1, "{overlap}");
        assert!(overlap.to_string().contains("shard 0, shard 2"), "{overlap}");

        let changed = p("kube_deployment_a{deployment=\"x\",namespace=\"n\"} 9\n");
        let wrong = check_union(&all, &named(vec![changed, s1.clone()])).expect_err("a value differs");
        assert_eq!(wrong.union_diff.different.len(), 1, "{wrong}");

        let stray = p("kube_deployment_a{deployment=\"q\",namespace=\"n\"} 1\n");
        let extra = check_union(&all, &named(vec![s0, s1, stray])).expect_err("an extra series");
        assert_eq!(extra.union_diff.extra.len(), 1, "{extra}");
    }
}
