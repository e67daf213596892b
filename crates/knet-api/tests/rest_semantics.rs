//! REST semantics through kube-rs against the embedded server: finalizers,
//! status subresource separation, generation, deletecollection, field and
//! label selectors on lists and watches, and a lagging watcher's 410.

#![allow(clippy::result_large_err)] // store closures return a whole Status on error

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use knet_api::resources::lookup;
use knet_api::store::{Key, Mutation, Store, StoreConfig};
use knet_api::watch::{self, EventFilter, WatchSpec};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::{Value, json};
use std::time::Duration;

mod support;

use support::start as setup;

fn obj<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("object")
}

/// The resourceVersion of a fresh list of `api`.
async fn list_rv(api: &Api<ConfigMap>) -> String {
    api.list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv")
}

async fn next_event<S>(s: &mut S) -> WatchEvent<ConfigMap>
where
    S: futures::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin,
{
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), s.next())
            .await
            .expect("watch event in time")
            .expect("stream open")
            .expect("event");
        if !matches!(ev, WatchEvent::Bookmark(_)) {
            return ev;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalizers_hold_deletion_until_cleared() {
    let (_d, server, c) = setup().await;
    let api: Api<ConfigMap> = Api::namespaced(c, "default");
    let created = api
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})),
        )
        .await
        .expect("create");
    let rv = created.metadata.resource_version.clone().expect("rv");
    let mut w = std::pin::pin!(
        api.watch(&WatchParams::default(), &rv)
            .await
            .expect("watch")
    );
    api.delete("held", &DeleteParams::background())
        .await
        .expect("delete");
    let still = api.get("held").await.expect("still there");
    assert!(still.metadata.deletion_timestamp.is_some());
    match next_event(&mut w).await {
        WatchEvent::Modified(m) => assert!(m.metadata.deletion_timestamp.is_some()),
        other => panic!("expected MODIFIED, got {other:?}"),
    }
    let clear = json!({"metadata": {"finalizers": null}});
    api.patch("held", &PatchParams::default(), &Patch::Merge(&clear))
        .await
        .expect("clear finalizers");
    match next_event(&mut w).await {
        WatchEvent::Deleted(d) => assert_eq!(d.metadata.name.as_deref(), Some("held")),
        other => panic!("expected DELETED, got {other:?}"),
    }
    let gone = api.get("held").await.expect_err("gone");
    assert!(
        matches!(gone, kube::Error::Api(ref e) if e.code == 404),
        "{gone:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminating_pod_outlives_its_finalizers_until_its_grace_ends() {
    let (_d, server, c) = setup().await;
    let api: Api<Pod> = Api::namespaced(c, "default");
    api.create(
        &PostParams::default(),
        &obj(json!({
            "metadata": {"name": "p", "finalizers": ["example.com/hold"]},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]}
        })),
    )
    .await
    .expect("create a bound pod");
    api.delete("p", &DeleteParams::default())
        .await
        .expect("graceful delete");
    let marked = api.get("p").await.expect("terminating");
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(30));
    // The last finalizer goes (the garbage collector's part): the pod is
    // still in its grace period, so it stays, as with kube-apiserver.
    let clear = json!({"metadata": {"finalizers": null}});
    api.patch("p", &PatchParams::default(), &Patch::Merge(&clear))
        .await
        .expect("clear finalizers");
    let kept = api.get("p").await.expect("still terminating");
    assert!(kept.metadata.deletion_timestamp.is_some());
    // The kubelet's final delete (grace 0) removes it.
    api.delete(
        "p",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .expect("final delete");
    let gone = api.get("p").await.expect_err("gone");
    assert!(
        matches!(gone, kube::Error::Api(ref e) if e.code == 404),
        "{gone:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_written_only_through_its_subresource() {
    let (_d, server, c) = setup().await;
    let api: Api<Deployment> = Api::namespaced(c, "default");
    let d: Deployment = obj(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
    }));
    let created = api
        .create(&PostParams::default(), &d)
        .await
        .expect("create");
    assert_eq!(created.metadata.generation, Some(1));
    let status = json!({"status": {"replicas": 1, "readyReplicas": 1}});
    let after = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status");
    assert_eq!(
        after.status.as_ref().and_then(|s| s.ready_replicas),
        Some(1)
    );
    assert_eq!(
        after.metadata.generation,
        Some(1),
        "status writes keep generation"
    );
    // A main-resource write cannot change status, and bumps generation on spec change.
    let mut next = after.clone();
    next.spec.as_mut().expect("spec").replicas = Some(3);
    next.status.as_mut().expect("status").ready_replicas = Some(99);
    let replaced = api
        .replace("web", &PostParams::default(), &next)
        .await
        .expect("replace");
    assert_eq!(
        replaced.status.as_ref().and_then(|s| s.ready_replicas),
        Some(1)
    );
    assert_eq!(replaced.metadata.generation, Some(2));
    // The stale copy now conflicts.
    let stale = api
        .replace("web", &PostParams::default(), &next)
        .await
        .expect_err("stale");
    assert!(
        matches!(stale, kube::Error::Api(ref e) if e.code == 409 && e.reason == "Conflict"),
        "{stale:?}"
    );
    // Scale subresource.
    let scale = api.get_scale("web").await.expect("scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(3));
    let sp = json!({"spec": {"replicas": 5}});
    api.patch_scale("web", &PatchParams::default(), &Patch::Merge(&sp))
        .await
        .expect("patch scale");
    assert_eq!(
        api.get("web")
            .await
            .expect("get")
            .spec
            .and_then(|s| s.replicas),
        Some(5)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_on_lists_and_deletecollection() {
    let (_d, server, c) = setup().await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    for (name, node) in [("p1", "n1"), ("p2", "n2"), ("p3", "n1")] {
        let p: Pod = obj(json!({"metadata": {"name": name, "labels": {"node": node}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}}));
        pods.create(&PostParams::default(), &p)
            .await
            .expect("create pod");
    }
    let on_n1 = pods
        .list(&ListParams::default().fields("spec.nodeName=n1"))
        .await
        .expect("list");
    let names: Vec<_> = on_n1
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert_eq!(names, ["p1", "p3"]);
    let by_label = pods
        .list(&ListParams::default().labels("node in (n2),node!=n1"))
        .await
        .expect("list");
    assert_eq!(by_label.items.len(), 1);
    let bad = pods
        .list(&ListParams::default().fields("spec.bogus=1"))
        .await
        .expect_err("bad selector");
    assert!(
        matches!(bad, kube::Error::Api(ref e) if e.code == 400),
        "{bad:?}"
    );
    // Bound pods terminate gracefully until their kubelet removes them;
    // there is none here, so delete at once (`--grace-period=0 --force`).
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    pods.delete_collection(&now, &ListParams::default().labels("node=n1"))
        .await
        .expect("deletecollection");
    let left = pods.list(&ListParams::default()).await.expect("list");
    assert_eq!(
        left.items
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect::<Vec<_>>(),
        ["p2"]
    );
    let missing: Api<Pod> = Api::namespaced(c, "nowhere");
    let p: Pod = obj(
        json!({"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c", "image": "b"}]}}),
    );
    let e = missing
        .create(&PostParams::default(), &p)
        .await
        .expect_err("no namespace");
    assert!(
        matches!(e, kube::Error::Api(ref s) if s.code == 404 && s.message.contains("namespaces \"nowhere\" not found")),
        "{e:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_with_label_selector_sees_objects_enter_and_leave() {
    let (_d, server, c) = setup().await;
    let api: Api<ConfigMap> = Api::namespaced(c, "default");
    let rv = list_rv(&api).await;
    let mut w = std::pin::pin!(
        api.watch(&WatchParams::default().labels("app=x"), &rv)
            .await
            .expect("watch")
    );
    api.create(
        &PostParams::default(),
        &obj(json!({"metadata": {"name": "m", "labels": {"app": "y"}}})),
    )
    .await
    .expect("create");
    let label = |v: &str| json!({"metadata": {"labels": {"app": v}}});
    api.patch("m", &PatchParams::default(), &Patch::Merge(&label("x")))
        .await
        .expect("enter");
    assert!(matches!(next_event(&mut w).await, WatchEvent::Added(_)));
    api.patch("m", &PatchParams::default(), &Patch::Merge(&label("z")))
        .await
        .expect("leave");
    assert!(matches!(next_event(&mut w).await, WatchEvent::Deleted(_)));
    server.stop().await;
}

/// A filtered watch resumed from an older resourceVersion judges each change
/// against what matched at that version (kube-apiserver uses the event's
/// previous object): a matching object deleted, or relabelled away, before
/// the watch connected still reaches the client as DELETED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumed_filtered_watch_sees_changes_made_before_it_connected() {
    resumed_filtered_watch(false).await;
}

/// The same across a server restart: the history of changes is read back
/// from disk but the in-memory snapshot log starts empty, so what matched at
/// the old resourceVersion is rebuilt from the logged events instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumed_filtered_watch_across_a_restart() {
    resumed_filtered_watch(true).await;
}

async fn resumed_filtered_watch(restart: bool) {
    let (dir, mut server, c) = setup().await;
    let api: Api<ConfigMap> = Api::namespaced(c, "default");
    let label = |v: &str| json!({"metadata": {"labels": {"app": v}}});
    for name in ["gone", "moved", "kept"] {
        api.create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": name, "labels": {"app": "x"}}})),
        )
        .await
        .expect("create");
    }
    let rv = list_rv(&api).await;
    api.delete("gone", &DeleteParams::background())
        .await
        .expect("delete");
    api.patch("moved", &PatchParams::default(), &Patch::Merge(&label("y")))
        .await
        .expect("relabel");
    api.create(
        &PostParams::default(),
        &obj(json!({"metadata": {"name": "new", "labels": {"app": "x"}}})),
    )
    .await
    .expect("create new");
    let api = if restart {
        server.stop().await;
        server = knet_api::Server::start(support::config(dir.path()))
            .await
            .expect("restart");
        Api::namespaced(support::client(&server).await, "default")
    } else {
        api
    };
    let mut w = std::pin::pin!(
        api.watch(&WatchParams::default().labels("app=x"), &rv)
            .await
            .expect("watch")
    );
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(match next_event(&mut w).await {
            WatchEvent::Added(o) => format!("ADDED {}", o.metadata.name.unwrap_or_default()),
            WatchEvent::Modified(o) => format!("MODIFIED {}", o.metadata.name.unwrap_or_default()),
            WatchEvent::Deleted(o) => format!("DELETED {}", o.metadata.name.unwrap_or_default()),
            other => format!("{other:?}"),
        });
    }
    assert_eq!(got, ["DELETED gone", "DELETED moved", "ADDED new"]);
    // Nothing else: "kept" did not change.
    api.patch("kept", &PatchParams::default(), &Patch::Merge(&label("x2")))
        .await
        .expect("relabel kept");
    assert!(
        matches!(next_event(&mut w).await, WatchEvent::Deleted(o) if o.metadata.name.as_deref() == Some("kept"))
    );
    server.stop().await;
}

/// Metadata informers (client-go's metadata client, kube-rs
/// `metadata_watcher`) ask for `as=PartialObjectMetadata[List]` and get
/// metadata only, as kube-apiserver answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_only_lists_gets_and_watches() {
    let (_d, server, c) = setup().await;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    api.create(
        &PostParams::default(),
        &obj(json!({"metadata": {"name": "m", "labels": {"a": "b"}}, "data": {"big": "x"}})),
    )
    .await
    .expect("create");
    let accept = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
    let get = |path: &str, accept: &str| {
        http::Request::get(path)
            .header(http::header::ACCEPT, accept)
            .body(Vec::new())
            .expect("request")
    };
    let list: Value = serde_json::from_str(
        &c.request_text(get("/api/v1/namespaces/default/configmaps", accept))
            .await
            .expect("list"),
    )
    .expect("json");
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert_eq!(list["apiVersion"], "meta.k8s.io/v1");
    let item = &list["items"][0];
    assert_eq!(item["kind"], "PartialObjectMetadata");
    assert_eq!(item["metadata"]["labels"]["a"], "b");
    assert!(item.get("data").is_none(), "metadata only: {item}");
    let one: Value = serde_json::from_str(
        &c.request_text(get(
            "/api/v1/namespaces/default/configmaps/m",
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
        ))
        .await
        .expect("get"),
    )
    .expect("json");
    assert_eq!(one["kind"], "PartialObjectMetadata");
    assert!(one.get("data").is_none(), "{one}");
    // kube-rs's own metadata list and watch read them.
    let metas = api
        .list_metadata(&ListParams::default())
        .await
        .expect("list_metadata");
    assert_eq!(metas.items.len(), 1);
    let rv = metas.metadata.resource_version.clone().expect("rv");
    let mut w = std::pin::pin!(
        api.watch_metadata(&WatchParams::default(), &rv)
            .await
            .expect("watch_metadata")
    );
    api.patch(
        "m",
        &PatchParams::default(),
        &Patch::Merge(&json!({"data": {"big": "y"}})),
    )
    .await
    .expect("patch");
    let ev = tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .expect("event in time")
        .expect("open")
        .expect("event");
    match ev {
        WatchEvent::Modified(m) => {
            assert_eq!(m.metadata.name.as_deref(), Some("m"));
            assert_eq!(
                m.types.map(|t| t.kind).as_deref(),
                Some("PartialObjectMetadata")
            );
        }
        other => panic!("expected MODIFIED, got {other:?}"),
    }
    server.stop().await;
}

struct Everything;
impl EventFilter for Everything {
    fn matches(&self, _: &Value) -> bool {
        true
    }
    fn is_everything(&self) -> bool {
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_falls_behind_gets_410() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&StoreConfig {
        fanout: 16,
        ..StoreConfig::new(dir.path().join("db.redb"))
    })
    .expect("store");
    let spec = WatchSpec {
        resource: lookup("", "v1", "configmaps").expect("configmaps"),
        namespace: None,
        from: Some(store.revision().max(1)),
        table: false,
        metadata_only: false,
        bookmarks: None,
        timeout: Duration::from_secs(60),
        initial_events_end: false,
    };
    let mut rx = watch::start(&store, spec, Everything);
    // Nobody reads the stream while 600 changes happen.
    for i in 0..600 {
        let key = Key::new("", "configmaps", "default", &format!("c{i}"));
        let o = json!({"metadata": {"name": format!("c{i}"), "namespace": "default"}});
        store
            .mutate(&key, |_| Ok(Mutation::Put(o)))
            .await
            .expect("write");
    }
    let mut last = String::new();
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        last = String::from_utf8_lossy(&chunk).into_owned();
    }
    let ev: Value = serde_json::from_str(&last).expect("json line");
    assert_eq!(ev["type"], "ERROR", "{last}");
    assert_eq!(
        (
            ev["object"]["code"].as_i64(),
            ev["object"]["reason"].as_str()
        ),
        (Some(410), Some("Expired"))
    );
    store.shutdown();
}
