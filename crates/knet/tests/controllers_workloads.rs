//! End-to-end: rolling updates, DaemonSets and leader election against the
//! real `knet api` binary, with the kubelet double.

#[path = "controllers_support/cluster.rs"]
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, ReplicaSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use support::{ApiServer, Cluster, eventually, spawn_controllers};

fn images(pods: &[Pod]) -> BTreeSet<String> {
    pods.iter()
        .filter_map(|p| p.spec.as_ref()?.containers.first()?.image.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_replaces_pods_and_keeps_history() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    c.kubectl(&[
        "create",
        "deploy",
        "web",
        "--image=nginx:1.19",
        "--replicas=3",
    ])?;
    c.kubectl(&["rollout", "status", "deploy/web", "--timeout=30s"])?;
    c.kubectl(&["set", "image", "deploy/web", "nginx=nginx:1.20"])?;
    c.kubectl(&["rollout", "status", "deploy/web", "--timeout=60s"])?;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let done = eventually("only new pods left", 30, || async {
        let ps = pods
            .list(&ListParams::default().labels("app=web"))
            .await?
            .items;
        let live: Vec<Pod> = ps
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        Ok(
            (live.len() == 3 && images(&live) == BTreeSet::from(["nginx:1.20".to_string()]))
                .then_some(live),
        )
    })
    .await?;
    let rs: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    let sets = rs
        .list(&ListParams::default().labels("app=web"))
        .await?
        .items;
    assert_eq!(sets.len(), 2, "old ReplicaSet kept as history");
    let revision = |r: &ReplicaSet| {
        r.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"].clone()
    };
    let (new, old): (Vec<&ReplicaSet>, Vec<&ReplicaSet>) =
        sets.iter().partition(|r| revision(r) == "2");
    assert_eq!((new.len(), old.len()), (1, 1));
    assert_eq!(old[0].spec.as_ref().unwrap().replicas, Some(0));
    let hash = new[0].metadata.labels.as_ref().unwrap()["pod-template-hash"].clone();
    assert!(
        done.iter()
            .all(|p| p.metadata.labels.as_ref().unwrap()["pod-template-hash"] == hash)
    );
    let history = c.kubectl(&["rollout", "history", "deploy/web"])?;
    assert!(history.contains('1') && history.contains('2'), "{history}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_runs_one_pod_per_schedulable_node() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    let ds = |name: &str, tolerate: bool| -> anyhow::Result<DaemonSet> {
        let mut spec = json!({"containers": [{"name": "agent", "image": "agent:1"}]});
        if tolerate {
            spec["tolerations"] = json!([{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]);
        }
        Ok(serde_json::from_value(
            json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": "kube-system"},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}),
        )?)
    };
    let api: Api<DaemonSet> = Api::namespaced(c.client.clone(), "kube-system");
    api.create(&PostParams::default(), &ds("workers-only", false)?)
        .await?;
    api.create(&PostParams::default(), &ds("everywhere", true)?)
        .await?;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "kube-system");
    let nodes_of = |app: &'static str| {
        let pods = pods.clone();
        async move {
            let ps = pods
                .list(&ListParams::default().labels(&format!("app={app}")))
                .await?
                .items;
            let nodes: Vec<String> = ps
                .iter()
                .filter_map(|p| p.spec.as_ref()?.node_name.clone())
                .collect();
            anyhow::Ok((ps.len(), nodes.into_iter().collect::<BTreeSet<String>>()))
        }
    };
    eventually("daemon pods bound", 30, || async {
        let (n1, a) = nodes_of("workers-only").await?;
        let (n2, b) = nodes_of("everywhere").await?;
        let want_a: BTreeSet<String> = ["node-2", "node-3"].map(String::from).into();
        let want_b: BTreeSet<String> = ["node-1", "node-2", "node-3"].map(String::from).into();
        Ok((n1 == 2 && a == want_a && n2 == 3 && b == want_b).then_some(()))
    })
    .await?;
    eventually("daemonset status", 30, || async {
        let st = api.get("everywhere").await?.status.unwrap_or_default();
        Ok((st.desired_number_scheduled == 3 && st.number_ready == 3).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lease_holder_acts_and_a_standby_takes_over() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let client = api.client().await?;
    let first = spawn_controllers(client.clone(), "first")?;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let holder = |l: Lease| l.spec.and_then(|s| s.holder_identity);
    eventually("first holds the lease", 20, || async {
        Ok(leases
            .get_opt("knet-controllers")
            .await?
            .and_then(holder)
            .filter(|h| h == "first"))
    })
    .await?;
    let second = spawn_controllers(client.clone(), "second")?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        leases.get("knet-controllers").await.map(holder)?,
        Some("first".into())
    );
    assert!(!second.is_finished());
    first.abort();
    eventually("second takes over after the lease expires", 40, || async {
        Ok(leases
            .get_opt("knet-controllers")
            .await?
            .and_then(holder)
            .filter(|h| h == "second"))
    })
    .await?;
    // The standby now acts: a ReplicaSet gets its pods.
    api.kubectl(&["create", "deploy", "after", "--image=nginx", "--replicas=2"])?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    eventually("pods created by the new leader", 20, || async {
        Ok((pods
            .list(&ListParams::default().labels("app=after"))
            .await?
            .items
            .len()
            == 2)
            .then_some(()))
    })
    .await?;
    second.abort();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_and_foreground_finalizers_are_honoured() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    let rs: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    for name in ["keep", "fg"] {
        c.kubectl(&[
            "create",
            "deploy",
            name,
            "--image=nginx:1.19",
            "--replicas=1",
        ])?;
    }
    c.kubectl(&["rollout", "status", "deploy/keep", "--timeout=30s"])?;
    c.kubectl(&["rollout", "status", "deploy/fg", "--timeout=30s"])?;
    // Orphan: the ReplicaSet outlives its Deployment, without the owner reference.
    c.kubectl(&[
        "patch",
        "deploy",
        "keep",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["orphan"]}}"#,
    ])?;
    c.kubectl(&["delete", "deploy", "keep", "--wait=false"])?;
    eventually("deployment gone, ReplicaSet orphaned", 30, || async {
        let gone = c.kubectl(&["get", "deploy", "-o", "jsonpath={.items[*].metadata.name}"])?;
        let sets = rs
            .list(&ListParams::default().labels("app=keep"))
            .await?
            .items;
        let orphaned = sets.len() == 1
            && sets[0]
                .metadata
                .owner_references
                .as_ref()
                .is_none_or(|o| o.is_empty());
        Ok((!gone.split_whitespace().any(|n| n == "keep") && orphaned).then_some(()))
    })
    .await?;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    assert_eq!(
        pods.list(&ListParams::default().labels("app=keep"))
            .await?
            .items
            .len(),
        1,
        "orphaned pods stay"
    );
    // Foreground: dependents go first, then the Deployment.
    c.kubectl(&[
        "patch",
        "deploy",
        "fg",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["foregroundDeletion"]}}"#,
    ])?;
    c.kubectl(&["delete", "deploy", "fg", "--wait=false"])?;
    eventually("foreground deletion completes", 30, || async {
        let names = c.kubectl(&["get", "deploy", "-o", "jsonpath={.items[*].metadata.name}"])?;
        let sets = rs
            .list(&ListParams::default().labels("app=fg"))
            .await?
            .items;
        let ps = pods
            .list(&ListParams::default().labels("app=fg"))
            .await?
            .items;
        Ok(
            (!names.split_whitespace().any(|n| n == "fg") && sets.is_empty() && ps.is_empty())
                .then_some(()),
        )
    })
    .await?;
    Ok(())
}
