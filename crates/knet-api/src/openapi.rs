//! OpenAPI v3, as kube-apiserver serves it: `/openapi/v3` lists one document
//! per group/version; each document holds, for every resource, the item path
//! with `put`/`patch` operations (carrying `x-kubernetes-group-version-kind`
//! and the `fieldValidation` parameter, which makes kubectl validate
//! server-side) and, under `components.schemas`, the schemas of the served
//! kinds and everything they reference, with Kubernetes' field descriptions
//! (k8s-openapi's `schemars` schemas). `kubectl explain` reads these.
//!
//! The operations carry no `requestBody`, so kubectl computes strategic merge
//! patches from its compiled-in types, which know the merge keys.
//!
//! Documents are built on first request and kept gzip-compressed (about
//! 0.3 MB of JSON for `api/v1`, 0.2 MB for `apis/apps/v1`; a fifth of that
//! compressed), and served compressed to clients that accept gzip (kubectl).

use crate::resources::{RESOURCES, Resource, groups};
use bytes::Bytes;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use k8s_openapi::api::{apps, coordination, core, discovery, events, networking};
use k8s_openapi::schemars::{JsonSchema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::{Mutex, OnceLock};

/// Bumped when the documents' shape changes, so clients' caches keyed by
/// the `hash` in `serverRelativeURL` do not serve an old shape.
const DOC_VERSION: &str = "knet-openapi-v3-2";

/// The path prefix of a resource's group/version: `api/v1`, `apis/apps/v1`.
fn gv_path(r: &Resource) -> String {
    if r.group.is_empty() {
        format!("api/{}", r.version)
    } else {
        format!("apis/{}/{}", r.group, r.version)
    }
}

/// `api/v1`, `apis/apps/v1`, … — the documents served under `/openapi/v3/`.
pub fn group_versions() -> Vec<String> {
    let mut out = Vec::new();
    for g in groups() {
        for r in RESOURCES.iter().filter(|r| r.group == g) {
            let gv = gv_path(r);
            if !out.contains(&gv) {
                out.push(gv);
            }
        }
    }
    out
}

/// A stable hash of the documents, for `serverRelativeURL` (changes only
/// when the binary's resource table or the document shape does).
fn hash() -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |bytes: &[u8]| {
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    mix(DOC_VERSION.as_bytes());
    mix(crate::discovery::GIT_VERSION.as_bytes());
    for r in RESOURCES {
        mix(r.plural.as_bytes());
        mix(r.group.as_bytes());
        mix(r.kind.as_bytes());
    }
    format!("{h:016X}")
}

/// `GET /openapi/v3`.
pub fn root() -> Value {
    let mut paths = Map::new();
    let h = hash();
    for gv in group_versions() {
        paths.insert(
            gv.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash={h}")}),
        );
    }
    json!({"paths": paths})
}

/// Adds the schema of `T` (and what it references) to `g`; its name.
fn add<T: JsonSchema>(g: &mut SchemaGenerator) -> String {
    g.subschema_for::<T>();
    T::schema_name().into_owned()
}

/// The schema of a resource's kind, added to `g`; None for kinds without one.
fn kind_schema(g: &mut SchemaGenerator, r: &Resource) -> Option<String> {
    Some(match (r.group, r.plural) {
        ("", "namespaces") => add::<core::v1::Namespace>(g),
        ("", "nodes") => add::<core::v1::Node>(g),
        ("", "pods") => add::<core::v1::Pod>(g),
        ("", "services") => add::<core::v1::Service>(g),
        ("", "endpoints") => add::<core::v1::Endpoints>(g),
        ("", "configmaps") => add::<core::v1::ConfigMap>(g),
        ("", "secrets") => add::<core::v1::Secret>(g),
        ("", "serviceaccounts") => add::<core::v1::ServiceAccount>(g),
        ("", "events") => add::<core::v1::Event>(g),
        ("", "bindings") => add::<core::v1::Binding>(g),
        ("apps", "deployments") => add::<apps::v1::Deployment>(g),
        ("apps", "replicasets") => add::<apps::v1::ReplicaSet>(g),
        ("apps", "statefulsets") => add::<apps::v1::StatefulSet>(g),
        ("apps", "daemonsets") => add::<apps::v1::DaemonSet>(g),
        ("discovery.k8s.io", "endpointslices") => add::<discovery::v1::EndpointSlice>(g),
        ("networking.k8s.io", "ingresses") => add::<networking::v1::Ingress>(g),
        ("networking.k8s.io", "networkpolicies") => add::<networking::v1::NetworkPolicy>(g),
        ("coordination.k8s.io", "leases") => add::<coordination::v1::Lease>(g),
        ("events.k8s.io", "events") => add::<events::v1::Event>(g),
        ("authorization.k8s.io", "selfsubjectaccessreviews") => {
            add::<k8s_openapi::api::authorization::v1::SelfSubjectAccessReview>(g)
        }
        ("authorization.k8s.io", "selfsubjectrulesreviews") => {
            add::<k8s_openapi::api::authorization::v1::SelfSubjectRulesReview>(g)
        }
        ("authentication.k8s.io", "selfsubjectreviews") => {
            add::<k8s_openapi::api::authentication::v1::SelfSubjectReview>(g)
        }
        _ => return None,
    })
}

/// The item-path operations of a resource.
fn operations(r: &Resource, gv: &str, kind_ref: Option<&str>) -> (String, Value) {
    let item = if r.namespaced {
        format!("/{gv}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
    } else {
        format!("/{gv}/{}/{{name}}", r.plural)
    };
    let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
    let params = json!([
        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}},
    ]);
    let mut ok = json!({"description": "OK"});
    if let Some(k) = kind_ref {
        ok["content"] = json!({"application/json": {"schema": {"$ref": k}}});
    }
    let op = |verb: &str| {
        json!({
            "operationId": format!("{verb}{}", r.kind),
            "x-kubernetes-action": verb,
            "x-kubernetes-group-version-kind": gvk,
            "parameters": params,
            "responses": {"200": ok},
        })
    };
    (item, json!({"patch": op("patch"), "put": op("put")}))
}

/// Builds the document of `gv` (e.g. `apis/apps/v1`), None when not served.
pub fn document(gv: &str) -> Option<Value> {
    let served: Vec<&Resource> = RESOURCES.iter().filter(|r| gv_path(r) == gv).collect();
    if served.is_empty() {
        return None;
    }
    let mut g = SchemaSettings::openapi3().into_generator();
    let kinds: Vec<(&Resource, Option<String>)> = served
        .iter()
        .map(|r| (*r, kind_schema(&mut g, r)))
        .collect();
    let mut schemas = g.take_definitions(true);
    let mut paths = Map::new();
    for (r, name) in &kinds {
        if let Some(schema) = name.as_ref().and_then(|n| schemas.get_mut(n)) {
            let gvk = json!([{"group": r.group, "kind": r.kind, "version": r.version}]);
            if let Some(m) = schema.as_object_mut() {
                m.insert("x-kubernetes-group-version-kind".into(), gvk);
                // k8s-openapi requires `metadata` (not an Option in Rust);
                // Kubernetes does not.
                if let Some(req) = m.get_mut("required").and_then(Value::as_array_mut) {
                    req.retain(|f| f != "metadata");
                    if req.is_empty() {
                        m.remove("required");
                    }
                }
            }
        }
        if r.supports("patch") {
            let kind_ref = name.as_ref().map(|n| format!("#/components/schemas/{n}"));
            let (path, ops) = operations(r, gv, kind_ref.as_deref());
            paths.insert(path, ops);
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": crate::discovery::GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// The gzip-compressed JSON of the document of `gv`, built once and cached
/// (compressed, the documents together take about 0.15 MB of memory).
pub fn document_gzip(gv: &str) -> Option<Bytes> {
    static CACHE: OnceLock<Mutex<HashMap<String, Bytes>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(b) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(gv) {
        return Some(b.clone());
    }
    let doc = document(gv)?;
    let json = serde_json::to_vec(&doc).ok()?;
    let mut enc = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::default());
    enc.write_all(&json).ok()?;
    let bytes = Bytes::from(enc.finish().ok()?);
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(gv.to_string(), bytes.clone());
    Some(bytes)
}

/// The JSON of the document of `gv` (for clients that do not take gzip).
pub fn document_bytes(gv: &str) -> Option<Vec<u8>> {
    let gz = document_gzip(gv)?;
    let mut out = Vec::with_capacity(gz.len() * 5);
    GzDecoder::new(&gz[..]).read_to_end(&mut out).ok()?;
    Some(out)
}

/// The entity tag of every document (they change only with the binary).
pub fn etag() -> String {
    format!("\"{}\"", hash())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_document_advertises_field_validation_on_patch() {
        let root = root();
        let url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap();
        assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="));
        let doc = document("apis/apps/v1").unwrap();
        let patch =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "Deployment"
        );
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        // No requestBody: kubectl then builds strategic merge patches itself.
        assert!(patch.get("requestBody").is_none());
        let core = document("api/v1").unwrap();
        assert!(core["paths"]["/api/v1/namespaces/{name}"]["patch"].is_object());
        assert!(
            core["paths"]
                .as_object()
                .unwrap()
                .keys()
                .all(|p| !p.contains("/bindings/")),
            "bindings are create-only"
        );
        assert!(document("apis/nope/v1").is_none());
    }

    #[test]
    fn schemas_carry_kinds_descriptions_and_references() {
        let core = document("api/v1").unwrap();
        let schemas = core["components"]["schemas"].as_object().unwrap();
        let pod = &schemas["io.k8s.api.core.v1.Pod"];
        assert_eq!(
            pod["x-kubernetes-group-version-kind"],
            json!([{"group": "", "kind": "Pod", "version": "v1"}])
        );
        assert!(pod.get("required").is_none());
        assert_eq!(
            pod["properties"]["spec"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.PodSpec"
        );
        let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert!(
            containers["description"]
                .as_str()
                .unwrap()
                .starts_with("List of containers belonging to the pod.")
        );
        assert_eq!(
            containers["items"]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.Container"
        );
        // Every reference resolves inside the document.
        let text = serde_json::to_string(&core).unwrap();
        for piece in text.split("\"#/components/schemas/").skip(1) {
            let name = &piece[..piece.find('"').unwrap()];
            assert!(schemas.contains_key(name), "dangling $ref {name}");
        }
        // Every served kind of every group/version has its schema.
        for gv in group_versions() {
            let doc = document(&gv).unwrap();
            let kinds: Vec<String> = doc["components"]["schemas"]
                .as_object()
                .unwrap()
                .values()
                .filter_map(|s| s["x-kubernetes-group-version-kind"][0]["kind"].as_str())
                .map(str::to_string)
                .collect();
            for r in RESOURCES.iter().filter(|r| gv_path(r) == gv) {
                assert!(kinds.iter().any(|k| k == r.kind), "{gv}: {}", r.kind);
            }
        }
    }

    #[test]
    fn documents_are_cached() {
        let a = document_gzip("apis/apps/v1").unwrap();
        let b = document_gzip("apis/apps/v1").unwrap();
        assert_eq!(a.as_ptr(), b.as_ptr());
        assert!(document_gzip("apis/nope/v1").is_none());
        let plain = document_bytes("apis/apps/v1").unwrap();
        assert!(a.len() * 3 < plain.len(), "{} vs {}", a.len(), plain.len());
        let v: Value = serde_json::from_slice(&plain).unwrap();
        assert!(v["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].is_object());
    }
}
