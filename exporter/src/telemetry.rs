//! The exporter's own metrics (telemetry port only, reference §10) and log set-up.

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use std::sync::atomic::AtomicU64;

/// `resource` and `result` labels of the list/watch counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// Upstream's Go type name, e.g. `*v1.Pod`.
    pub resource: String,
    /// `success` or `error`.
    pub result: String,
}

/// `resource` label of per-resource gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    /// Resource name, e.g. `pods`.
    pub resource: String,
}

/// `shard_ordinal` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShardLabels {
    /// This shard's ordinal.
    pub shard_ordinal: String,
}

/// Build information labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// Crate version.
    pub version: String,
    /// Target architecture.
    pub arch: String,
    /// Target OS.
    pub os: String,
}

/// `type` and `filename` of the config reload metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConfigLabels {
    /// Always `config`.
    pub r#type: String,
    /// The file.
    pub filename: String,
}

/// `handler` and `method` of the scrape duration histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandlerLabels {
    /// Always `metrics`.
    pub handler: String,
    /// Lowercase HTTP method.
    pub method: String,
}

/// Every self-metric, registered once and cloned into the components that update them.
#[derive(Clone)]
pub struct Metrics {
    /// kube_state_metrics_list_total.
    pub list_total: Family<CallLabels, Counter>,
    /// kube_state_metrics_watch_total.
    pub watch_total: Family<CallLabels, Counter>,
    /// kube_state_metrics_total_shards.
    pub total_shards: Gauge,
    /// kube_state_metrics_shard_ordinal.
    pub shard_ordinal: Family<ShardLabels, Gauge>,
    /// statefleet_resource_objects: objects held per resource.
    pub objects: Family<ResourceLabels, Gauge>,
    /// statefleet_resource_series: series served per resource.
    pub series: Family<ResourceLabels, Gauge>,
    /// statefleet_resource_synced: 1 once a resource finished its first list.
    pub synced: Family<ResourceLabels, Gauge>,
    /// statefleet_events_total: watch events applied per resource.
    pub events: Family<ResourceLabels, Counter>,
    /// statefleet_relists_total: complete relists swapped in per resource.
    pub relists: Family<ResourceLabels, Counter>,
    /// http_request_duration_seconds for main-port /metrics.
    pub scrape_duration: Family<HandlerLabels, Histogram>,
    /// kube_state_metrics_last_config_reload_successful.
    pub config_reload_ok: Family<ConfigLabels, Gauge>,
    /// kube_state_metrics_last_config_reload_success_timestamp_seconds.
    pub config_reload_time: Family<ConfigLabels, Gauge<f64, AtomicU64>>,
}

impl Metrics {
    /// Registers every metric in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            list_total: Family::default(),
            watch_total: Family::default(),
            total_shards: Gauge::default(),
            shard_ordinal: Family::default(),
            objects: Family::default(),
            series: Family::default(),
            synced: Family::default(),
            events: Family::default(),
            relists: Family::default(),
            scrape_duration: Family::new_with_constructor(|| {
                Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
            }),
            config_reload_ok: Family::default(),
            config_reload_time: Family::default(),
        };
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").into(),
                arch: std::env::consts::ARCH.into(),
                os: std::env::consts::OS.into(),
            })
            .set(1);
        registry.register("kube_state_metrics_build_info", "Build information of statefleet-exporter", build);
        // prometheus-client appends `_total` to counters.
        registry.register(
            "kube_state_metrics_list",
            "Number of total resource list in kube-state-metrics",
            m.list_total.clone(),
        );
        registry.register(
            "kube_state_metrics_watch",
            "Number of total resource watches in kube-state-metrics",
            m.watch_total.clone(),
        );
        registry.register(
            "kube_state_metrics_total_shards",
            "The total number of shards",
            m.total_shards.clone(),
        );
        registry.register(
            "kube_state_metrics_shard_ordinal",
            "Current sharding ordinal/index of this instance",
            m.shard_ordinal.clone(),
        );
        registry.register(
            "statefleet_resource_objects",
            "Objects held per resource (after sharding)",
            m.objects.clone(),
        );
        registry.register("statefleet_resource_series", "Series served per resource", m.series.clone());
        registry.register(
            "statefleet_resource_synced",
            "1 once the resource finished its first list",
            m.synced.clone(),
        );
        registry.register("statefleet_events", "Watch events applied per resource", m.events.clone());
        registry.register(
            "statefleet_relists",
            "Complete lists swapped into the store per resource",
            m.relists.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "A histogram of requests for kube-state-metrics metrics handler",
            m.scrape_duration.clone(),
        );
        registry.register(
            "kube_state_metrics_last_config_reload_successful",
            "Whether the last configuration reload attempt was successful",
            m.config_reload_ok.clone(),
        );
        registry.register(
            "kube_state_metrics_last_config_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload",
            m.config_reload_time.clone(),
        );
        m
    }

    /// Records a list or watch call.
    pub fn call(&self, watch: bool, go_type: &str, ok: bool) {
        let labels =
            CallLabels { resource: go_type.into(), result: if ok { "success" } else { "error" }.into() };
        let family = if watch { &self.watch_total } else { &self.list_total };
        family.get_or_create(&labels).inc();
    }

    /// Sets the sharding gauges (reference §9.2): the ordinal series is reset first.
    pub fn set_shard(&self, shard: u32, total: u32) {
        self.shard_ordinal.clear();
        self.shard_ordinal
            .get_or_create(&ShardLabels { shard_ordinal: shard.to_string() })
            .set(i64::from(shard));
        self.total_shards.set(i64::from(total));
    }
}

/// Encodes a registry in the OpenMetrics text format.
pub fn encode_registry(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, registry);
    out
}

/// Installs the global tracing subscriber (RUST_LOG, default `info`).
pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal, so log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
