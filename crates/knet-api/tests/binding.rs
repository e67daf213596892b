//! `pods/binding` and `bindings` through kube-rs against the embedded server:
//! a scheduler's bind sets `spec.nodeName` once, a second bind is a 409
//! Conflict with kube-apiserver's message, and discovery advertises both.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

mod support;

use support::start as setup;

async fn make_pod(api: &Api<Pod>, name: &str) {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }))
    .expect("pod");
    api.create(&PostParams::default(), &pod)
        .await
        .expect("create pod");
}

fn binding(pod: &str, node: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": pod, "annotations": {"scheduler": "knet"}},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    })
}

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_binding_assigns_a_node_once() {
    let (_d, _server, c) = setup().await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    make_pod(&pods, "web").await;
    let status: Value = pods
        .create_subresource(
            "binding",
            "web",
            &PostParams::default(),
            &binding("web", "node-a"),
        )
        .await
        .expect("bind");
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["status"], "Success");
    let pod = pods.get("web").await.expect("get");
    let spec = pod.spec.expect("spec");
    assert_eq!(spec.node_name.as_deref(), Some("node-a"));
    let ann = pod.metadata.annotations.unwrap_or_default();
    assert_eq!(ann.get("scheduler").map(String::as_str), Some("knet"));
    let conds = pod.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "PodScheduled" && c.status == "True"),
        "{conds:?}"
    );

    let again = pods
        .create_subresource::<_, Value>(
            "binding",
            "web",
            &PostParams::default(),
            &binding("web", "node-b"),
        )
        .await
        .expect_err("second bind");
    let e = api_error(again);
    assert_eq!(e.code, 409);
    assert_eq!(e.reason, "Conflict");
    assert_eq!(
        e.message,
        "Operation cannot be fulfilled on pods \"web\": pod web is already assigned to node \"node-a\""
    );
    let spec = pods.get("web").await.expect("get").spec.expect("spec");
    assert_eq!(spec.node_name.as_deref(), Some("node-a"));

    let missing = pods
        .create_subresource::<_, Value>(
            "binding",
            "nope",
            &PostParams::default(),
            &binding("nope", "n"),
        )
        .await
        .expect_err("missing pod");
    assert_eq!(api_error(missing).code, 404);
    let mismatch = pods
        .create_subresource::<_, Value>(
            "binding",
            "web",
            &PostParams::default(),
            &binding("other", "n"),
        )
        .await
        .expect_err("name mismatch");
    assert_eq!(api_error(mismatch).code, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindings_collection_binds_and_refuses_other_verbs() {
    let (_d, _server, c) = setup().await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    make_pod(&pods, "db").await;
    let req = http::Request::post("/api/v1/namespaces/default/bindings")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&binding("db", "node-c")).expect("json"))
        .expect("request");
    let status: Value = c.request(req).await.expect("POST bindings");
    assert_eq!(status["status"], "Success");
    let spec = pods.get("db").await.expect("get").spec.expect("spec");
    assert_eq!(spec.node_name.as_deref(), Some("node-c"));

    let list = http::Request::get("/api/v1/namespaces/default/bindings")
        .body(Vec::new())
        .expect("request");
    let e = api_error(c.request::<Value>(list).await.expect_err("list bindings"));
    assert_eq!(e.code, 405);

    let bad = http::Request::post("/api/v1/namespaces/default/bindings")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&json!({"metadata": {"name": "db"}, "target": {}})).expect("json"))
        .expect("request");
    let e = api_error(c.request::<Value>(bad).await.expect_err("no target"));
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));

    let disc = http::Request::get("/api/v1")
        .body(Vec::new())
        .expect("request");
    let list: Value = c.request(disc).await.expect("discovery");
    let find = |name: &str| {
        list["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in discovery"))
    };
    assert_eq!(find("pods/binding")["verbs"], json!(["create"]));
    assert_eq!(find("bindings")["verbs"], json!(["create"]));
    assert_eq!(find("bindings")["kind"], "Binding");
}
