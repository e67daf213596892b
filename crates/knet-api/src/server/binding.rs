//! `pods/binding` and the `bindings` collection: how a scheduler assigns a
//! pod to a node, as kube-apiserver's BindingREST does it — `spec.nodeName`
//! is set once (a second binding is a 409 Conflict), the binding's
//! annotations are copied onto the pod, and the pod gets a `PodScheduled`
//! condition. The reply is a `Status` Success with code 201.

use super::Api;
use super::admit::{self, FieldValidation};
use super::request::{Query, Target};
use super::respond;
use crate::status::{ApiError, Cause};
use crate::store::{Key, Mutation};
use serde_json::{Value, json};

/// What a valid Binding asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BindRequest {
    /// The pod to bind.
    pub(crate) pod: String,
    /// The node to bind it to.
    pub(crate) node: String,
    /// Annotations to copy onto the pod.
    pub(crate) annotations: serde_json::Map<String, Value>,
    /// Preconditions on the pod (`metadata.uid`, `metadata.resourceVersion`).
    pub(crate) uid: Option<String>,
    pub(crate) resource_version: Option<String>,
}

/// Checks a Binding body. `url_name` is the pod named by a `pods/{name}/binding`
/// path (None for the `bindings` collection, where the body names the pod).
pub(crate) fn parse(binding: &Value, url_name: Option<&str>) -> Result<BindRequest, ApiError> {
    let body_name = admit::meta_str(binding, "name");
    let pod = match (url_name, body_name) {
        (Some(u), Some(b)) if u != b => {
            return Err(ApiError::bad_request(
                "name in URL does not match name in Binding object",
            ));
        }
        (Some(u), _) => u.to_string(),
        (None, Some(b)) => b.to_string(),
        (None, None) => {
            return Err(ApiError::invalid(
                "",
                "Binding",
                "",
                vec![Cause::new(
                    "FieldValueRequired",
                    "metadata.name",
                    "Required value: name or generateName is required",
                )],
            ));
        }
    };
    let target = &binding["target"];
    let mut causes = Vec::new();
    let kind = target["kind"].as_str().unwrap_or("");
    if !kind.is_empty() && kind != "Node" {
        causes.push(Cause::new(
            "FieldValueNotSupported",
            "target.kind",
            format!("Unsupported value: {kind:?}: supported values: \"Node\", \"<empty>\""),
        ));
    }
    let node = target["name"].as_str().unwrap_or("");
    if node.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "target.name",
            "Required value",
        ));
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid("", "Binding", &pod, causes));
    }
    Ok(BindRequest {
        pod,
        node: node.to_string(),
        annotations: binding["metadata"]["annotations"]
            .as_object()
            .cloned()
            .unwrap_or_default(),
        uid: admit::meta_str(binding, "uid").map(str::to_string),
        resource_version: admit::meta_str(binding, "resourceVersion").map(str::to_string),
    })
}

fn conflict(pod: &str, why: String) -> ApiError {
    ApiError::new(
        409,
        "Conflict",
        format!("Operation cannot be fulfilled on pods \"{pod}\": {why}"),
    )
    .with_details("", "pods", pod)
}

/// The pod after binding `req` to it, or the Conflict kube-apiserver returns.
pub(crate) fn assign(pod: &Value, req: &BindRequest, now: &str) -> Result<Value, ApiError> {
    let name = &req.pod;
    if let Some(uid) = &req.uid
        && admit::meta_str(pod, "uid") != Some(uid.as_str())
    {
        return Err(conflict(
            name,
            format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                admit::meta_str(pod, "uid").unwrap_or("")
            ),
        ));
    }
    if let Some(rv) = &req.resource_version
        && admit::meta_str(pod, "resourceVersion") != Some(rv.as_str())
    {
        return Err(ApiError::conflict("", "pods", name));
    }
    if pod["metadata"]["deletionTimestamp"].is_string() {
        return Err(conflict(
            name,
            format!("pod {name} is being deleted, cannot be assigned to a host"),
        ));
    }
    if let Some(node) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
        return Err(conflict(
            name,
            format!("pod {name} is already assigned to node {node:?}"),
        ));
    }
    if pod["spec"]["schedulingGates"]
        .as_array()
        .is_some_and(|g| !g.is_empty())
    {
        return Err(conflict(
            name,
            format!("pod {name} has non-empty .spec.schedulingGates"),
        ));
    }
    let mut out = pod.clone();
    out["spec"]["nodeName"] = json!(req.node);
    if !req.annotations.is_empty() {
        let meta = admit::metadata(&mut out);
        let ann = meta.entry("annotations").or_insert_with(|| json!({}));
        if !ann.is_object() {
            *ann = json!({});
        }
        if let Some(a) = ann.as_object_mut() {
            for (k, v) in &req.annotations {
                a.insert(k.clone(), v.clone());
            }
        }
    }
    set_scheduled(&mut out, now);
    Ok(out)
}

/// Sets condition `PodScheduled=True`, keeping its transition time when it
/// was already True (podutil.UpdatePodCondition).
fn set_scheduled(pod: &mut Value, now: &str) {
    if !pod["status"].is_object() {
        pod["status"] = json!({});
    }
    if !pod["status"]["conditions"].is_array() {
        pod["status"]["conditions"] = json!([]);
    }
    let Some(conds) = pod["status"]["conditions"].as_array_mut() else {
        return;
    };
    let mut cond = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                          "lastTransitionTime": now});
    match conds.iter_mut().find(|c| c["type"] == "PodScheduled") {
        Some(old) => {
            if old["status"] == "True" && old["lastTransitionTime"].is_string() {
                cond["lastTransitionTime"] = old["lastTransitionTime"].clone();
            }
            *old = cond;
        }
        None => conds.push(cond),
    }
}

/// `POST …/pods/{name}/binding` or `POST …/bindings`.
pub(crate) async fn create(
    api: &Api,
    t: &Target,
    q: &Query,
    mut body: Value,
) -> Result<axum::response::Response, ApiError> {
    let bindings =
        crate::resources::lookup("", "v1", "bindings").expect("bindings is a served resource");
    let fv = FieldValidation::parse(q.get("fieldValidation"))?;
    let mut warnings = Vec::new();
    admit::check_body(bindings, &mut body, fv, &mut warnings)?;
    admit::place(bindings, &mut body, t.namespace.as_deref())?;
    let url_name = if t.sub.is_some() {
        t.name.as_deref()
    } else {
        None
    };
    let req = parse(&body, url_name)?;
    let dry_run = q.get("dryRun").is_some_and(|v| v == "All");
    let key = Key::new("", "pods", t.namespace.as_deref().unwrap_or(""), &req.pod);
    let now = admit::now();
    api.store
        .mutate(&key, |cur| {
            let cur = cur.ok_or_else(|| ApiError::not_found("", "pods", &req.pod))?;
            let new = assign(&cur, &req, &now)?;
            Ok(if dry_run {
                Mutation::Keep(new)
            } else {
                Mutation::Put(new)
            })
        })
        .await?;
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                        "status": "Success", "code": 201});
    Ok(respond::with_warnings(
        respond::json(201, &status),
        &warnings,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Value {
        json!({"metadata": {"name": "p", "uid": "u1", "resourceVersion": "7"},
               "spec": {"containers": [{"name": "c", "image": "x"}]},
               "status": {"phase": "Pending"}})
    }

    fn binding(name: &str, node: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
               "target": {"kind": "Node", "name": node}})
    }

    #[test]
    fn parse_checks_names_and_target() {
        let r = parse(&binding("p", "n1"), Some("p")).unwrap();
        assert_eq!((r.pod.as_str(), r.node.as_str()), ("p", "n1"));
        assert_eq!(parse(&binding("", "n1"), Some("p")).unwrap().pod, "p");
        let e = parse(&binding("q", "n1"), Some("p")).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (400, "name in URL does not match name in Binding object")
        );
        let e = parse(&binding("p", ""), None).unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(e.causes[0].field, "target.name");
        let mut odd = binding("p", "n1");
        odd["target"]["kind"] = json!("Pod");
        let e = parse(&odd, None).unwrap_err();
        assert_eq!(e.causes[0].field, "target.kind");
        assert_eq!(
            parse(&json!({"target": {"name": "n"}}), None)
                .unwrap_err()
                .code,
            422
        );
    }

    #[test]
    fn assign_sets_node_condition_and_annotations() {
        let mut b = binding("p", "n1");
        b["metadata"]["annotations"] = json!({"a": "b"});
        let req = parse(&b, Some("p")).unwrap();
        let out = assign(&pod(), &req, "2026-01-01T00:00:00Z").unwrap();
        assert_eq!(out["spec"]["nodeName"], "n1");
        assert_eq!(out["metadata"]["annotations"]["a"], "b");
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                    "lastTransitionTime": "2026-01-01T00:00:00Z"}])
        );
        assert_eq!(out["status"]["phase"], "Pending");
    }

    #[test]
    fn assign_refuses_bound_deleting_gated_and_stale_pods() {
        let req = parse(&binding("p", "n2"), Some("p")).unwrap();
        let mut bound = pod();
        bound["spec"]["nodeName"] = json!("n1");
        let e = assign(&bound, &req, "t").unwrap_err();
        assert_eq!(e.code, 409);
        assert_eq!(
            e.message,
            "Operation cannot be fulfilled on pods \"p\": pod p is already assigned to node \"n1\""
        );
        let mut deleting = pod();
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert!(
            assign(&deleting, &req, "t")
                .unwrap_err()
                .message
                .contains("is being deleted")
        );
        let mut gated = pod();
        gated["spec"]["schedulingGates"] = json!([{"name": "g"}]);
        assert_eq!(assign(&gated, &req, "t").unwrap_err().code, 409);
        let mut stale = binding("p", "n2");
        stale["metadata"]["resourceVersion"] = json!("6");
        let stale = parse(&stale, Some("p")).unwrap();
        assert_eq!(assign(&pod(), &stale, "t").unwrap_err().reason, "Conflict");
        let mut wrong_uid = binding("p", "n2");
        wrong_uid["metadata"]["uid"] = json!("u2");
        let wrong_uid = parse(&wrong_uid, Some("p")).unwrap();
        assert!(
            assign(&pod(), &wrong_uid, "t")
                .unwrap_err()
                .message
                .contains("Precondition failed")
        );
    }

    #[test]
    fn existing_scheduled_condition_is_replaced() {
        let mut p = pod();
        p["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "lastTransitionTime": "old"}]);
        let req = parse(&binding("p", "n1"), Some("p")).unwrap();
        let out = assign(&p, &req, "new").unwrap();
        let conds = out["status"]["conditions"].as_array().unwrap();
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0]["status"], "True");
        assert_eq!(conds[0]["lastTransitionTime"], "new");
        assert!(conds[0].get("reason").is_none());
    }
}
