//! The OpenAPI v3 endpoints over HTTP: the root lists every group/version,
//! documents come gzip-compressed to clients that accept it and plain to
//! others, and a client holding the current ETag gets a 304.

use serde_json::Value;
use std::io::Read;

mod support;

use support::start as setup;

async fn get(c: &kube::Client, path: &str, headers: &[(&str, &str)]) -> http::Response<Vec<u8>> {
    let mut req = http::Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Vec::new()).expect("request");
    let resp = c
        .send(req.map(kube::client::Body::from))
        .await
        .expect("send");
    let (parts, body) = resp.into_parts();
    let body = http_body_util::BodyExt::collect(body)
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    http::Response::from_parts(parts, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_compressed_cached_and_complete() {
    let (_d, _s, c) = setup().await;
    let root = get(&c, "/openapi/v3", &[]).await;
    let root: Value = serde_json::from_slice(root.body()).expect("root json");
    let url = root["paths"]["api/v1"]["serverRelativeURL"]
        .as_str()
        .expect("api/v1 listed");
    assert!(root["paths"]["apis/apps/v1"].is_object());

    let gz = get(&c, url, &[("accept-encoding", "gzip")]).await;
    assert_eq!(gz.status(), 200);
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(&gz.body()[..])
        .read_to_end(&mut json)
        .expect("gunzip");
    let plain = get(&c, url, &[]).await;
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.body(), &json);
    assert!(gz.body().len() * 3 < json.len());
    let doc: Value = serde_json::from_slice(&json).expect("doc json");
    let svc = &doc["components"]["schemas"]["io.k8s.api.core.v1.Service"];
    assert_eq!(svc["x-kubernetes-group-version-kind"][0]["kind"], "Service");

    let etag = plain.headers()["etag"].to_str().expect("etag").to_string();
    let again = get(&c, url, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status(), 304);
    assert!(again.body().is_empty());
    let missing = get(&c, "/openapi/v3/apis/nope/v1", &[]).await;
    assert_eq!(missing.status(), 404);
}
