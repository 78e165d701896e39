//! Command-line flags mirroring upstream kube-state-metrics (reference §1), the `--config` YAML
//! file with the same keys, and their validation into a typed [`Options`].

use crate::{
    resources::{self, common::KeyAllowlist},
    shard::ShardHash,
};
use clap::{ArgAction, Args, Parser, Subcommand};
use serde::Deserialize;
use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::Arc,
};

/// A flag or config value that cannot be used. The message names the flag and the value.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// A value is invalid; the message says which flag and why.
    #[error("{0}")]
    Invalid(String),
    /// The `--config` file cannot be read or parsed.
    #[error("failed to load --config {path}: {reason}")]
    Config {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

fn invalid(msg: impl Into<String>) -> OptionsError {
    OptionsError::Invalid(msg.into())
}

/// statefleet-exporter: a kube-state-metrics compatible, sharded exporter of Kubernetes object state.
#[derive(Debug, Parser)]
#[command(name = "statefleet-exporter", version, about, long_about = None)]
pub struct Cli {
    /// What to do; without a subcommand the exporter serves.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags shared by every subcommand.
    #[command(flatten)]
    pub flags: Flags,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read Kubernetes objects (an object or a List, JSON or YAML) and print the exposition the
    /// server would serve for them, with the same filter, shard and label flags.
    Render {
        /// File to read, or `-` for standard input.
        #[arg(long, default_value = "-")]
        input: String,
    },
    /// Print one line per implemented metric family: name, type, stability, resource.
    Families,
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "true" | "1" | "t" | "T" | "TRUE" | "True" => Ok(true),
        "false" | "0" | "f" | "F" | "FALSE" | "False" => Ok(false),
        other => Err(format!("invalid boolean {other:?}")),
    }
}

/// The flags, named and defaulted as upstream's. Bool flags take `--flag` or `--flag=true|false`.
#[derive(Debug, Clone, Args)]
pub struct Flags {
    /// Host to expose metrics on.
    #[arg(long, global = true, default_value = "::")]
    pub host: String,
    /// Port to expose metrics on.
    #[arg(long, global = true, default_value_t = 8080)]
    pub port: u16,
    /// Host to expose the exporter's own metrics on.
    #[arg(long, global = true, default_value = "::")]
    pub telemetry_host: String,
    /// Port to expose the exporter's own metrics on.
    #[arg(long, global = true, default_value_t = 8081)]
    pub telemetry_port: u16,
    /// Absolute path to the kubeconfig file (in-cluster config or $KUBECONFIG when unset).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The URL of the API server; overrides the kubeconfig's server.
    #[arg(long, global = true)]
    pub apiserver: Option<String>,
    /// Comma-separated list of resources to be enabled (default: upstream's default set).
    #[arg(long, global = true, value_delimiter = ',')]
    pub resources: Vec<String>,
    /// Comma-separated list of namespaces to be enabled (default: all).
    #[arg(long, global = true, value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Comma-separated list of namespaces not to be enabled.
    #[arg(long, global = true, value_delimiter = ',')]
    pub namespaces_denylist: Vec<String>,
    /// Comma-separated list of metric-name regexes to keep (unanchored; excludes the denylist).
    #[arg(long, global = true, value_delimiter = ',')]
    pub metric_allowlist: Vec<String>,
    /// Comma-separated list of metric-name regexes to drop (unanchored).
    #[arg(long, global = true, value_delimiter = ',')]
    pub metric_denylist: Vec<String>,
    /// Comma-separated list of regexes that switch on opt-in families.
    #[arg(long, global = true, value_delimiter = ',')]
    pub metric_opt_in_list: Vec<String>,
    /// Kubernetes label keys per resource for the `kube_<resource>_labels` families, e.g.
    /// `pods=[app,team],nodes=[*]`; `*=[app]` applies to every resource.
    #[arg(long, global = true)]
    pub metric_labels_allowlist: Option<String>,
    /// Annotation keys per resource for the `kube_<resource>_annotations` families.
    #[arg(long, global = true)]
    pub metric_annotations_allowlist: Option<String>,
    /// This instance's shard, counted from zero.
    #[arg(long, global = true, default_value_t = 0)]
    pub shard: i64,
    /// Number of shards; 1 turns sharding off.
    #[arg(long, global = true, default_value_t = 1)]
    pub total_shards: i64,
    /// Hash that maps object UIDs to shards: md5 (default) or jump (upstream's FNV-1a + jump).
    #[arg(long, global = true, default_value = "md5")]
    pub shard_hash: ShardHash,
    /// Own pod name; with --pod-namespace the shard comes from the owning StatefulSet.
    #[arg(long, global = true)]
    pub pod: Option<String>,
    /// Own pod namespace.
    #[arg(long, global = true)]
    pub pod_namespace: Option<String>,
    /// Only pods on this node (field selector spec.nodeName=NODE): DaemonSet mode.
    #[arg(long, global = true)]
    pub node: Option<String>,
    /// Only pods not scheduled to any node (field selector spec.nodeName=).
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, value_parser = parse_bool, default_value = "false")]
    pub track_unscheduled_pods: bool,
    /// Send resourceVersion=0 on lists, served from the API server's cache.
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, value_parser = parse_bool, default_value = "false")]
    pub use_apiserver_cache: bool,
    /// Gzip /metrics when the client accepts it.
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, value_parser = parse_bool, default_value = "false")]
    pub enable_gzip_encoding: bool,
    /// Add the label cluster="NAME" to every series of the metrics port.
    #[arg(long, global = true)]
    pub cluster_name: Option<String>,
    /// Path of a YAML file with the same keys as upstream's; its values win over flags, and a
    /// change to it is applied without a restart.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, global = true, default_value = "text")]
    pub log_format: String,
}

/// The `--config` file: upstream's YAML keys (reference §1, the `yaml:` tags).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    host: Option<String>,
    port: Option<u16>,
    telemetry_host: Option<String>,
    telemetry_port: Option<u16>,
    kubeconfig: Option<PathBuf>,
    apiserver: Option<String>,
    resources: Option<BTreeMap<String, serde_norway::Value>>,
    namespaces: Option<Vec<String>>,
    namespaces_denylist: Option<Vec<String>>,
    metric_allowlist: Option<BTreeMap<String, serde_norway::Value>>,
    metric_denylist: Option<BTreeMap<String, serde_norway::Value>>,
    metric_opt_in_list: Option<BTreeMap<String, serde_norway::Value>>,
    labels_allow_list: Option<BTreeMap<String, Vec<String>>>,
    annotations_allow_list: Option<BTreeMap<String, Vec<String>>>,
    shard: Option<i64>,
    total_shards: Option<i64>,
    shard_hash: Option<String>,
    pod: Option<String>,
    #[serde(rename = "namespace")]
    pod_namespace: Option<String>,
    node: Option<String>,
    track_unscheduled_pods: Option<bool>,
    use_api_server_cache: Option<bool>,
    enable_gzip_encoding: Option<bool>,
    cluster_name: Option<String>,
}

/// How this process picks its objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShardMode {
    /// Fixed `--shard` of `--total-shards`.
    Static {
        /// This shard.
        shard: u32,
        /// Number of shards.
        total: u32,
    },
    /// Shard and total from the owning StatefulSet (ordinal, replicas), followed live.
    Auto {
        /// Own pod name.
        pod: String,
        /// Own pod namespace.
        namespace: String,
    },
}

/// Which metric families are served: allow/deny (ECMAScript-style regexes, unanchored) and
/// opt-in (RE2 regexes, unanchored).
#[derive(Clone, Debug, Default)]
pub struct FamilyFilter {
    allow: Vec<fancy_regex::Regex>,
    deny: Vec<fancy_regex::Regex>,
    opt_in: Vec<regex::Regex>,
}

impl FamilyFilter {
    /// Whether a family passes the filters.
    pub fn keeps(&self, name: &str, opt_in: bool) -> bool {
        let search = |re: &fancy_regex::Regex| re.is_match(name).unwrap_or(false);
        if opt_in && !self.opt_in.iter().any(|re| re.is_match(name)) {
            return false;
        }
        if !self.allow.is_empty() {
            return self.allow.iter().any(search);
        }
        !self.deny.iter().any(search)
    }
}

/// Validated options.
#[derive(Clone, Debug)]
pub struct Options {
    /// Metrics listen address.
    pub host: String,
    /// Metrics port.
    pub port: u16,
    /// Telemetry listen address.
    pub telemetry_host: String,
    /// Telemetry port.
    pub telemetry_port: u16,
    /// Kubeconfig path.
    pub kubeconfig: Option<PathBuf>,
    /// API server URL override.
    pub apiserver: Option<String>,
    /// Enabled resources, sorted and de-duplicated.
    pub resources: Vec<&'static str>,
    /// Namespaces to watch; empty means all.
    pub namespaces: Vec<String>,
    /// Namespaces left out (field selector).
    pub namespaces_denylist: Vec<String>,
    /// Family filters.
    pub family_filter: FamilyFilter,
    /// Label allowlist per resource.
    pub labels_allow: HashMap<String, Arc<KeyAllowlist>>,
    /// Annotation allowlist per resource.
    pub annotations_allow: HashMap<String, Arc<KeyAllowlist>>,
    /// The hash in use.
    pub shard_hash: ShardHash,
    /// Static or automatic sharding.
    pub shard_mode: ShardMode,
    /// Field selector value for spec.nodeName (Some("") for unscheduled pods).
    pub node_selector: Option<String>,
    /// resourceVersion=0 on lists.
    pub use_apiserver_cache: bool,
    /// gzip on request.
    pub enable_gzip: bool,
    /// `cluster` label value.
    pub cluster_name: Option<String>,
    /// The config file, for reloads.
    pub config: Option<PathBuf>,
}

impl Options {
    /// Flags overlaid with the `--config` file (file wins, as upstream), then validated.
    pub fn load(flags: &Flags) -> Result<Self, OptionsError> {
        let mut flags = flags.clone();
        if let Some(path) = flags.config.clone() {
            overlay_config(&mut flags, &path)?;
        }
        Self::validate(&flags)
    }

    /// Validates flags into options; every error names the flag and the value.
    pub fn validate(f: &Flags) -> Result<Self, OptionsError> {
        let mut resources: Vec<&'static str> = if f.resources.iter().all(|r| r.trim().is_empty()) {
            if f.node.is_some() || f.track_unscheduled_pods {
                // Per-node mode only makes sense for pods; other resources reject the selector.
                vec!["pods"]
            } else {
                resources::default_resources()
            }
        } else {
            let mut out = Vec::new();
            for r in f.resources.iter().map(|r| r.trim()).filter(|r| !r.is_empty()) {
                let found = resources::find(r).ok_or_else(|| {
                    let available: Vec<_> = resources::REGISTRY.iter().map(|r| r.name).collect();
                    invalid(format!(
                        "--resources: unknown resource {r:?} (available: {})",
                        available.join(",")
                    ))
                })?;
                out.push(found.name);
            }
            out
        };
        resources.sort_unstable();
        resources.dedup();

        if (f.node.is_some() || f.track_unscheduled_pods) && resources != ["pods"] {
            return Err(invalid(format!(
                "--node/--track-unscheduled-pods need --resources=pods, got --resources={}",
                resources.join(",")
            )));
        }
        let node_selector = if f.track_unscheduled_pods { Some(String::new()) } else { f.node.clone() };

        let shard_mode = match (&f.pod, &f.pod_namespace) {
            (Some(pod), Some(ns)) => ShardMode::Auto { pod: pod.clone(), namespace: ns.clone() },
            (Some(pod), None) => return Err(invalid(format!("--pod={pod} needs --pod-namespace"))),
            (None, Some(ns)) => return Err(invalid(format!("--pod-namespace={ns} needs --pod"))),
            (None, None) => {
                if f.total_shards < 1 || f.total_shards > i64::from(u32::MAX) {
                    return Err(invalid(format!("--total-shards={} must be at least 1", f.total_shards)));
                }
                if f.shard < 0 || f.shard >= f.total_shards {
                    return Err(invalid(format!(
                        "--shard={} must be in 0..--total-shards ({})",
                        f.shard, f.total_shards
                    )));
                }
                ShardMode::Static { shard: f.shard as u32, total: f.total_shards as u32 }
            }
        };

        let list = |v: &[String]| -> Vec<String> {
            v.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
        };
        let (allow, deny, opt_in) =
            (list(&f.metric_allowlist), list(&f.metric_denylist), list(&f.metric_opt_in_list));
        if !allow.is_empty() && !deny.is_empty() {
            return Err(invalid(
                "--metric-allowlist and --metric-denylist are mutually exclusive; set only one",
            ));
        }
        let fancy = |flag: &str, items: &[String]| -> Result<Vec<fancy_regex::Regex>, OptionsError> {
            items
                .iter()
                .map(|p| {
                    fancy_regex::Regex::new(p)
                        .map_err(|e| invalid(format!("{flag}: invalid regex {p:?}: {e}")))
                })
                .collect()
        };
        let family_filter = FamilyFilter {
            allow: fancy("--metric-allowlist", &allow)?,
            deny: fancy("--metric-denylist", &deny)?,
            opt_in: opt_in
                .iter()
                .map(|p| {
                    regex::Regex::new(p)
                        .map_err(|e| invalid(format!("--metric-opt-in-list: invalid regex {p:?}: {e}")))
                })
                .collect::<Result<_, _>>()?,
        };

        let labels_allow =
            allowlist("--metric-labels-allowlist", f.metric_labels_allowlist.as_deref(), &resources)?;
        let annotations_allow = allowlist(
            "--metric-annotations-allowlist",
            f.metric_annotations_allowlist.as_deref(),
            &resources,
        )?;

        if let Some(name) = &f.cluster_name
            && name.is_empty()
        {
            return Err(invalid("--cluster-name must not be empty"));
        }
        if !matches!(f.log_format.as_str(), "text" | "json") {
            return Err(invalid(format!("--log-format={:?} must be text or json", f.log_format)));
        }

        Ok(Options {
            host: f.host.clone(),
            port: f.port,
            telemetry_host: f.telemetry_host.clone(),
            telemetry_port: f.telemetry_port,
            kubeconfig: f.kubeconfig.clone(),
            apiserver: f.apiserver.clone(),
            resources,
            namespaces: list(&f.namespaces),
            namespaces_denylist: list(&f.namespaces_denylist),
            family_filter,
            labels_allow,
            annotations_allow,
            shard_hash: f.shard_hash,
            shard_mode,
            node_selector,
            use_apiserver_cache: f.use_apiserver_cache,
            enable_gzip: f.enable_gzip_encoding,
            cluster_name: f.cluster_name.clone(),
            config: f.config.clone(),
        })
    }

    /// The field selector for namespaced list/watch calls: namespace denylist, then node.
    pub fn field_selector(&self) -> Option<String> {
        let mut terms: Vec<String> =
            self.namespaces_denylist.iter().map(|ns| format!("metadata.namespace!={ns}")).collect();
        if let Some(node) = &self.node_selector {
            terms.push(format!("spec.nodeName={node}"));
        }
        (!terms.is_empty()).then(|| terms.join(","))
    }

    /// `,cluster="NAME"` for every sample, or nothing.
    pub fn trailing_labels(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(name) = &self.cluster_name {
            out.push(b',');
            crate::metric::write_label(&mut out, "cluster", name);
        }
        out
    }
}

/// Parses `res=[a,b],res2=[c]` with upstream's grammar checks, then expands `*` to every
/// enabled resource (it overrides per-resource entries). An empty entry means no samples.
fn allowlist(
    flag: &str,
    value: Option<&str>,
    enabled: &[&'static str],
) -> Result<HashMap<String, Arc<KeyAllowlist>>, OptionsError> {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(HashMap::new());
    };
    let parsed = parse_allowlist(value).map_err(|why| invalid(format!("{flag}={value:?}: {why}")))?;
    allowlist_from_map(flag, parsed, enabled)
}

fn allowlist_from_map(
    flag: &str,
    parsed: BTreeMap<String, Vec<String>>,
    enabled: &[&'static str],
) -> Result<HashMap<String, Arc<KeyAllowlist>>, OptionsError> {
    for (name, items) in &parsed {
        if name != "*" && resources::find(name).is_none() {
            return Err(invalid(format!("{flag}: unknown resource {name:?}")));
        }
        if let Some(bad) = items.iter().find(|i| i.matches('*').count() > 1) {
            return Err(invalid(format!(
                "{flag}: {bad:?} has more than one wildcard; only one per label is allowed"
            )));
        }
    }
    let entries: Vec<(String, Vec<String>)> = match parsed.get("*") {
        Some(items) => enabled.iter().map(|r| (r.to_string(), items.clone())).collect(),
        None => parsed.into_iter().collect(),
    };
    Ok(entries
        .into_iter()
        .filter(|(_, items)| !items.is_empty())
        .map(|(name, items)| (name, Arc::new(KeyAllowlist::new(&items))))
        .collect())
}

/// The `name=[v1,v2],name2=[...]` grammar of upstream's LabelsAllowList.
pub fn parse_allowlist(value: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    let chars: Vec<char> = value.chars().collect();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (mut start, mut name) = (0usize, String::new());
    let text = |from: usize, to: usize| chars[from..to].iter().collect::<String>().trim().to_string();
    let bad = || "expected the form resource=[key,...],resource2=[...]".to_string();
    for (i, &c) in chars.iter().enumerate() {
        let prev = if i == 0 { c } else { chars[i - 1] };
        let next = chars.get(i + 1).copied();
        match c {
            '=' => {
                if prev == ',' || next != Some('[') {
                    return Err(bad());
                }
                name = text(start, i);
                out.insert(name.clone(), Vec::new());
                start = i + 1;
            }
            '[' => {
                if prev != '=' {
                    return Err(bad());
                }
                start = i + 1;
            }
            ']' => {
                if next.is_some_and(|n| n != ',') {
                    return Err(bad());
                }
                if prev != '[' {
                    out.entry(name.clone()).or_default().push(text(start, i));
                }
                start = i + 1;
            }
            ',' => {
                if prev == ',' || next.is_none() || next == Some(']') {
                    return Err(bad());
                }
                if prev != ']' {
                    out.entry(name.clone()).or_default().push(text(start, i));
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    Ok(out)
}

fn keys_of(map: BTreeMap<String, serde_norway::Value>) -> Vec<String> {
    map.into_keys().collect()
}

fn format_allowlist(map: BTreeMap<String, Vec<String>>) -> String {
    map.into_iter().map(|(k, v)| format!("{k}=[{}]", v.join(","))).collect::<Vec<_>>().join(",")
}

/// Overlays the YAML file's keys on the flags. Non-empty list values replace the flag values.
fn overlay_config(flags: &mut Flags, path: &Path) -> Result<(), OptionsError> {
    let err = |reason: String| OptionsError::Config { path: path.display().to_string(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let file: ConfigFile = if text.trim().is_empty() {
        ConfigFile::default()
    } else {
        serde_norway::from_str(&text).map_err(|e| err(e.to_string()))?
    };
    macro_rules! set {
        ($($field:ident),*) => { $( if let Some(v) = file.$field { flags.$field = v; } )* };
    }
    set!(
        host,
        port,
        telemetry_host,
        telemetry_port,
        shard,
        total_shards,
        track_unscheduled_pods,
        enable_gzip_encoding
    );
    macro_rules! set_opt {
        ($($field:ident),*) => { $( if file.$field.is_some() { flags.$field = file.$field; } )* };
    }
    set_opt!(kubeconfig, apiserver, pod, pod_namespace, node, cluster_name);
    if let Some(v) = file.use_api_server_cache {
        flags.use_apiserver_cache = v;
    }
    if let Some(h) = file.shard_hash {
        flags.shard_hash = h.parse().map_err(|e: String| err(format!("shard_hash: {e}")))?;
    }
    let nonempty = |v: &Vec<String>| !v.is_empty();
    if let Some(v) = file.resources.map(keys_of).filter(nonempty) {
        flags.resources = v;
    }
    if let Some(v) = file.namespaces.filter(nonempty) {
        flags.namespaces = v;
    }
    if let Some(v) = file.namespaces_denylist.filter(nonempty) {
        flags.namespaces_denylist = v;
    }
    if let Some(v) = file.metric_allowlist.map(keys_of).filter(nonempty) {
        flags.metric_allowlist = v;
    }
    if let Some(v) = file.metric_denylist.map(keys_of).filter(nonempty) {
        flags.metric_denylist = v;
    }
    if let Some(v) = file.metric_opt_in_list.map(keys_of).filter(nonempty) {
        flags.metric_opt_in_list = v;
    }
    if let Some(m) = file.labels_allow_list.filter(|m| !m.is_empty()) {
        flags.metric_labels_allowlist = Some(format_allowlist(m));
    }
    if let Some(m) = file.annotations_allow_list.filter(|m| !m.is_empty()) {
        flags.metric_annotations_allowlist = Some(format_allowlist(m));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        let mut argv = vec!["statefleet-exporter"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        Options::validate(&cli.flags).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_match_upstream() {
        let o = parse(&[]).expect("defaults are valid");
        assert_eq!((o.host.as_str(), o.port, o.telemetry_port), ("::", 8080, 8081));
        assert_eq!(o.shard_mode, ShardMode::Static { shard: 0, total: 1 });
        assert_eq!(o.shard_hash, ShardHash::Md5);
        assert!(o.resources.contains(&"deployments"));
    }

    #[test]
    fn bad_combinations_name_the_flags() {
        let cases: &[(&[&str], &str)] = &[
            (&["--shard=3", "--total-shards=3"], "--shard=3"),
            (&["--total-shards=0"], "--total-shards=0"),
            (&["--pod=p-0"], "--pod=p-0 needs --pod-namespace"),
            (&["--resources=foo"], "--resources: unknown resource \"foo\""),
            (&["--metric-allowlist=a", "--metric-denylist=b"], "mutually exclusive"),
            (&["--metric-denylist=("], "--metric-denylist: invalid regex \"(\""),
            (&["--metric-labels-allowlist=pods=app"], "--metric-labels-allowlist=\"pods=app\""),
            (&["--metric-labels-allowlist=deployments=[a*b*]"], "more than one wildcard"),
            (&["--node=n1", "--resources=pods,deployments"], "need --resources=pods"),
        ];
        for (args, want) in cases {
            let err = parse(args).expect_err("must fail");
            assert!(err.contains(want), "{args:?}: {err}");
        }
        let err = parse(&["--no-such-flag"]).expect_err("unknown flag");
        assert!(err.contains("--no-such-flag"), "{err}");
    }

    #[test]
    fn bool_flags_take_a_value_or_none() {
        assert!(parse(&["--use-apiserver-cache"]).expect("ok").use_apiserver_cache);
        assert!(!parse(&["--use-apiserver-cache=false"]).expect("ok").use_apiserver_cache);
        assert!(parse(&["--enable-gzip-encoding=true"]).expect("ok").enable_gzip);
    }

    #[test]
    fn node_mode_defaults_to_pods_and_builds_field_selectors() {
        let o = parse(&["--node=n1", "--namespaces-denylist=kube-system,x"]).expect("ok");
        assert_eq!(o.resources, ["pods"]);
        assert_eq!(
            o.field_selector().as_deref(),
            Some("metadata.namespace!=kube-system,metadata.namespace!=x,spec.nodeName=n1")
        );
        let o = parse(&["--track-unscheduled-pods", "--node=n1"]).expect("ok");
        assert_eq!(o.field_selector().as_deref(), Some("spec.nodeName="));
    }

    #[test]
    fn allowlist_grammar_matches_upstream() {
        let m = parse_allowlist("pods=[app, team],nodes=[],deployments=[*]").expect("valid");
        assert_eq!(m["pods"], ["app", "team"]);
        assert!(m["nodes"].is_empty());
        assert_eq!(m["deployments"], ["*"]);
        for bad in ["pods=app", "pods=[a],,nodes=[b]", "pods=[a,]", "pods=[a]x", "pods=[a],"] {
            assert!(parse_allowlist(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn star_allowlist_applies_to_every_enabled_resource() {
        let o = parse(&["--resources=deployments", "--metric-labels-allowlist=*=[app],deployments=[x]"])
            .expect("ok");
        assert!(o.labels_allow["deployments"].allows("app"));
        assert!(!o.labels_allow["deployments"].allows("x"));
    }

    #[test]
    fn family_filter_is_an_unanchored_search_with_lookarounds() {
        let o = parse(&["--metric-denylist=kube_deployment_spec_(?!replicas)"]).expect("ok");
        assert!(o.family_filter.keeps("kube_deployment_spec_replicas", false));
        assert!(!o.family_filter.keeps("kube_deployment_spec_paused", false));
        let o = parse(&["--metric-allowlist=deployment_created"]).expect("ok");
        assert!(o.family_filter.keeps("kube_deployment_created", false));
        assert!(!o.family_filter.keeps("kube_deployment_labels", false));
        let o = parse(&["--metric-opt-in-list=kube_pod_nodeselectors"]).expect("ok");
        assert!(o.family_filter.keeps("kube_pod_nodeselectors", true));
        assert!(!o.family_filter.keeps("kube_persistentvolume_csi_attributes", true));
    }

    #[test]
    fn config_file_wins_over_flags_and_rejects_unknown_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, "resources: {deployments: {}}\ntotal_shards: 4\nshard: 2\nlabels_allow_list: {deployments: [app]}\n")
            .expect("write");
        let cli = Cli::try_parse_from(["x", "--total-shards=2", "--config", path.to_str().expect("utf8")])
            .expect("flags");
        let o = Options::load(&cli.flags).expect("valid");
        assert_eq!(o.shard_mode, ShardMode::Static { shard: 2, total: 4 });
        assert!(o.labels_allow["deployments"].allows("app"));
        std::fs::write(&path, "shards: 4\n").expect("write");
        let err = Options::load(&cli.flags).expect_err("unknown key").to_string();
        assert!(err.contains("failed to load --config") && err.contains("shards"), "{err}");
    }
}
