//! The control plane itself: version, nodes, controllers, scheduler, RBAC.

use k8s_openapi::api::{
    apps::v1::{Deployment, ReplicaSet},
    core::v1::{Node, Pod},
};
use kube::{Api, ResourceExt, api::ListParams};
use statefleet_e2e::{
    ControlPlane, KubeContext, Poll,
    control_plane::{E2E_LABEL, KUBERNETES_VERSION, client_from_kubeconfig},
    fixtures::make_deployment,
    wait_for, with_temp_ns,
};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_runs_the_pinned_version_with_ready_nodes() {
    let cp = ControlPlane::shared().await.expect("control plane starts");
    let client = cp.client().await.expect("admin client");
    let version = client.apiserver_version().await.expect("server version");
    assert_eq!(version.git_version, KUBERNETES_VERSION);

    let nodes: Api<Node> = Api::all(client);
    let list =
        nodes.list(&ListParams::default().labels(&format!("{E2E_LABEL}=true"))).await.expect("list nodes");
    let names: Vec<String> = list.items.iter().map(|n| n.name_any()).collect();
    assert_eq!(names, cp.nodes(), "registered nodes");
    assert!(!names.is_empty());
    for node in &list.items {
        let status = node.status.as_ref().expect("node status");
        let ready =
            status.conditions.iter().flatten().find(|c| c.type_ == "Ready").map(|c| c.status.as_str());
        assert_eq!(ready, Some("True"), "node {} Ready", node.name_any());
        let pods = status.allocatable.as_ref().and_then(|a| a.get("pods")).map(|q| q.0.as_str());
        assert_eq!(pods, Some("110"), "node {} allocatable pods", node.name_any());
        let taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
        assert!(taints.is_empty(), "node {} taints: {taints:?}", node.name_any());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_gets_its_replicaset_and_scheduled_pods() {
    with_temp_ns("smoke", |ns| async move {
        let d: Deployment = make_deployment("web", 2).typed();
        let d = ns.create(&d).await.expect("create deployment");
        let uid = d.uid().expect("created deployment has a uid");

        let rs_api: Api<ReplicaSet> = ns.api();
        let rs = wait_for(
            "the controller manager to create the deployment's ReplicaSet",
            Duration::from_secs(30),
            Duration::from_millis(100),
            || async {
                let list = rs_api.list(&ListParams::default()).await.kube(|| "list replicasets".into())?;
                let owned: Vec<ReplicaSet> = list
                    .items
                    .into_iter()
                    .filter(|rs| {
                        rs.owner_references().iter().any(|o| o.uid == uid && o.controller == Some(true))
                    })
                    .collect();
                Ok(match owned.len() {
                    1 => Poll::Ready(owned.into_iter().next().expect("one element")),
                    n => Poll::Pending(format!("{n} owned ReplicaSets")),
                })
            },
        )
        .await
        .expect("ReplicaSet appears");
        assert_eq!(rs.spec.replicas, Some(2));

        let pods: Api<Pod> = ns.api();
        let nodes = ns.control_plane().nodes().to_vec();
        wait_for(
            "the scheduler to bind both pods to registered nodes",
            Duration::from_secs(30),
            Duration::from_millis(100),
            || async {
                let list =
                    pods.list(&ListParams::default().labels("app=web")).await.kube(|| "list pods".into())?;
                let bound: Vec<String> = list
                    .items
                    .iter()
                    .filter_map(|p| p.spec.as_ref()?.node_name.clone())
                    .filter(|n| nodes.contains(n))
                    .collect();
                Ok(if bound.len() == 2 {
                    Poll::Ready(())
                } else {
                    Poll::Pending(format!("{} pods, bound to {bound:?}", list.items.len()))
                })
            },
        )
        .await
        .expect("pods scheduled");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_forbids_unbound_users_and_service_accounts() {
    with_temp_ns("rbac", |ns| async move {
        let cp = ns.control_plane();
        let user = client_from_kubeconfig(&cp.restricted_user_kubeconfig().expect("user kubeconfig"))
            .await
            .expect("restricted client");
        let sa_kubeconfig = cp
            .service_account_kubeconfig(ns.name(), "reader", ns.dir())
            .await
            .expect("serviceaccount kubeconfig");
        let sa = client_from_kubeconfig(&sa_kubeconfig).await.expect("serviceaccount client");
        for (who, client) in [("restricted user", user), ("serviceaccount", sa)] {
            let pods: Api<Pod> = Api::namespaced(client.clone(), ns.name());
            match pods.list(&ListParams::default()).await {
                Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{who}: {status:?}"),
                other => panic!("{who}: expected 403 Forbidden, got {other:?}"),
            }
            // Authenticated (not 401): discovery of the version is open to everyone.
            client.apiserver_version().await.unwrap_or_else(|e| panic!("{who}: version: {e}"));
        }
    })
    .await;
}
