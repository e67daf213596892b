//! Delete and deletecollection: finalizers turn a delete into setting
//! `deletionTimestamp`; deleting a namespace removes what it holds.

use super::Api;
use super::admit;
use super::read;
use super::request::{Query, Target};
use super::respond;
use crate::resources::{RESOURCES, Resource};
use crate::status::ApiError;
use crate::store::{Key, Mutation};
use axum::response::Response;
use serde_json::{Value, json};

/// Namespaces Kubernetes refuses to delete.
const PROTECTED_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// The `DeleteOptions` knet honours.
#[derive(Debug, Default)]
pub(crate) struct DeleteOptions {
    uid: Option<String>,
    resource_version: Option<String>,
    dry_run: bool,
}

impl DeleteOptions {
    /// From the query and an optional JSON body.
    pub(crate) fn parse(q: &Query, body: Option<&Value>) -> Result<Self, ApiError> {
        let empty = json!({});
        let b = body.unwrap_or(&empty);
        if let Some(p) = b.get("propagationPolicy").and_then(Value::as_str)
            && !matches!(p, "Orphan" | "Background" | "Foreground")
        {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy must be one of Orphan, Background or Foreground, got {p:?}"
            )));
        }
        let dry = b["dryRun"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "All"))
            || q.get("dryRun") == Some("All");
        Ok(Self {
            uid: b["preconditions"]["uid"].as_str().map(str::to_string),
            resource_version: b["preconditions"]["resourceVersion"]
                .as_str()
                .map(str::to_string),
            dry_run: dry,
        })
    }
}

/// Deletes one object (or marks it for deletion when it has finalizers).
pub(crate) async fn delete_one(
    api: &Api,
    r: &'static Resource,
    ns: &str,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Value, ApiError> {
    if (r.group, r.plural) == ("", "namespaces") {
        if PROTECTED_NAMESPACES.contains(&name) {
            return Err(ApiError::new(
                403,
                "Forbidden",
                format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted"),
            )
            .with_details("", "namespaces", name));
        }
        if api
            .store
            .get(&Key::new("", "namespaces", "", name))
            .is_none()
        {
            return Err(ApiError::not_found("", "namespaces", name));
        }
        if !opts.dry_run {
            empty_namespace(api, name).await?;
        }
    }
    let key = Key::new(r.group, r.plural, ns, name);
    let (obj, _) = api
        .store
        .mutate(&key, |cur| {
            let cur = cur.ok_or_else(|| ApiError::not_found(r.group, r.plural, name))?;
            let conflict = |what: &str, want: &str, got: &str| {
                ApiError::conflict(r.group, r.plural, name).with_message(format!(
                    "Precondition failed: {what}: {want}, {what} in object meta: {got}"
                ))
            };
            let got_uid = admit::meta_str(&cur, "uid").unwrap_or("");
            if let Some(u) = opts.uid.as_deref().filter(|u| *u != got_uid) {
                return Err(conflict("UID in precondition", u, got_uid));
            }
            let got_rv = admit::meta_str(&cur, "resourceVersion").unwrap_or("");
            if let Some(v) = opts.resource_version.as_deref().filter(|v| *v != got_rv) {
                return Err(conflict("ResourceVersion in precondition", v, got_rv));
            }
            if opts.dry_run {
                return Ok(Mutation::Keep(cur));
            }
            let has_finalizers = cur["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| !f.is_empty());
            if has_finalizers {
                if cur["metadata"]["deletionTimestamp"].is_string() {
                    return Ok(Mutation::Keep(cur));
                }
                let mut next = cur;
                let m = admit::metadata(&mut next);
                m.insert("deletionTimestamp".into(), json!(admit::now()));
                m.insert("deletionGracePeriodSeconds".into(), json!(0));
                return Ok(Mutation::Put(next));
            }
            if (r.group, r.plural) == ("", "services") {
                api.alloc().release(&cur, None);
            }
            Ok(Mutation::Delete)
        })
        .await?;
    Ok(obj)
}

/// Removes every namespaced object in namespace `ns`.
async fn empty_namespace(api: &Api, ns: &str) -> Result<(), ApiError> {
    for r in RESOURCES.iter().filter(|r| r.namespaced) {
        let (items, _) = api
            .store
            .list_raw(&Key::prefix(r.group, r.plural, Some(ns)));
        for raw in items {
            let Ok(obj) = serde_json::from_slice::<Value>(&raw) else {
                continue;
            };
            let Some(name) = admit::meta_str(&obj, "name") else {
                continue;
            };
            let key = Key::new(r.group, r.plural, ns, name);
            let res = api
                .store
                .mutate(&key, |cur| {
                    if let Some(cur) = &cur
                        && (r.group, r.plural) == ("", "services")
                    {
                        api.alloc().release(cur, None);
                    }
                    Ok(if cur.is_some() {
                        Mutation::Delete
                    } else {
                        Mutation::Keep(Value::Null)
                    })
                })
                .await;
            res?;
        }
    }
    Ok(())
}

/// `DELETE` of an item.
pub(crate) async fn delete(
    api: &Api,
    t: &Target,
    q: &Query,
    body: Option<Value>,
) -> Result<Response, ApiError> {
    if t.sub.is_some() {
        return Err(ApiError::method_not_allowed(
            "subresources cannot be deleted",
        ));
    }
    let opts = DeleteOptions::parse(q, body.as_ref())?;
    let name = t.name.as_deref().unwrap_or("");
    let obj = delete_one(
        api,
        t.resource,
        t.namespace.as_deref().unwrap_or(""),
        name,
        &opts,
    )
    .await?;
    Ok(respond::json(200, &obj))
}

/// `DELETE` of a collection (with label/field selectors).
pub(crate) async fn delete_collection(
    api: &Api,
    t: &Target,
    q: &Query,
    body: Option<Value>,
) -> Result<Response, ApiError> {
    let opts = DeleteOptions::parse(q, body.as_ref())?;
    let r = t.resource;
    let (items, _) = read::select(api, t, q)?;
    let mut deleted = Vec::new();
    for obj in items {
        let ns = admit::meta_str(&obj, "namespace").unwrap_or("").to_string();
        let name = admit::meta_str(&obj, "name").unwrap_or("").to_string();
        match delete_one(api, r, &ns, &name, &opts).await {
            Ok(o) => deleted.push(o),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let list = json!({
        "kind": r.list_kind(),
        "apiVersion": r.api_version(),
        "metadata": {"resourceVersion": api.store.revision().to_string()},
        "items": deleted,
    });
    Ok(respond::json(200, &list))
}
