//! Discovery documents, all built from [`crate::resources::RESOURCES`]:
//! `/version`, legacy `/api`, `/apis`, `/api/v1`, `/apis/<g>/<v>`, and the
//! aggregated `apidiscovery.k8s.io/v2` lists kubectl asks for first.

use crate::resources::{RESOURCES, Resource, groups};
use serde_json::{Value, json};

/// The Kubernetes version knet reports. The installed kubectl dispatcher runs
/// `kubectl.1.<minor>` for the server's minor, and kubectl.1.33 is installed.
pub const GIT_VERSION: &str = "v1.33.1";

/// Content-Type of aggregated discovery responses.
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// `GET /version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": GIT_VERSION,
        "gitCommit": "knet",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24 (knet is Rust)",
        "compiler": "rustc",
        "platform": "linux/amd64",
    })
}

/// `GET /api` (legacy).
pub fn core_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
    })
}

fn group_versions(group: &str) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Vec::new();
    for r in RESOURCES.iter().filter(|r| r.group == group) {
        if !v.contains(&r.version) {
            v.push(r.version);
        }
    }
    v
}

fn api_group(group: &str) -> Value {
    let versions: Vec<Value> = group_versions(group)
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({
        "name": group,
        "versions": versions,
        "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
    })
}

/// `GET /apis` (legacy).
pub fn group_list() -> Value {
    let groups: Vec<Value> = groups()
        .into_iter()
        .filter(|g| !g.is_empty())
        .map(api_group)
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/<group>`, None when the group is not served.
pub fn group(group: &str) -> Option<Value> {
    if group.is_empty() || !groups().contains(&group) {
        return None;
    }
    let mut g = api_group(group);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Some(g)
}

/// The kind and group/version a subresource answers with.
fn subresource_kind(r: &Resource, sub: &str) -> (&'static str, &'static str, String) {
    match sub {
        "scale" => ("autoscaling", "v1", "Scale".into()),
        "eviction" => ("policy", "v1", "Eviction".into()),
        "binding" => ("", "v1", "Binding".into()),
        "exec" | "attach" | "log" => ("", "v1", "PodExecOptions".into()),
        "portforward" => ("", "v1", "PodPortForwardOptions".into()),
        _ => (r.group, r.version, r.kind.to_string()),
    }
}

fn subresource_verbs(sub: &str) -> &'static [&'static str] {
    match sub {
        "status" | "scale" | "ephemeralcontainers" => &["get", "patch", "update"],
        "log" => &["get"],
        "exec" | "attach" | "portforward" => &["create", "get"],
        "finalize" => &["update"],
        _ => &["create"],
    }
}

/// `GET /api/v1` or `/apis/<g>/<v>` (legacy), None when not served.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let served: Vec<&Resource> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for r in served {
        resources.push(json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
            "shortNames": r.short_names,
            "categories": r.categories,
        }));
        for sub in r.subresources {
            let (g, v, kind) = subresource_kind(r, sub);
            let mut entry = json!({
                "name": format!("{}/{sub}", r.plural),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": kind,
                "verbs": subresource_verbs(sub),
            });
            if (g, v) != (r.group, r.version) {
                entry["group"] = json!(g);
                entry["version"] = json!(v);
            }
            resources.push(entry);
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

fn aggregated_resource(r: &Resource) -> Value {
    let subresources: Vec<Value> = r
        .subresources
        .iter()
        .map(|sub| {
            let (g, v, kind) = subresource_kind(r, sub);
            json!({
                "subresource": sub,
                "responseKind": {"group": g, "version": v, "kind": kind},
                "verbs": subresource_verbs(sub),
            })
        })
        .collect();
    let mut out = json!({
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        out["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        out["categories"] = json!(r.categories);
    }
    if !subresources.is_empty() {
        out["subresources"] = Value::Array(subresources);
    }
    out
}

fn aggregated_group(group: &str) -> Value {
    let versions: Vec<Value> = group_versions(group)
        .into_iter()
        .map(|v| {
            let resources: Vec<Value> = RESOURCES
                .iter()
                .filter(|r| r.group == group && r.version == v)
                .map(aggregated_resource)
                .collect();
            json!({"version": v, "resources": resources, "freshness": "Current"})
        })
        .collect();
    json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": versions})
}

/// Aggregated discovery for `/api` (`core` true: the core group only) or
/// `/apis` (every named group).
pub fn aggregated(core: bool) -> Value {
    let items: Vec<Value> = groups()
        .into_iter()
        .filter(|g| g.is_empty() == core)
        .map(aggregated_group)
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_core_lists_pods_with_subresources() {
        let core = aggregated(true);
        assert_eq!(core["items"].as_array().unwrap().len(), 1);
        let res = core["items"][0]["versions"][0]["resources"]
            .as_array()
            .unwrap();
        let pods = res.iter().find(|r| r["resource"] == "pods").unwrap();
        assert_eq!(pods["shortNames"][0], "po");
        assert_eq!(pods["categories"][0], "all");
        assert!(
            pods["subresources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["subresource"] == "exec")
        );
        let apps = aggregated(false);
        let names: Vec<&str> = apps["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"apps") && !names.contains(&""));
    }

    #[test]
    fn legacy_lists_include_scale_as_autoscaling() {
        let apps = resource_list("apps", "v1").unwrap();
        let scale = apps["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "deployments/scale")
            .unwrap();
        assert_eq!(
            (scale["group"].as_str(), scale["kind"].as_str()),
            (Some("autoscaling"), Some("Scale"))
        );
        assert!(resource_list("nope", "v1").is_none());
        assert_eq!(
            group("apps").unwrap()["preferredVersion"]["groupVersion"],
            "apps/v1"
        );
        assert!(
            group_list()["groups"]
                .as_array()
                .unwrap()
                .iter()
                .all(|g| g["name"] != "")
        );
    }
}
