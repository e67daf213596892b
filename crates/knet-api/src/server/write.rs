//! Create, update (PUT) and patch, for items and their `status` and `scale`
//! subresources. Every write goes through [`Store::mutate`], so the read of
//! the current object, the precondition checks and the write are atomic.

use super::Api;
use super::admit::{self, FieldValidation};
use super::request::{Query, Target};
use super::respond;
use crate::resources::Resource;
use crate::status::ApiError;
use crate::store::{Key, Mutation};
use crate::{defaults, patch, validation};
use axum::response::Response;
use serde_json::{Value, json};

/// The parts of a request every write needs.
pub(crate) struct WriteCtx<'a> {
    pub(crate) api: &'a Api,
    pub(crate) target: &'a Target,
    pub(crate) fv: FieldValidation,
    pub(crate) dry_run: bool,
}

impl<'a> WriteCtx<'a> {
    pub(crate) fn new(api: &'a Api, target: &'a Target, q: &Query) -> Result<Self, ApiError> {
        Ok(Self {
            api,
            target,
            fv: FieldValidation::parse(q.get("fieldValidation"))?,
            dry_run: q.get("dryRun").is_some_and(|v| v == "All"),
        })
    }

    fn resource(&self) -> &'static Resource {
        self.target.resource
    }

    fn key(&self, name: &str) -> Key {
        let r = self.resource();
        Key::new(
            r.group,
            r.plural,
            self.target.namespace.as_deref().unwrap_or(""),
            name,
        )
    }
}

/// Fails with 404 unless namespace `ns` exists.
pub(crate) fn require_namespace(api: &Api, ns: &str) -> Result<(), ApiError> {
    if api.store.get(&Key::new("", "namespaces", "", ns)).is_none() {
        return Err(ApiError::not_found("", "namespaces", ns));
    }
    Ok(())
}

fn invalid(r: &Resource, obj: &Value, causes: Vec<crate::status::Cause>) -> ApiError {
    ApiError::invalid(
        r.group,
        r.kind,
        admit::meta_str(obj, "name").unwrap_or(""),
        causes,
    )
}

/// Everything a create does before the store: checks, naming, stamping,
/// defaulting, validation and Service allocation. Returns the object and its name.
fn admit_create(
    ctx: &WriteCtx<'_>,
    mut obj: Value,
    warnings: &mut Vec<String>,
) -> Result<(Value, String), ApiError> {
    let r = ctx.resource();
    admit::check_body(r, &mut obj, ctx.fv, warnings)?;
    admit::place(r, &mut obj, ctx.target.namespace.as_deref())?;
    let name = admit::name_for_create(r, &mut obj)?;
    admit::stamp_new(&mut obj);
    if (r.group, r.plural) == ("", "namespaces") && obj["status"]["phase"].is_null() {
        obj["status"] = json!({"phase": "Active"});
    }
    defaults::apply_defaults(r, &mut obj);
    let causes = validation::validate(r, &obj, None);
    if !causes.is_empty() {
        return Err(invalid(r, &obj, causes));
    }
    if is_service(r) && !ctx.dry_run {
        let mut alloc = ctx.api.alloc();
        alloc
            .allocate(&mut obj, None)
            .map_err(|c| invalid(r, &obj, c))?;
    }
    Ok((obj, name))
}

fn is_service(r: &Resource) -> bool {
    (r.group, r.plural) == ("", "services")
}

/// `POST` to a collection.
pub(crate) async fn create(ctx: WriteCtx<'_>, body: Value) -> Result<Response, ApiError> {
    let r = ctx.resource();
    let mut warnings = Vec::new();
    if let Some(ns) = &ctx.target.namespace {
        require_namespace(ctx.api, ns)?;
    }
    let (obj, name) = admit_create(&ctx, body, &mut warnings)?;
    if ctx.dry_run {
        return Ok(respond::with_warnings(respond::json(201, &obj), &warnings));
    }
    let key = ctx.key(&name);
    let kept = obj.clone();
    let res = ctx
        .api
        .store
        .mutate(&key, |cur| match cur {
            Some(_) => Err(ApiError::already_exists(r.group, r.plural, &name)),
            None => Ok(Mutation::Put(obj)),
        })
        .await;
    match res {
        Ok((stored, _)) => Ok(respond::with_warnings(
            respond::json(201, &stored),
            &warnings,
        )),
        Err(e) => {
            if is_service(r) {
                ctx.api.alloc().release(&kept, None);
            }
            Err(e)
        }
    }
}

/// The last step of every update: server-owned fields, defaulting,
/// validation, allocation, no-op detection and finalizer-driven removal.
fn finish_update(
    ctx: &WriteCtx<'_>,
    cur: &Value,
    mut new: Value,
    sub: Option<&str>,
) -> Result<Mutation, ApiError> {
    let r = ctx.resource();
    admit::carry_over(cur, &mut new);
    if sub.is_none() && r.has_subresource("ephemeralcontainers") {
        // As kube-apiserver: ephemeral containers change only through
        // their subresource; an update of the pod keeps the stored ones.
        keep_stored(&cur["spec"], &mut new["spec"], "ephemeralContainers");
    }
    if sub.is_none() && r.has_subresource("status") {
        keep_stored(cur, &mut new, "status");
    }
    defaults::apply_defaults(r, &mut new);
    let causes = validation::validate(r, &new, Some(cur));
    if !causes.is_empty() {
        return Err(invalid(r, &new, causes));
    }
    if admit::same_object(cur, &new) {
        return Ok(Mutation::Keep(cur.clone()));
    }
    // As kube-apiserver: an update that removes the last finalizer deletes
    // the object only when its deletion is not graceful (grace 0); a pod in
    // its grace period stays until the node agent deletes it.
    let finalized = new["metadata"]["deletionTimestamp"].is_string()
        && new["metadata"]["finalizers"]
            .as_array()
            .is_none_or(|f| f.is_empty())
        && cur["metadata"]["deletionGracePeriodSeconds"]
            .as_i64()
            .is_none_or(|g| g == 0);
    if ctx.dry_run {
        return Ok(Mutation::Keep(new));
    }
    if is_service(r) {
        let mut alloc = ctx.api.alloc();
        if finalized {
            alloc.release(cur, None);
        } else {
            alloc
                .allocate(&mut new, Some(cur))
                .map_err(|c| invalid(r, &new, c))?;
            alloc.release(cur, Some(&new));
        }
    }
    Ok(if finalized {
        Mutation::Delete
    } else {
        Mutation::Put(new)
    })
}

/// Sets `new[key]` to `cur[key]`, or removes it when `cur` has none: a
/// field only a subresource may change.
fn keep_stored(cur: &Value, new: &mut Value, key: &str) {
    match cur.get(key) {
        Some(v) => new[key] = v.clone(),
        None => {
            if let Some(m) = new.as_object_mut() {
                m.remove(key);
            }
        }
    }
}

fn check_precondition(r: &Resource, name: &str, cur: &Value, new: &Value) -> Result<(), ApiError> {
    match admit::meta_str(new, "resourceVersion") {
        Some(want) if Some(want) != admit::meta_str(cur, "resourceVersion") => {
            Err(ApiError::conflict(r.group, r.plural, name))
        }
        _ => Ok(()),
    }
}

/// Builds the object an update writes from the request body, per subresource.
fn updated(r: &Resource, cur: &Value, body: Value, sub: Option<&str>) -> Result<Value, ApiError> {
    let Some(sub) = sub else {
        return Ok(body);
    };
    let mut next = cur.clone();
    match sub {
        "status" => next["status"] = body.get("status").cloned().unwrap_or(Value::Null),
        "ephemeralcontainers" => {
            next["spec"]["ephemeralContainers"] = body["spec"]
                .get("ephemeralContainers")
                .cloned()
                .unwrap_or_else(|| json!([]));
        }
        "scale" => {
            let replicas = body["spec"]["replicas"].as_i64().unwrap_or(0);
            if replicas < 0 {
                return Err(ApiError::invalid(
                    "autoscaling",
                    "Scale",
                    admit::meta_str(cur, "name").unwrap_or(""),
                    vec![crate::status::Cause::new(
                        "FieldValueInvalid",
                        "spec.replicas",
                        format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                    )],
                ));
            }
            next["spec"]["replicas"] = json!(replicas);
        }
        other => {
            return Err(ApiError::not_found(
                r.group,
                &format!("{}/{other}", r.plural),
                "",
            ));
        }
    }
    // The body's resourceVersion goes along, as in a whole-object update.
    if let Some(rv) = admit::meta_str(&body, "resourceVersion") {
        admit::metadata(&mut next).insert("resourceVersion".into(), json!(rv));
    }
    Ok(next)
}

/// `autoscaling/v1 Scale` view of a workload.
pub(crate) fn scale_of(obj: &Value) -> Value {
    let labels = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let m = &obj["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
            "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"],
        },
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": labels},
    })
}

fn present(sub: Option<&str>, obj: &Value) -> Value {
    if sub == Some("scale") {
        scale_of(obj)
    } else {
        obj.clone()
    }
}

fn check_sub(r: &Resource, sub: Option<&str>) -> Result<(), ApiError> {
    match sub {
        None => Ok(()),
        Some(s @ ("status" | "scale" | "ephemeralcontainers")) if r.has_subresource(s) => Ok(()),
        Some(s) => Err(ApiError::method_not_allowed(format!(
            "{}/{s} does not support this method",
            r.qualified_plural()
        ))),
    }
}

/// `PUT` of an item, its status or its scale.
pub(crate) async fn update(ctx: WriteCtx<'_>, mut body: Value) -> Result<Response, ApiError> {
    let r = ctx.resource();
    let name = ctx.target.name.clone().unwrap_or_default();
    let sub = ctx.target.sub.as_deref();
    check_sub(r, sub)?;
    let mut warnings = Vec::new();
    if sub != Some("scale") {
        admit::check_body(r, &mut body, ctx.fv, &mut warnings)?;
        admit::place(r, &mut body, ctx.target.namespace.as_deref())?;
    }
    if let Some(n) = admit::meta_str(&body, "name").filter(|n| *n != name) {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    let key = ctx.key(&name);
    let (obj, _) = ctx
        .api
        .store
        .mutate(&key, |cur| {
            let cur = cur.ok_or_else(|| ApiError::not_found(r.group, r.plural, &name))?;
            check_precondition(r, &name, &cur, &body)?;
            let new = updated(r, &cur, body, sub)?;
            finish_update(&ctx, &cur, new, sub)
        })
        .await?;
    Ok(respond::with_warnings(
        respond::json(200, &present(sub, &obj)),
        &warnings,
    ))
}

/// The patch formats, by Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchKind {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchKind {
    pub(crate) fn from_media_type(m: &str) -> Result<Self, ApiError> {
        match m {
            "application/json-patch+json" => Ok(Self::Json),
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/strategic-merge-patch+json" => Ok(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(Self::Apply),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

/// The parts of a PATCH request.
pub(crate) struct PatchReq {
    pub(crate) kind: PatchKind,
    pub(crate) body: Value,
    pub(crate) manager: String,
    pub(crate) force: bool,
}

fn apply_patch(r: &Resource, base: Option<&Value>, p: &PatchReq) -> Result<Value, ApiError> {
    let empty = json!({});
    let b = base.unwrap_or(&empty);
    Ok(match p.kind {
        PatchKind::Json => patch::json_patch(b, &p.body)?,
        PatchKind::Merge => patch::merge_patch(b, &p.body),
        PatchKind::Strategic => patch::strategic_merge_patch(r, b, &p.body)?,
        PatchKind::Apply => patch::server_side_apply(r, base, &p.body, &p.manager, p.force)?,
    })
}

/// `PATCH` of an item, its status or its scale; server-side apply creates
/// a missing item.
pub(crate) async fn patch(ctx: WriteCtx<'_>, p: PatchReq) -> Result<Response, ApiError> {
    let r = ctx.resource();
    let name = ctx.target.name.clone().unwrap_or_default();
    let sub = ctx.target.sub.as_deref();
    check_sub(r, sub)?;
    let may_create = p.kind == PatchKind::Apply && sub.is_none();
    if may_create && let Some(ns) = &ctx.target.namespace {
        require_namespace(ctx.api, ns)?;
    }
    let mut warnings = Vec::new();
    let mut created = false;
    let key = ctx.key(&name);
    let (obj, _) = ctx
        .api
        .store
        .mutate(&key, |cur| {
            let Some(cur) = cur else {
                if !may_create {
                    return Err(ApiError::not_found(r.group, r.plural, &name));
                }
                let mut applied = apply_patch(r, None, &p)?;
                admit::metadata(&mut applied).insert("name".into(), json!(name));
                let (obj, _) = admit_create(&ctx, applied, &mut warnings)?;
                created = true;
                return Ok(if ctx.dry_run {
                    Mutation::Keep(obj)
                } else {
                    Mutation::Put(obj)
                });
            };
            let base = present(sub, &cur);
            let mut patched = apply_patch(r, Some(&base), &p)?;
            if sub.is_none() {
                admit::check_body(r, &mut patched, ctx.fv, &mut warnings)?;
            }
            check_precondition(r, &name, &cur, &patched)?;
            let new = updated(r, &cur, patched, sub)?;
            finish_update(&ctx, &cur, new, sub)
        })
        .await?;
    let code = if created { 201 } else { 200 };
    Ok(respond::with_warnings(
        respond::json(code, &present(sub, &obj)),
        &warnings,
    ))
}
