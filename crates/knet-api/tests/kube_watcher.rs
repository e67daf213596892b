//! kube-rs against the embedded server: reflectors list and watch, resume
//! across a server restart, and relist after a 410.

#![allow(clippy::result_large_err)] // store closures return a whole Status on error

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use knet_api::store::{Key, Mutation, Store, StoreConfig};
use knet_api::{Config, Server};
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

mod support;

use support::client;

fn config(dir: &Path, history: usize) -> Config {
    let mut c = support::config(dir);
    c.history = history;
    c
}

async fn restart(dir: &Path, history: usize, old: Server) -> Server {
    let addr = old.addr();
    old.stop().await;
    let mut c = config(dir, history);
    c.listen = addr;
    Server::start(c).await.expect("restart")
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": name}})).expect("cm")
}

async fn wait_for<F: Fn() -> bool>(what: &str, f: F) {
    for _ in 0..300 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn names(reader: &reflector::Store<ConfigMap>) -> Vec<String> {
    let mut v: Vec<String> = reader
        .state()
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflector_lists_watches_and_resumes_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(config(dir.path(), 10_000))
        .await
        .expect("start");
    let c = client(&server).await;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    for n in ["a", "b"] {
        api.create(&PostParams::default(), &cm(n))
            .await
            .expect("create");
    }
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(api.clone(), watcher::Config::default()))
        .default_backoff()
        .applied_objects();
    let task = tokio::spawn(async move {
        let mut s = std::pin::pin!(stream);
        while s.next().await.is_some() {}
    });
    wait_for("initial list", || names(&reader) == ["a", "b"]).await;
    api.create(&PostParams::default(), &cm("c"))
        .await
        .expect("create c");
    wait_for("watch event", || names(&reader) == ["a", "b", "c"]).await;

    let server = restart(dir.path(), 10_000, server).await;
    api.create(&PostParams::default(), &cm("d"))
        .await
        .expect("create after restart");
    api.delete("a", &Default::default()).await.expect("delete");
    wait_for("events after restart", || names(&reader) == ["b", "c", "d"]).await;
    task.abort();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_resource_version_gets_410_and_the_watcher_relists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let history = 5;
    let server = Server::start(config(dir.path(), history))
        .await
        .expect("start");
    let c = client(&server).await;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    api.create(&PostParams::default(), &cm("first"))
        .await
        .expect("create");
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(api.clone(), watcher::Config::default()))
        .default_backoff()
        .applied_objects();
    let task = tokio::spawn(async move {
        let mut s = std::pin::pin!(stream);
        while s.next().await.is_some() {}
    });
    wait_for("initial list", || names(&reader) == ["first"]).await;

    // While the server is down, more changes than the history keeps happen.
    let addr = server.addr();
    server.stop().await;
    let store = Store::open(&StoreConfig {
        history,
        ..StoreConfig::new(dir.path().join("store.redb"))
    })
    .expect("open store");
    for i in 0..20 {
        let name = format!("offline-{i:02}");
        let key = Key::new("", "configmaps", "default", &name);
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", "uid": format!("u{i}")}});
        store
            .mutate(&key, |_| Ok(Mutation::Put(obj)))
            .await
            .expect("offline write");
    }
    store.shutdown();

    // A raw watch from an expired revision: 200 with an ERROR 410 event.
    let mut c2 = config(dir.path(), history);
    c2.listen = addr;
    let server = Server::start(c2).await.expect("restart");
    let mut raw = std::pin::pin!(
        api.watch(&WatchParams::default(), "2")
            .await
            .expect("watch")
    );
    match raw.next().await {
        Some(Ok(WatchEvent::Error(e))) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    // The reflector resumes from its old revision, gets the 410, relists.
    wait_for("relist after 410", || names(&reader).len() == 21).await;
    assert!(names(&reader).contains(&"offline-19".to_string()));
    task.abort();
    server.stop().await;
}
