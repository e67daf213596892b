//! A minimal OpenAPI v3: enough for kubectl's server-side validation check.
//! Each group/version document lists, for every resource, the item path with
//! a `patch` operation carrying `x-kubernetes-group-version-kind` and the
//! `fieldValidation` query parameter. No schemas and no `requestBody`, so
//! kubectl computes strategic merge patches from its compiled-in types.

use crate::resources::{RESOURCES, groups};
use serde_json::{Map, Value, json};

/// `api/v1`, `apis/apps/v1`, … — the documents served under `/openapi/v3/`.
pub fn group_versions() -> Vec<String> {
    let mut out = Vec::new();
    for g in groups() {
        for r in RESOURCES.iter().filter(|r| r.group == g) {
            let gv = if g.is_empty() {
                format!("api/{}", r.version)
            } else {
                format!("apis/{g}/{}", r.version)
            };
            if !out.contains(&gv) {
                out.push(gv);
            }
        }
    }
    out
}

/// A stable hash of the documents, for `serverRelativeURL` (changes only
/// when the binary's resource table does).
fn hash() -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for r in RESOURCES {
        for b in r
            .plural
            .bytes()
            .chain(r.group.bytes())
            .chain(r.kind.bytes())
        {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
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

/// `GET /openapi/v3/<gv>` (e.g. `apis/apps/v1`), None when not served.
pub fn document(gv: &str) -> Option<Value> {
    if !group_versions().iter().any(|g| g == gv) {
        return None;
    }
    let mut paths = Map::new();
    for r in RESOURCES {
        let this = if r.group.is_empty() {
            format!("api/{}", r.version)
        } else {
            format!("apis/{}/{}", r.group, r.version)
        };
        if this != gv || !r.supports("patch") {
            continue;
        }
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
        let op = |verb: &str| {
            json!({
                "operationId": format!("{verb}{}", r.kind),
                "x-kubernetes-action": verb,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": params,
                "responses": {"200": {"description": "OK"}},
            })
        };
        paths.insert(item, json!({"patch": op("patch"), "put": op("put")}));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": crate::discovery::GIT_VERSION},
        "paths": paths,
        "components": {"schemas": {}},
    }))
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
        let core = document("api/v1").unwrap();
        assert!(core["paths"]["/api/v1/namespaces/{name}"]["patch"].is_object());
        assert!(document("apis/nope/v1").is_none());
    }
}
