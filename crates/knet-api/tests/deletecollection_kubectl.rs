//! Deleting many objects with a selector, through real kubectl: DELETE on the
//! collection URL (`kubectl delete --raw`) and kubectl's own `delete -l`
//! (one DELETE per object). Each selected object is deleted as a single
//! DELETE would delete it: finalizer holders and bound pods are marked with a
//! deletionTimestamp instead of disappearing, dry runs change nothing, others
//! go; non-matching objects stay; a watch sees exactly one event per change.

mod support;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const NS: &str = "dc";

/// Runs kubectl (off the async runtime) against `kubeconfig`; exit code,
/// stdout, stderr.
async fn kubectl(kubeconfig: &Path, cwd: &Path, args: &[&str]) -> (i32, String, String) {
    support::kubectl(kubeconfig, &cwd.join("kcache"), cwd, args).await
}

/// The pods of the test: `n` named `{prefix}-NNN` labelled `batch={label}`;
/// with `special`, every tenth holds a finalizer and every tenth (offset 1)
/// is bound to a node.
fn pods(prefix: &str, label: &str, n: usize, special: bool) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut p = serde_json::json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("{prefix}-{i:03}"), "labels": {"batch": label}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            });
            if special && i % 10 == 0 {
                p["metadata"]["finalizers"] = serde_json::json!(["example.com/hold"]);
            }
            if special && i % 10 == 1 {
                p["spec"]["nodeName"] = serde_json::json!("n1");
            }
            p
        })
        .collect()
}

fn names(pods: &[Pod]) -> Vec<String> {
    pods.iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletecollection_with_a_selector_deletes_each_match_as_a_single_delete_would() {
    let (dir, server, client) = support::start().await;
    let kc: PathBuf = server.kubeconfig_path().to_path_buf();
    let cwd = dir.path();
    let run = |args: Vec<&'static str>| {
        let kc = kc.clone();
        async move {
            let (code, out, err) = kubectl(&kc, cwd, &args).await;
            assert_eq!(code, 0, "kubectl {args:?}: {err}");
            out
        }
    };
    run(vec!["create", "namespace", NS]).await;
    let mut items = pods("del", "del", 200, true);
    items.extend(pods("keep", "keep", 100, false));
    items.extend(pods("cli", "cli", 100, false));
    let docs: Vec<String> = items.iter().map(|p| format!("---\n{p}\n")).collect();
    std::fs::write(cwd.join("pods.yaml"), docs.concat()).expect("write");
    run(vec!["create", "-n", NS, "-f", "pods.yaml", "-o", "name"]).await;

    let api: Api<Pod> = Api::namespaced(client, NS);
    let before = api.list(&ListParams::default()).await.expect("list");
    assert_eq!(before.items.len(), 400);
    let from = before.metadata.resource_version.clone().expect("list rv");
    let selected = WatchParams::default().labels("batch=del");
    let mut stream = api.watch(&selected, &from).await.expect("watch").boxed();
    let watcher = tokio::spawn(async move {
        let mut seen: Vec<(String, String, u64)> = Vec::new();
        while seen.len() < 220 {
            let ev = stream
                .try_next()
                .await
                .expect("watch")
                .expect("stream open");
            let (kind, pod) = match ev {
                WatchEvent::Modified(p) => ("MODIFIED", p),
                WatchEvent::Deleted(p) => ("DELETED", p),
                other => panic!("unexpected event {other:?}"),
            };
            let rv = pod
                .metadata
                .resource_version
                .expect("rv")
                .parse()
                .expect("numeric rv");
            seen.push((kind.into(), pod.metadata.name.expect("name"), rv));
        }
        seen
    });

    // A dry run deletes nothing and still answers with the selection.
    let dry = run(vec![
        "delete",
        "--raw",
        "/api/v1/namespaces/dc/pods?labelSelector=batch%3Ddel&dryRun=All",
    ])
    .await;
    let dry: Value = serde_json::from_str(&dry).expect("json");
    assert_eq!(dry["items"].as_array().map(Vec::len), Some(200));
    assert_eq!(
        api.list(&ListParams::default())
            .await
            .expect("list")
            .items
            .len(),
        400
    );

    // The collection URL: kube-apiserver's answer is the list of the selected
    // objects (as they were listed).
    let out = run(vec![
        "delete",
        "--raw",
        "/api/v1/namespaces/dc/pods?labelSelector=batch%3Ddel",
    ])
    .await;
    let resp: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(resp["kind"], "PodList");
    assert_eq!(resp["apiVersion"], "v1");
    assert_eq!(resp["items"].as_array().map(Vec::len), Some(200));
    assert_eq!(resp["metadata"]["resourceVersion"], from.as_str());

    let left = api
        .list(&ListParams::default().labels("batch=del"))
        .await
        .expect("list");
    assert_eq!(left.items.len(), 40, "{:?}", names(&left.items));
    for p in &left.items {
        let m = &p.metadata;
        let name = m.name.as_deref().unwrap_or("");
        let i: usize = name["del-".len()..].parse().expect("index");
        assert!(m.deletion_timestamp.is_some(), "{name} is terminating");
        if i.is_multiple_of(10) {
            assert_eq!(
                m.finalizers.as_deref(),
                Some(&["example.com/hold".to_string()][..])
            );
            assert_eq!(m.deletion_grace_period_seconds, Some(0), "{name}");
        } else {
            assert_eq!(
                i % 10,
                1,
                "{name}: only finalizer holders and bound pods stay"
            );
            assert_eq!(m.deletion_grace_period_seconds, Some(30), "{name}");
        }
    }
    let kept = api
        .list(&ListParams::default().labels("batch in (keep,cli)"))
        .await
        .expect("list");
    assert_eq!(kept.items.len(), 200, "non-matching pods are untouched");
    assert!(
        kept.items
            .iter()
            .all(|p| p.metadata.deletion_timestamp.is_none())
    );

    // Options apply per object as for a single delete: grace 0 removes the
    // bound pods; finalizer holders keep waiting (no event for them).
    run(vec![
        "delete",
        "--raw",
        "/api/v1/namespaces/dc/pods?labelSelector=batch%3Ddel&gracePeriodSeconds=0",
    ])
    .await;
    let seen = tokio::time::timeout(Duration::from_secs(30), watcher)
        .await
        .expect("all events arrive")
        .expect("watcher");
    let rvs: Vec<u64> = seen.iter().map(|(_, _, rv)| *rv).collect();
    assert!(
        rvs.windows(2).all(|w| w[0] < w[1]),
        "own, increasing revisions"
    );
    let mut per_pod: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (kind, name, _) in &seen {
        per_pod.entry(name).or_default().push(kind);
    }
    assert_eq!(per_pod.len(), 200);
    for (name, kinds) in &per_pod {
        let i: usize = name["del-".len()..].parse().expect("index");
        let want: &[&str] = match i % 10 {
            0 => &["MODIFIED"],
            1 => &["MODIFIED", "DELETED"],
            _ => &["DELETED"],
        };
        assert_eq!(kinds, want, "{name}");
    }
    let left = api
        .list(&ListParams::default().labels("batch=del"))
        .await
        .expect("list");
    assert_eq!(left.items.len(), 20);

    // kubectl's own `delete -l` prints a line per pod.
    let out = run(vec![
        "delete",
        "pods",
        "-n",
        NS,
        "-l",
        "batch=cli",
        "--wait=false",
    ])
    .await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 100, "{out}");
    assert_eq!(lines[0], "pod \"cli-000\" deleted");
    let left = api.list(&ListParams::default()).await.expect("list");
    assert_eq!(
        left.items.len(),
        120,
        "the keepers and the finalizer holders"
    );
    server.stop().await;
}
