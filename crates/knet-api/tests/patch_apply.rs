//! Server-side apply: create, merge, managedFields, conflicts, removal.

use knet_api::patch::{PatchError, server_side_apply_at};
use knet_api::resources::{Resource, lookup_kind};
use serde_json::{Value, json};

const NOW: &str = "2026-11-22T03:00:00Z";

fn deploy() -> &'static Resource {
    lookup_kind("apps/v1", "Deployment").unwrap()
}

fn applied(image: &str, replicas: Option<i64>) -> Value {
    let mut v = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": image}]}}
        }
    });
    if let Some(r) = replicas {
        v["spec"]["replicas"] = json!(r);
    }
    v
}

fn ssa(live: Option<&Value>, cfg: &Value, manager: &str, force: bool) -> Result<Value, PatchError> {
    server_side_apply_at(deploy(), live, cfg, manager, force, NOW)
}

fn managers(obj: &Value) -> Vec<(String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["manager"].as_str().unwrap().into(),
                e["operation"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn create_records_apply_entry_with_fields_v1() {
    let out = ssa(None, &applied("nginx:1.19", Some(2)), "kubectl", false).unwrap();
    assert_eq!(out["spec"]["replicas"], 2);
    let mf = &out["metadata"]["managedFields"][0];
    assert_eq!(mf["manager"], "kubectl");
    assert_eq!(mf["operation"], "Apply");
    assert_eq!(mf["apiVersion"], "apps/v1");
    assert_eq!(mf["fieldsType"], "FieldsV1");
    assert_eq!(mf["time"], NOW);
    let f = &mf["fieldsV1"];
    assert_eq!(f["f:spec"]["f:replicas"], json!({}));
    assert_eq!(f["f:metadata"]["f:labels"], json!({"f:app": {}}));
    assert!(
        f["f:metadata"].get("f:name").is_none(),
        "identity is not owned: {f}"
    );
    assert!(f.get("f:kind").is_none());
    assert_eq!(
        f["f:spec"]["f:template"]["f:spec"]["f:containers"],
        json!({"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}})
    );
}

#[test]
fn reapply_merges_and_keeps_other_fields() {
    let mut live = ssa(None, &applied("nginx:1.19", Some(2)), "kubectl", false).unwrap();
    live["status"] = json!({"replicas": 2});
    live["metadata"]["uid"] = json!("u1");
    let out = ssa(
        Some(&live),
        &applied("nginx:1.28", Some(2)),
        "kubectl",
        false,
    )
    .unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );
    assert_eq!(out["status"], json!({"replicas": 2}));
    assert_eq!(out["metadata"]["uid"], "u1");
    assert_eq!(
        managers(&out),
        [("kubectl".to_string(), "Apply".to_string())]
    );
}

#[test]
fn fields_dropped_from_the_config_are_removed() {
    let mut cfg = applied("nginx", Some(2));
    cfg["metadata"]["labels"]["tier"] = json!("fe");
    cfg["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "side", "image": "busybox"}));
    let live = ssa(None, &cfg, "kubectl", false).unwrap();
    let out = ssa(Some(&live), &applied("nginx", None), "kubectl", false).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"app": "web"}));
    assert!(out["spec"].get("replicas").is_none(), "{}", out["spec"]);
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        out["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]
            .get("f:replicas")
            .is_none()
    );
}

#[test]
fn conflicting_value_with_another_manager_is_409_unless_forced() {
    let live = ssa(
        None,
        &applied("nginx", Some(2)),
        "kubectl-client-side-apply",
        false,
    )
    .unwrap();
    let err = ssa(Some(&live), &applied("nginx", Some(5)), "kubectl", false).unwrap_err();
    match err {
        PatchError::Conflict(m) => assert_eq!(
            m,
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
        ),
        other => panic!("want conflict, got {other:?}"),
    }
    let out = ssa(Some(&live), &applied("nginx", Some(5)), "kubectl", true).unwrap();
    assert_eq!(out["spec"]["replicas"], 5);
    let entries = out["metadata"]["managedFields"].as_array().unwrap();
    let other = entries
        .iter()
        .find(|e| e["manager"] == "kubectl-client-side-apply")
        .unwrap();
    assert!(
        other["fieldsV1"]["f:spec"].get("f:replicas").is_none(),
        "ownership moved: {other}"
    );
    assert!(other["fieldsV1"]["f:spec"]["f:selector"].is_object());
}

#[test]
fn same_values_are_shared_without_conflict() {
    let live = ssa(None, &applied("nginx", Some(2)), "a", false).unwrap();
    let out = ssa(Some(&live), &applied("nginx", Some(2)), "b", false).unwrap();
    assert_eq!(managers(&out).len(), 2);
    // b stops applying replicas; a still owns it, so it stays.
    let out = ssa(Some(&out), &applied("nginx", None), "b", false).unwrap();
    assert_eq!(out["spec"]["replicas"], 2);
}

#[test]
fn several_conflicts_are_listed() {
    let live = ssa(None, &applied("nginx", Some(2)), "other", false).unwrap();
    let PatchError::Conflict(m) =
        ssa(Some(&live), &applied("httpd", Some(3)), "kubectl", false).unwrap_err()
    else {
        panic!("want conflict")
    };
    assert!(
        m.starts_with("Apply failed with 2 conflicts: conflicts with \"other\" using apps/v1:"),
        "{m}"
    );
    assert!(m.contains("\n- .spec.replicas"), "{m}");
    assert!(
        m.contains("\n- .spec.template.spec.containers[name=\"web\"].image"),
        "{m}"
    );
}

#[test]
fn non_object_config_is_malformed() {
    assert!(matches!(
        ssa(None, &json!([1]), "kubectl", false),
        Err(PatchError::Malformed(_))
    ));
}

// === record_update: ownership from non-apply writes ===

use knet_api::patch::record_update;

#[test]
fn client_side_apply_create_then_server_side_apply_conflicts_like_kubernetes() {
    let mut created = applied("nginx", Some(2));
    record_update(
        deploy(),
        None,
        &mut created,
        "kubectl-client-side-apply",
        None,
        NOW,
    );
    let mf = &created["metadata"]["managedFields"][0];
    assert_eq!(
        (mf["manager"].as_str(), mf["operation"].as_str()),
        (Some("kubectl-client-side-apply"), Some("Update"))
    );
    assert_eq!(mf["fieldsV1"]["f:spec"]["f:replicas"], json!({}));
    let err = ssa(Some(&created), &applied("nginx", Some(3)), "kubectl", false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
    );
    // Same values: no conflict, shared ownership.
    let out = ssa(Some(&created), &applied("nginx", Some(2)), "kubectl", false).unwrap();
    assert_eq!(managers(&out).len(), 2);
}

#[test]
fn an_update_takes_changed_fields_from_other_managers() {
    let live = ssa(None, &applied("nginx", Some(2)), "kubectl", false).unwrap();
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(7);
    record_update(
        deploy(),
        Some(&live),
        &mut scaled,
        "kubectl-scale",
        None,
        NOW,
    );
    let entries = scaled["metadata"]["managedFields"].as_array().unwrap();
    let apply = entries.iter().find(|e| e["manager"] == "kubectl").unwrap();
    let scale = entries
        .iter()
        .find(|e| e["manager"] == "kubectl-scale")
        .unwrap();
    assert!(
        apply["fieldsV1"]["f:spec"].get("f:replicas").is_none(),
        "{apply}"
    );
    assert_eq!(scale["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));
    // Re-applying replicas now conflicts with the scaler.
    let err = ssa(Some(&scaled), &applied("nginx", Some(2)), "kubectl", false).unwrap_err();
    assert!(err.to_string().contains("\"kubectl-scale\""), "{err}");
}

#[test]
fn an_update_that_changes_nothing_records_nothing() {
    let live = ssa(None, &applied("nginx", Some(2)), "kubectl", false).unwrap();
    let mut same = live.clone();
    record_update(
        deploy(),
        Some(&live),
        &mut same,
        "other",
        None,
        "2030-01-01T00:00:00Z",
    );
    assert_eq!(same, live);
}

#[test]
fn identical_reapply_keeps_the_entry_time() {
    let live = ssa(None, &applied("nginx", Some(2)), "kubectl", false).unwrap();
    let again = server_side_apply_at(
        deploy(),
        Some(&live),
        &applied("nginx", Some(2)),
        "kubectl",
        false,
        "2030-01-01T00:00:00Z",
    )
    .unwrap();
    assert_eq!(again, live, "an unchanged apply is a no-op");
}
