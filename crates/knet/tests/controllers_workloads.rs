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

/// Names of the objects of a kind (`kubectl get KIND`) with the label.
fn names(c: &Cluster, kind: &str, label: &str) -> anyhow::Result<Vec<String>> {
    let out = c.kubectl(&[
        "get",
        kind,
        "-l",
        label,
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ])?;
    Ok(out.split_whitespace().map(str::to_string).collect())
}

/// Pods, ReplicaSets and Deployments still being deleted (with what holds them).
fn stuck(c: &Cluster) -> anyhow::Result<String> {
    let out = c.kubectl(&[
        "get",
        "deploy,rs,pods",
        "-o",
        r#"jsonpath={range .items[?(@.metadata.deletionTimestamp)]}{.kind}/{.metadata.name} {.metadata.finalizers}{"\n"}{end}"#,
    ])?;
    Ok(out.trim().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_cascade_orphan_foreground_and_background() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    let rs: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    for name in ["keep", "fg", "bg"] {
        c.kubectl(&[
            "create",
            "deploy",
            name,
            "--image=nginx:1.19",
            "--replicas=2",
        ])?;
    }
    for name in ["keep", "fg", "bg"] {
        c.kubectl(&[
            "rollout",
            "status",
            &format!("deploy/{name}"),
            "--timeout=30s",
        ])?;
    }
    // Orphan: the ReplicaSet and pods outlive the Deployment, the
    // ReplicaSet without its owner reference.
    c.kubectl(&["delete", "deploy", "keep", "--cascade=orphan"])?;
    eventually("deployment gone, ReplicaSet orphaned", 30, || async {
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
        Ok((names(&c, "deploy", "app=keep")?.is_empty() && orphaned).then_some(()))
    })
    .await?;
    let kept = pods
        .list(&ListParams::default().labels("app=keep"))
        .await?
        .items;
    assert_eq!(kept.len(), 2, "orphaned pods stay");
    assert!(
        kept.iter().all(|p| p
            .metadata
            .owner_references
            .as_ref()
            .is_some_and(|o| o.len() == 1)),
        "pods keep their ReplicaSet owner"
    );
    // Foreground: a pod held by a finalizer of ours keeps the ReplicaSet and
    // the Deployment (deletionTimestamp + foregroundDeletion) until it goes.
    let held = names(&c, "pods", "app=fg")?.remove(0);
    c.kubectl(&[
        "patch",
        "pod",
        &held,
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
    ])?;
    c.kubectl(&[
        "delete",
        "deploy",
        "fg",
        "--cascade=foreground",
        "--wait=false",
    ])?;
    let fin = c.kubectl(&[
        "get",
        "deploy",
        "fg",
        "-o",
        "jsonpath={.metadata.deletionTimestamp} {.metadata.finalizers}",
    ])?;
    assert!(
        fin.contains("foregroundDeletion") && !fin.starts_with(' '),
        "deployment marked for foreground deletion: {fin}"
    );
    eventually("only the held pod is left", 30, || async {
        Ok((names(&c, "pods", "app=fg")? == [held.clone()]).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(names(&c, "deploy", "app=fg")?, ["fg"], "waits for its pods");
    assert_eq!(names(&c, "rs", "app=fg")?.len(), 1, "waits for its pods");
    c.kubectl(&[
        "patch",
        "pod",
        &held,
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ])?;
    eventually("foreground deletion completes", 30, || async {
        Ok((names(&c, "deploy", "app=fg")?.is_empty()
            && names(&c, "rs", "app=fg")?.is_empty()
            && names(&c, "pods", "app=fg")?.is_empty())
        .then_some(()))
    })
    .await?;
    // A leaf deleted in the foreground has nothing to wait for.
    let leaf = names(&c, "pods", "app=keep")?.remove(0);
    c.kubectl(&["delete", "pod", &leaf, "--cascade=foreground"])?;
    // Background (kubectl's default) still collects everything.
    c.kubectl(&["delete", "deploy", "bg"])?;
    eventually("background deletion completes", 30, || async {
        Ok(
            (names(&c, "rs", "app=bg")?.is_empty() && names(&c, "pods", "app=bg")?.is_empty())
                .then_some(()),
        )
    })
    .await?;
    eventually("nothing left with a finalizer pending", 30, || async {
        let s = stuck(&c)?;
        Ok(s.is_empty().then_some(()))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}: {}", stuck(&c).unwrap_or_default()))?;
    Ok(())
}
