//! The registry of supported resources. Each kind lives in its own module as a lean projection
//! type (only the fields its metrics read) and a table of metric families.

pub mod certificatesigningrequest;
pub mod clusterrole;
pub mod clusterrolebinding;
pub mod common;
pub mod configmap;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod endpoint;
pub mod endpointslice;
pub mod horizontalpodautoscaler;
pub mod ingress;
pub mod ingressclass;
pub mod job;
pub mod lease;
pub mod limitrange;
pub mod mutatingadmissionpolicy;
pub mod mutatingadmissionpolicybinding;
pub mod mutatingwebhookconfiguration;
pub mod namespace;
pub mod networkpolicy;
pub mod node;
pub mod persistentvolume;
pub mod persistentvolumeclaim;
pub mod pod;
pub mod poddisruptionbudget;
pub mod replicaset;
pub mod replicationcontroller;
pub mod resourcequota;
pub mod role;
pub mod rolebinding;
pub mod secret;
pub mod service;
pub mod serviceaccount;
pub mod statefulset;
pub mod storageclass;
pub mod validatingadmissionpolicy;
pub mod validatingadmissionpolicybinding;
pub mod validatingwebhookconfiguration;
pub mod volumeattachment;

use crate::{
    metric::{FamilyGen, Sink},
    store::Rendered,
};
use common::KeyAllowlist;
use serde::de::DeserializeOwned;
use std::{fmt::Debug, sync::Arc};

/// What a kind's family table may depend on.
#[derive(Clone, Debug, Default)]
pub struct FamilyOptions {
    /// `--metric-labels-allowlist` entry of this resource; `None` means no `label_*` sample.
    pub labels: Option<Arc<KeyAllowlist>>,
    /// `--metric-annotations-allowlist` entry of this resource.
    pub annotations: Option<Arc<KeyAllowlist>>,
}

/// Builds the `Api` of a kind in a namespace or cluster-wide, whichever its scope allows.
pub trait ScopeApi {
    /// The API handle; `namespace` is ignored for cluster-scoped kinds.
    fn api<K: kube::Resource<Scope = Self, DynamicType = ()>>(
        client: kube::Client,
        namespace: Option<&str>,
    ) -> kube::Api<K>
    where
        Self: Sized;
}

impl ScopeApi for k8s_openapi::NamespaceResourceScope {
    fn api<K: kube::Resource<Scope = Self, DynamicType = ()>>(
        client: kube::Client,
        namespace: Option<&str>,
    ) -> kube::Api<K> {
        match namespace {
            Some(ns) => kube::Api::namespaced(client, ns),
            None => kube::Api::all(client),
        }
    }
}

impl ScopeApi for k8s_openapi::ClusterResourceScope {
    fn api<K: kube::Resource<Scope = Self, DynamicType = ()>>(
        client: kube::Client,
        _: Option<&str>,
    ) -> kube::Api<K> {
        kube::Api::all(client)
    }
}

/// A Kubernetes kind the exporter serves.
pub trait Kind:
    kube::Resource<DynamicType = (), Scope: ScopeApi> + DeserializeOwned + Clone + Debug + Send + Sync + 'static
{
    /// Resource name as used by `--resources`, e.g. `pods`.
    const RESOURCE: &'static str;
    /// Kind as written in objects, e.g. `Pod`.
    const KIND: &'static str;
    /// Upstream's telemetry `resource` label (its Go type), e.g. `*v1.Pod`.
    const GO_TYPE: &'static str;
    /// Whether objects live in namespaces (namespace selectors apply).
    const NAMESPACED: bool;

    /// The labels upstream puts in front of every sample, in order.
    fn default_labels(&self) -> Vec<(&'static str, &str)>;

    /// The metric families, in upstream's code order.
    fn families(options: &FamilyOptions) -> Vec<FamilyGen<Self>>;
}

/// Implements `kube::Resource` for a projection type with a `metadata: ObjectMeta` field.
macro_rules! projection {
    ($ty:ident, $kind:literal, $group:literal, $version:literal, $plural:literal, $scope:ty) => {
        impl kube::Resource for $ty {
            type DynamicType = ();
            type Scope = $scope;

            fn kind(_: &()) -> std::borrow::Cow<'_, str> {
                $kind.into()
            }
            fn group(_: &()) -> std::borrow::Cow<'_, str> {
                $group.into()
            }
            fn version(_: &()) -> std::borrow::Cow<'_, str> {
                $version.into()
            }
            fn plural(_: &()) -> std::borrow::Cow<'_, str> {
                $plural.into()
            }
            fn meta(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &mut self.metadata
            }
        }
    };
}
pub(crate) use projection;

/// Renders objects of kind `K` with the families that survived the filters.
pub struct Renderer<K> {
    families: Vec<FamilyGen<K>>,
    trailing: Box<[u8]>,
}

impl<K: Kind> Renderer<K> {
    /// A renderer over `families` (already filtered), appending `trailing` (e.g. `,cluster="x"`)
    /// to every sample.
    pub fn new(families: Vec<FamilyGen<K>>, trailing: Vec<u8>) -> Self {
        Self { families, trailing: trailing.into_boxed_slice() }
    }

    /// Each family's name and `# HELP`/`# TYPE` block, in order.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        self.families.iter().map(|f| (f.name, f.header())).collect()
    }

    /// The families rendered for one object, compact (see [`Sink`]).
    pub fn render(&self, obj: &K) -> Rendered {
        // Rendering goes through per-thread scratch buffers that keep their capacity, and the
        // result is copied out once at its exact size: no per-object growth or shrink.
        SCRATCH.with_borrow_mut(|(leading, buf, ends)| {
            leading.clear();
            buf.clear();
            ends.clear();
            for (i, (key, value)) in obj.default_labels().into_iter().enumerate() {
                if i > 0 {
                    leading.push(b',');
                }
                crate::metric::write_label(leading, key, value);
            }
            for family in &self.families {
                family.generate(obj, &mut Sink::compact(buf, &self.trailing));
                ends.push(buf.len() as u32);
            }
            Rendered::new(leading, buf, ends)
        })
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<(Vec<u8>, Vec<u8>, Vec<u32>)> = const {
        std::cell::RefCell::new((Vec::new(), Vec::new(), Vec::new()))
    };
}

/// Static description of a family, for `statefleet-exporter families` and filters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyInfo {
    /// Metric name.
    pub name: &'static str,
    /// `gauge` or `counter`.
    pub metric_type: &'static str,
    /// `STABLE` or `ALPHA`.
    pub stability: &'static str,
    /// Resource name.
    pub resource: &'static str,
    /// Off unless opted in.
    pub opt_in: bool,
    /// Upstream deprecation version.
    pub deprecated_since: Option<&'static str>,
}

/// A resource the registry knows, with its kind-independent entry points.
pub struct Registered {
    /// Resource name, e.g. `pods`.
    pub name: &'static str,
    /// Kind, e.g. `Pod`.
    pub kind: &'static str,
    /// Upstream's telemetry type name, e.g. `*v1.Pod`.
    pub go_type: &'static str,
    /// API group (empty for the core group) and version, e.g. `("apps", "v1")`, for RBAC rules.
    pub group_version: fn() -> (String, String),
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Whether it is on without `--resources`.
    pub default_enabled: bool,
    /// Lists the families.
    pub families: fn() -> Vec<FamilyInfo>,
    /// Starts the watchers of this resource (`runtime::start_resource::<K>`).
    pub start: crate::runtime::StartFn,
    /// Renders a dump of objects of this kind (`render::render_kind::<K>`).
    pub render: crate::render::RenderFn,
}

fn infos<K: Kind>() -> Vec<FamilyInfo> {
    K::families(&FamilyOptions::default())
        .iter()
        .map(|f| FamilyInfo {
            name: f.name,
            metric_type: f.metric_type.as_str(),
            stability: f.stability.as_str(),
            resource: K::RESOURCE,
            opt_in: f.opt_in,
            deprecated_since: f.deprecated_since,
        })
        .collect()
}

fn group_version<K: Kind>() -> (String, String) {
    (K::group(&()).into_owned(), K::version(&()).into_owned())
}

const fn entry<K: Kind>(default_enabled: bool) -> Registered {
    Registered {
        name: K::RESOURCE,
        kind: K::KIND,
        go_type: K::GO_TYPE,
        group_version: group_version::<K>,
        namespaced: K::NAMESPACED,
        default_enabled,
        families: infos::<K>,
        start: crate::runtime::start_resource::<K>,
        render: crate::render::render_kind::<K>,
    }
}

/// Every resource this build implements, in name order.
pub const REGISTRY: &[Registered] = &[
    entry::<certificatesigningrequest::CertificateSigningRequest>(true),
    entry::<clusterrolebinding::ClusterRoleBinding>(false),
    entry::<clusterrole::ClusterRole>(false),
    entry::<configmap::ConfigMap>(true),
    entry::<cronjob::CronJob>(true),
    entry::<daemonset::DaemonSet>(true),
    entry::<deployment::Deployment>(true),
    entry::<endpoint::Endpoints>(false),
    entry::<endpointslice::EndpointSlice>(true),
    entry::<horizontalpodautoscaler::HorizontalPodAutoscaler>(true),
    entry::<ingressclass::IngressClass>(false),
    entry::<ingress::Ingress>(true),
    entry::<job::Job>(true),
    entry::<lease::Lease>(true),
    entry::<limitrange::LimitRange>(true),
    entry::<mutatingadmissionpolicy::MutatingAdmissionPolicy>(true),
    entry::<mutatingadmissionpolicybinding::MutatingAdmissionPolicyBinding>(true),
    entry::<mutatingwebhookconfiguration::MutatingWebhookConfiguration>(true),
    entry::<namespace::Namespace>(true),
    entry::<networkpolicy::NetworkPolicy>(true),
    entry::<node::Node>(true),
    entry::<persistentvolumeclaim::PersistentVolumeClaim>(true),
    entry::<persistentvolume::PersistentVolume>(true),
    entry::<poddisruptionbudget::PodDisruptionBudget>(true),
    entry::<pod::Pod>(true),
    entry::<replicaset::ReplicaSet>(true),
    entry::<replicationcontroller::ReplicationController>(true),
    entry::<resourcequota::ResourceQuota>(true),
    entry::<rolebinding::RoleBinding>(false),
    entry::<role::Role>(false),
    entry::<secret::Secret>(true),
    entry::<serviceaccount::ServiceAccount>(false),
    entry::<service::Service>(true),
    entry::<statefulset::StatefulSet>(true),
    entry::<storageclass::StorageClass>(true),
    entry::<validatingadmissionpolicy::ValidatingAdmissionPolicy>(true),
    entry::<validatingadmissionpolicybinding::ValidatingAdmissionPolicyBinding>(true),
    entry::<validatingwebhookconfiguration::ValidatingWebhookConfiguration>(true),
    entry::<volumeattachment::VolumeAttachment>(true),
];

/// Looks a resource up by its `--resources` name.
pub fn find(name: &str) -> Option<&'static Registered> {
    REGISTRY.iter().find(|r| r.name == name)
}

/// Upstream's default resource set, for resources this build implements.
pub fn default_resources() -> Vec<&'static str> {
    REGISTRY.iter().filter(|r| r.default_enabled).map(|r| r.name).collect()
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for the per-kind tests: render a YAML fixture to exposition text.
    use super::*;

    /// Renders `yaml` as a `K` with every family and the given options, headers included.
    pub fn render_yaml<K: Kind>(yaml: &str, options: &FamilyOptions) -> String {
        let obj: K = serde_norway::from_str(yaml).expect("fixture parses");
        let renderer = Renderer::new(K::families(options), Vec::new());
        let rendered = renderer.render(&obj);
        let mut out = String::new();
        for (i, (name, header)) in renderer.headers().iter().enumerate() {
            out.push_str(header);
            let mut lines = Vec::new();
            rendered.expand_family(i, name, &mut lines);
            out.push_str(std::str::from_utf8(&lines).expect("utf8"));
        }
        out
    }

    /// Only the sample lines of the named families, for focused assertions.
    pub fn samples_of(exposition: &str, family: &str) -> Vec<String> {
        exposition
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.split(['{', ' ']).next() == Some(family))
            .map(str::to_string)
            .collect()
    }
}
