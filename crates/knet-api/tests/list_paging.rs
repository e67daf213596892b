//! `limit` and `continue` against the embedded server: pages come from one
//! snapshot (writes between pages do not show), selectors and Tables page,
//! an expired token is an HTTP 410 carrying a token that resumes at the
//! latest revision, and kube-rs' paged watcher sees everything.

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use knet_api::Server;
use kube::api::{Api, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::{Value, json};
use std::time::Duration;

mod support;

async fn setup(history: usize) -> (tempfile::TempDir, Server, kube::Client) {
    support::start_with(|c| c.history = history).await
}

async fn make(api: &Api<ConfigMap>, name: &str, tier: &str) {
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"tier": tier}},
        "data": {"k": "v"},
    }))
    .expect("cm");
    api.create(&PostParams::default(), &cm)
        .await
        .expect("create");
}

/// GET `path` (with its query); the status code and the JSON body.
async fn get(c: &kube::Client, path: &str, accept: Option<&str>) -> (u16, Value) {
    let mut req = http::Request::get(path);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let req = req.body(Vec::new()).expect("request");
    let resp = c
        .send(req.map(kube::client::Body::from))
        .await
        .expect("send");
    let code = resp.status().as_u16();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .expect("body")
        .to_bytes();
    (code, serde_json::from_slice(&body).expect("json"))
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["metadata"]["name"].as_str().expect("name").to_string())
        .collect()
}

fn token(v: &Value) -> String {
    v["metadata"]["continue"]
        .as_str()
        .expect("continue token")
        .to_string()
}

const BASE: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_come_from_one_snapshot() {
    let (_d, _s, c) = setup(10_000).await;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    for n in ["c1", "c2", "c3", "c4", "c5", "c6", "c7"] {
        make(&api, n, "x").await;
    }
    let (code, p1) = get(&c, &format!("{BASE}?limit=3"), None).await;
    assert_eq!(code, 200);
    assert_eq!(names(&p1), ["c1", "c2", "c3"]);
    assert_eq!(p1["metadata"]["remainingItemCount"], 4);
    let rv = p1["metadata"]["resourceVersion"].clone();
    // Writes after the first page are not part of the list.
    make(&api, "c35", "x").await;
    api.delete("c5", &Default::default()).await.expect("delete");
    let (_, p2) = get(&c, &format!("{BASE}?limit=3&continue={}", token(&p1)), None).await;
    assert_eq!(names(&p2), ["c4", "c5", "c6"]);
    assert_eq!(p2["metadata"]["resourceVersion"], rv);
    assert_eq!(p2["metadata"]["remainingItemCount"], 1);
    let (_, p3) = get(&c, &format!("{BASE}?limit=3&continue={}", token(&p2)), None).await;
    assert_eq!(names(&p3), ["c7"]);
    assert!(p3["metadata"].get("continue").is_none(), "{p3}");
    assert!(p3["metadata"].get("remainingItemCount").is_none());
    // Without limit: everything, current, no token.
    let (_, all) = get(&c, BASE, None).await;
    assert_eq!(names(&all), ["c1", "c2", "c3", "c35", "c4", "c6", "c7"]);
    assert!(all["metadata"].get("continue").is_none());
    // A resourceVersion beside a continue token is refused, as are bad tokens.
    let (code, st) = get(
        &c,
        &format!("{BASE}?limit=3&resourceVersion=5&continue={}", token(&p1)),
        None,
    )
    .await;
    assert_eq!((code, st["reason"].as_str()), (400, Some("BadRequest")));
    let (code, st) = get(&c, &format!("{BASE}?limit=3&continue=garbage"), None).await;
    assert_eq!(code, 400, "{st}");
    // kube-rs' own list with a limit follows the same tokens.
    let mut seen = Vec::new();
    let mut lp = kube::api::ListParams::default().limit(2);
    loop {
        let page = api.list(&lp).await.expect("list");
        seen.extend(page.items.iter().filter_map(|c| c.metadata.name.clone()));
        match page.metadata.continue_.filter(|t| !t.is_empty()) {
            Some(t) => lp = lp.continue_token(&t),
            None => break,
        }
    }
    assert_eq!(seen, ["c1", "c2", "c3", "c35", "c4", "c6", "c7"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_and_tables_page_across_namespaces() {
    let (_d, _s, c) = setup(10_000).await;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    for i in 0..9 {
        make(
            &api,
            &format!("m{i}"),
            if i % 3 == 0 { "db" } else { "web" },
        )
        .await;
    }
    // Selected pages: two matches per page, no remainingItemCount.
    let mut seen = Vec::new();
    let mut url = "/api/v1/configmaps?limit=2&labelSelector=tier%3Dweb".to_string();
    let mut pages = 0;
    loop {
        let (code, page) = get(&c, &url, None).await;
        assert_eq!(code, 200, "{page}");
        pages += 1;
        assert!(names(&page).len() <= 2);
        assert!(page["metadata"].get("remainingItemCount").is_none());
        seen.extend(names(&page));
        match page["metadata"]["continue"].as_str() {
            Some(t) => {
                url = format!("/api/v1/configmaps?limit=2&labelSelector=tier%3Dweb&continue={t}")
            }
            None => break,
        }
    }
    assert_eq!(seen, ["m1", "m2", "m4", "m5", "m7", "m8"]);
    assert!(pages >= 3);
    // Tables carry the token in their metadata.
    let table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    let (_, t1) = get(&c, &format!("{BASE}?limit=4"), Some(table)).await;
    assert_eq!(t1["kind"], "Table");
    assert_eq!(t1["rows"].as_array().expect("rows").len(), 4);
    assert_eq!(t1["metadata"]["remainingItemCount"], 5);
    let (_, t2) = get(
        &c,
        &format!("{BASE}?limit=100&continue={}", token(&t1)),
        Some(table),
    )
    .await;
    let rows: Vec<&str> = t2["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["cells"][0].as_str().expect("name"))
        .collect();
    assert_eq!(rows, ["m4", "m5", "m6", "m7", "m8"]);
    assert!(t2["metadata"].get("continue").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_410_with_a_token_at_the_latest_revision() {
    let (_d, _s, c) = setup(16).await;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    for n in ["a", "b", "c", "d"] {
        make(&api, n, "x").await;
    }
    let (_, p1) = get(&c, &format!("{BASE}?limit=2"), None).await;
    assert_eq!(names(&p1), ["a", "b"]);
    // More writes than the history keeps.
    let other: Api<ConfigMap> = Api::namespaced(c.clone(), "kube-system");
    for i in 0..20 {
        make(&other, &format!("x{i}"), "x").await;
    }
    make(&api, "bz", "x").await;
    let (code, st) = get(&c, &format!("{BASE}?limit=2&continue={}", token(&p1)), None).await;
    assert_eq!(code, 410, "{st}");
    assert_eq!(st["kind"], "Status");
    assert_eq!(st["reason"], "Expired");
    assert!(
        st["message"].as_str().expect("message").starts_with(
            "The provided continue parameter is too old to display a consistent list result."
        ),
        "{st}"
    );
    // The token in the 410 continues after "b" at the latest revision.
    let (code, rest) = get(
        &c,
        &format!("{BASE}?limit=10&continue={}", token(&st)),
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(names(&rest), ["bz", "c", "d"]);
    // kube-rs surfaces it as an API error with code 410.
    let lp = kube::api::ListParams::default()
        .limit(2)
        .continue_token(&token(&p1));
    match api.list(&lp).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 410),
        other => panic!("expected a 410, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_watcher_initial_list_sees_everything() {
    let (_d, _s, c) = setup(10_000).await;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    for i in 0..25 {
        make(&api, &format!("w{i:02}"), "x").await;
    }
    let (reader, writer) = reflector::store::<ConfigMap>();
    let cfg = watcher::Config::default().page_size(4);
    let stream = reflector(writer, watcher(api.clone(), cfg))
        .applied_objects()
        .boxed();
    let task = tokio::spawn(async move {
        let mut s = stream;
        while s.next().await.is_some() {}
    });
    tokio::time::timeout(Duration::from_secs(20), reader.wait_until_ready())
        .await
        .expect("initial list in time")
        .expect("ready");
    assert_eq!(reader.state().len(), 25);
    make(&api, "late", "x").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while reader.state().len() < 26 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "watch after the paged list"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
}
