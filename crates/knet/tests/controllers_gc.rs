//! End-to-end: the garbage collector follows `ownerReferences` on every kind
//! the API serves (ConfigMaps, Secrets, ServiceAccounts owned by
//! Deployments, Namespaces, each other), driven by `kubectl delete
//! --cascade=…` against the real `knet api` binary.

#[path = "controllers_support/cluster.rs"]
mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Cluster, eventually};

/// Creates an object from JSON with `kubectl create -f`.
fn create(c: &Cluster, obj: &Value) -> anyhow::Result<()> {
    let file = tempfile::Builder::new().suffix(".json").tempfile()?;
    std::fs::write(file.path(), serde_json::to_vec(obj)?)?;
    let path = file.path().to_str().unwrap_or_default().to_string();
    c.kubectl(&["create", "-f", &path])?;
    Ok(())
}

/// `kubectl get` with a jsonpath, in a namespace; `None` when not found.
fn get(c: &Cluster, ns: &str, what: &str, path: &str) -> anyhow::Result<Option<String>> {
    let out = c.kubectl(&[
        "-n",
        ns,
        "get",
        what,
        "--ignore-not-found",
        "-o",
        &format!("jsonpath={{.metadata.uid}}|{path}"),
    ])?;
    Ok((!out.is_empty()).then(|| {
        out.split_once('|')
            .map_or(String::new(), |(_, v)| v.to_string())
    }))
}

fn exists(c: &Cluster, ns: &str, what: &str) -> anyhow::Result<bool> {
    Ok(get(c, ns, what, "")?.is_some())
}

fn uid(c: &Cluster, ns: &str, what: &str) -> anyhow::Result<String> {
    let out = c.kubectl(&["-n", ns, "get", what, "-o", "jsonpath={.metadata.uid}"])?;
    anyhow::ensure!(!out.is_empty(), "{what} has no uid");
    Ok(out)
}

fn owner(api_version: &str, kind: &str, name: &str, uid: &str, block: bool) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "name": name, "uid": uid,
           "blockOwnerDeletion": block})
}

fn deploy_owner(c: &Cluster, name: &str) -> anyhow::Result<Value> {
    let u = uid(c, "default", &format!("deploy/{name}"))?;
    Ok(owner("apps/v1", "Deployment", name, &u, true))
}

fn config_map(ns: &str, name: &str, owners: Vec<Value>, finalizers: &[&str]) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": ns, "ownerReferences": owners,
                        "finalizers": finalizers},
           "data": {"k": "v"}})
}

async fn gone(c: &Cluster, ns: &str, what: &str) -> anyhow::Result<()> {
    eventually(&format!("{ns}/{what} garbage collected"), 30, || async {
        Ok((!exists(c, ns, what)?).then_some(()))
    })
    .await
}

fn release(c: &Cluster, what: &str) -> anyhow::Result<()> {
    c.kubectl(&[
        "patch",
        what,
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ])?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmaps_follow_their_deployment_on_every_cascade() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    for name in ["bg", "keep", "fg"] {
        c.kubectl(&["create", "deploy", name, "--image=nginx:1.19"])?;
    }

    // Background: Deployment → ConfigMap → Secret all go.
    create(
        &c,
        &config_map("default", "bg-config", vec![deploy_owner(&c, "bg")?], &[]),
    )?;
    let cm_uid = uid(&c, "default", "cm/bg-config")?;
    create(
        &c,
        &json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "bg-secret", "namespace": "default",
                             "ownerReferences": [owner("v1", "ConfigMap", "bg-config", &cm_uid, false)]},
                "stringData": {"k": "v"}}),
    )?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(exists(&c, "default", "cm/bg-config")?, "owner alive: kept");
    c.kubectl(&["delete", "deploy", "bg", "--cascade=background"])?;
    gone(&c, "default", "cm/bg-config").await?;
    gone(&c, "default", "secret/bg-secret").await?;

    // Orphan: the ConfigMap stays, without owner references.
    create(
        &c,
        &config_map(
            "default",
            "keep-config",
            vec![deploy_owner(&c, "keep")?],
            &[],
        ),
    )?;
    c.kubectl(&["delete", "deploy", "keep", "--cascade=orphan"])?;
    eventually("deployment gone, ConfigMap orphaned", 30, || async {
        let refs = get(
            &c,
            "default",
            "cm/keep-config",
            "{.metadata.ownerReferences}",
        )?;
        Ok((!exists(&c, "default", "deploy/keep")? && refs.as_deref() == Some("")).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(exists(&c, "default", "cm/keep-config")?, "orphan stays");

    // Foreground: a blocking ConfigMap held by a finalizer of its own holds
    // the Deployment; a non-blocking one does not.
    let fg = deploy_owner(&c, "fg")?;
    create(
        &c,
        &config_map(
            "default",
            "fg-config",
            vec![fg.clone()],
            &["example.com/hold"],
        ),
    )?;
    let mut loose = fg;
    loose["blockOwnerDeletion"] = json!(false);
    create(
        &c,
        &config_map("default", "fg-loose", vec![loose], &["example.com/hold"]),
    )?;
    c.kubectl(&[
        "delete",
        "deploy",
        "fg",
        "--cascade=foreground",
        "--wait=false",
    ])?;
    eventually("dependents of every kind deleted", 30, || async {
        let cm = |n: &str| get(&c, "default", n, "{.metadata.deletionTimestamp}");
        let terminating = |v: Option<String>| v.is_some_and(|t| !t.is_empty());
        let rs = c.kubectl(&["get", "rs", "-l", "app=fg", "-o", "name"])?;
        Ok(
            (terminating(cm("cm/fg-config")?) && terminating(cm("cm/fg-loose")?) && rs.is_empty())
                .then_some(()),
        )
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held = get(&c, "default", "deploy/fg", "{.metadata.finalizers}")?;
    assert!(
        held.as_deref()
            .is_some_and(|f| f.contains("foregroundDeletion")),
        "the blocking ConfigMap holds the Deployment: {held:?}"
    );
    release(&c, "cm/fg-config")?;
    gone(&c, "default", "cm/fg-config").await?;
    gone(&c, "default", "deploy/fg").await?;
    assert!(
        exists(&c, "default", "cm/fg-loose")?,
        "a non-blocking dependent did not hold the owner (it waits on its own finalizer)"
    );
    release(&c, "cm/fg-loose")?;
    gone(&c, "default", "cm/fg-loose").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_are_matched_by_uid_and_namespace_and_shared() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    for name in ["a", "web", "re"] {
        c.kubectl(&["create", "deploy", name, "--image=nginx:1.19"])?;
    }
    c.kubectl(&["create", "serviceaccount", "b"])?;
    c.kubectl(&["create", "namespace", "gc-other"])?;
    c.kubectl(&["create", "namespace", "gc-owner"])?;
    let web = deploy_owner(&c, "web")?;
    let sa_uid = uid(&c, "default", "sa/b")?;
    let ns_uid = uid(&c, "default", "namespace/gc-owner")?;

    // Two owners of different kinds: the first going only drops its reference.
    create(
        &c,
        &config_map(
            "default",
            "shared",
            vec![
                deploy_owner(&c, "a")?,
                owner("v1", "ServiceAccount", "b", &sa_uid, false),
            ],
            &[],
        ),
    )?;
    // A live owner with the right UID: kept throughout.
    create(&c, &config_map("default", "solid", vec![web.clone()], &[]))?;
    // Same name, another UID: not owned by the live "web".
    let mut stale = web.clone();
    stale["uid"] = json!("00000000-0000-4000-8000-000000000000");
    create(&c, &config_map("default", "stale", vec![stale], &[]))?;
    // The right UID, but the owner is in another namespace.
    create(&c, &config_map("gc-other", "elsewhere", vec![web], &[]))?;
    // A cluster-scoped owner.
    create(
        &c,
        &config_map(
            "default",
            "by-namespace",
            vec![owner("v1", "Namespace", "gc-owner", &ns_uid, false)],
            &[],
        ),
    )?;
    // Owned by a Deployment that is then recreated under the same name.
    create(
        &c,
        &config_map("default", "re-config", vec![deploy_owner(&c, "re")?], &[]),
    )?;
    let old_re = uid(&c, "default", "deploy/re")?;

    gone(&c, "default", "cm/stale").await?;
    gone(&c, "gc-other", "cm/elsewhere").await?;

    c.kubectl(&["delete", "deploy", "a"])?;
    eventually("shared ConfigMap loses only the dead owner", 30, || async {
        let refs = get(
            &c,
            "default",
            "cm/shared",
            "{.metadata.ownerReferences[*].uid}",
        )?;
        Ok((refs.as_deref() == Some(sa_uid.as_str())).then_some(()))
    })
    .await?;
    c.kubectl(&["delete", "deploy", "re", "--wait=false"])?;
    c.kubectl(&["create", "deploy", "re", "--image=nginx:1.19"])
        .or_else(|_| {
            std::thread::sleep(Duration::from_secs(1));
            c.kubectl(&["create", "deploy", "re", "--image=nginx:1.19"])
        })?;
    gone(&c, "default", "cm/re-config").await?;
    assert_ne!(uid(&c, "default", "deploy/re")?, old_re, "recreated");

    c.kubectl(&["delete", "namespace", "gc-owner"])?;
    gone(&c, "default", "cm/by-namespace").await?;
    c.kubectl(&["delete", "serviceaccount", "b"])?;
    gone(&c, "default", "cm/shared").await?;

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        exists(&c, "default", "cm/solid")?,
        "a dependent of a live owner is never collected"
    );
    assert!(exists(&c, "default", "deploy/re")?, "the new owner stays");
    Ok(())
}
