//! Delete and deletecollection: finalizers turn a delete into setting
//! `deletionTimestamp`; a pod bound to a node is deleted gracefully (it stays,
//! terminating, until its node agent removes it with a zero grace period);
//! deleting a namespace removes what it holds. As in kube-apiserver,
//! `propagationPolicy` Orphan (or the legacy `orphanDependents: true`) adds
//! the `orphan` finalizer and Foreground adds `foregroundDeletion`, so the
//! object stays (with a deletionTimestamp) until the garbage collector has
//! detached or deleted its dependents and removed the finalizer; Background
//! (the default for every type served here, as for apps/v1) removes both.

use super::Api;
use super::admit;
use super::read;
use super::request::{Query, Target};
use super::respond;
use crate::resources::{RESOURCES, Resource};
use crate::status::{ApiError, Cause};
use crate::store::{Key, Mutation};
use axum::response::Response;
use serde_json::{Value, json};

/// Namespaces Kubernetes refuses to delete.
const PROTECTED_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// Finalizer asking the garbage collector to detach the dependents first.
const ORPHAN_FINALIZER: &str = "orphan";
/// Finalizer asking the garbage collector to delete the dependents first.
const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// How a delete treats the object's dependents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Propagation {
    /// Dependents lose their owner reference and stay.
    Orphan,
    /// The object goes now; the garbage collector deletes dependents after.
    Background,
    /// Dependents go first, then the object.
    Foreground,
}

/// The `DeleteOptions` knet honours.
#[derive(Debug, Default)]
pub(crate) struct DeleteOptions {
    uid: Option<String>,
    resource_version: Option<String>,
    dry_run: bool,
    /// `gracePeriodSeconds`, if given.
    grace: Option<i64>,
    /// `propagationPolicy` or the legacy `orphanDependents`, if given.
    propagation: Option<Propagation>,
}

/// `propagationPolicy` and `orphanDependents` (body first, then query);
/// both at once is Invalid, as in kube-apiserver.
fn propagation(q: &Query, b: &Value) -> Result<Option<Propagation>, ApiError> {
    let policy = b["propagationPolicy"]
        .as_str()
        .or_else(|| q.get("propagationPolicy"));
    let orphan = b["orphanDependents"]
        .as_bool()
        .or_else(|| q.get("orphanDependents").and_then(|o| o.parse().ok()));
    if let (Some(p), Some(_)) = (policy, orphan) {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "DeleteOptions",
            "",
            vec![Cause::new(
                "FieldValueInvalid",
                "propagationPolicy",
                format!(
                    "Invalid value: \"{p}\": orphanDependents and deletionPropagation cannot be both set"
                ),
            )],
        ));
    }
    Ok(match (policy, orphan) {
        (Some("Orphan"), _) | (None, Some(true)) => Some(Propagation::Orphan),
        (Some("Background"), _) | (None, Some(false)) => Some(Propagation::Background),
        (Some("Foreground"), _) => Some(Propagation::Foreground),
        (Some(p), _) => {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy must be one of Orphan, Background or Foreground, got {p:?}"
            )));
        }
        (None, None) => None,
    })
}

/// The finalizers a delete leaves on an object (kube-apiserver's
/// `deletionFinalizersForGarbageCollection`): the garbage-collection ones
/// follow the requested policy; without one, those already set stay; the
/// default (Background) adds none. Other finalizers are kept in order.
fn gc_finalizers(current: &[String], policy: Option<Propagation>) -> Vec<String> {
    let has = |f: &str| current.iter().any(|x| x == f);
    let (orphan, foreground) = match policy {
        Some(Propagation::Orphan) => (true, false),
        Some(Propagation::Foreground) => (false, true),
        Some(Propagation::Background) => (false, false),
        None if has(ORPHAN_FINALIZER) => (true, false),
        None => (false, has(FOREGROUND_FINALIZER)),
    };
    let mut out: Vec<String> = current
        .iter()
        .filter(|f| *f != ORPHAN_FINALIZER && *f != FOREGROUND_FINALIZER)
        .cloned()
        .collect();
    if orphan {
        out.push(ORPHAN_FINALIZER.into());
    }
    if foreground {
        out.push(FOREGROUND_FINALIZER.into());
    }
    let same = out.len() == current.len() && out.iter().all(|f| has(f));
    if same { current.to_vec() } else { out }
}

impl DeleteOptions {
    /// From the query and an optional JSON body.
    pub(crate) fn parse(q: &Query, body: Option<&Value>) -> Result<Self, ApiError> {
        let empty = json!({});
        let b = body.unwrap_or(&empty);
        let propagation = propagation(q, b)?;
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
            grace: b["gracePeriodSeconds"]
                .as_i64()
                .or_else(|| q.get("gracePeriodSeconds").and_then(|g| g.parse().ok())),
            propagation,
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
            decide(api, r, name, cur, opts)
        })
        .await?;
    Ok(obj)
}

/// What one delete of the stored object `cur` writes: the preconditions,
/// dry run, finalizers and grace period of a single DELETE (shared by
/// delete and deletecollection, so both behave the same).
fn decide(
    api: &Api,
    r: &Resource,
    name: &str,
    cur: Value,
    opts: &DeleteOptions,
) -> Result<Mutation, ApiError> {
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
    Ok(match deletion(r, cur, opts, &admit::now_plus) {
        Deletion::Remove(cur) => {
            if (r.group, r.plural) == ("", "services") {
                api.alloc().release(&cur, None);
            }
            Mutation::Delete
        }
        Deletion::Mark(next) => Mutation::Put(next),
        Deletion::Keep(cur) => Mutation::Keep(cur),
    })
}

/// What a delete does to a stored object.
#[derive(Debug, PartialEq)]
enum Deletion {
    /// Remove it now.
    Remove(Value),
    /// Store it marked for deletion (deletionTimestamp, finalizers).
    Mark(Value),
    /// Already being deleted; leave it.
    Keep(Value),
}

/// A pod's grace period: bound, not finished pods get the requested one or
/// their `terminationGracePeriodSeconds` (default 30); others none.
fn pod_grace(r: &Resource, pod: &Value, requested: Option<i64>) -> i64 {
    if (r.group, r.plural) != ("", "pods")
        || pod["spec"]["nodeName"].as_str().unwrap_or("").is_empty()
        || matches!(
            pod["status"]["phase"].as_str(),
            Some("Succeeded" | "Failed")
        )
    {
        return 0;
    }
    requested
        .or_else(|| pod["spec"]["terminationGracePeriodSeconds"].as_i64())
        .unwrap_or(30)
        .max(0)
}

/// Decides a delete (pure). `at(secs)` is the RFC 3339 time `secs` from now.
fn deletion(
    r: &Resource,
    cur: Value,
    opts: &DeleteOptions,
    at: &dyn Fn(i64) -> String,
) -> Deletion {
    let current: Vec<String> = cur["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect();
    // Namespaces go through the namespace lifecycle, not the collector.
    let finalizers = if (r.group, r.plural) == ("", "namespaces") {
        current.clone()
    } else {
        gc_finalizers(&current, opts.propagation)
    };
    let terminating = cur["metadata"]["deletionTimestamp"].is_string();
    let grace = pod_grace(r, &cur, opts.grace);
    if finalizers.is_empty() && grace == 0 {
        // Also the node agent's final delete (grace 0) of a terminating pod.
        return Deletion::Remove(cur);
    }
    if terminating && finalizers == current {
        return Deletion::Keep(cur);
    }
    let mut next = cur;
    let m = admit::metadata(&mut next);
    if !terminating {
        m.insert("deletionTimestamp".into(), json!(at(grace)));
        m.insert("deletionGracePeriodSeconds".into(), json!(grace));
    }
    if finalizers.is_empty() {
        m.remove("finalizers");
    } else {
        m.insert("finalizers".into(), json!(finalizers));
    }
    Deletion::Mark(next)
}

/// Removes every namespaced object in namespace `ns`, one batch of durable
/// commits per resource (each removal still gets its own DELETED event).
async fn empty_namespace(api: &Api, ns: &str) -> Result<(), ApiError> {
    for r in RESOURCES.iter().filter(|r| r.namespaced) {
        let (items, _) = api
            .store
            .list_raw(&Key::prefix(r.group, r.plural, Some(ns)));
        let keys: Vec<Key> = items
            .iter()
            .filter_map(|raw| serde_json::from_slice::<Value>(raw).ok())
            .filter_map(|obj| {
                Some(Key::new(
                    r.group,
                    r.plural,
                    ns,
                    admit::meta_str(&obj, "name")?,
                ))
            })
            .collect();
        api.store
            .mutate_each(&keys, |_, cur| {
                let Some(cur) = cur else {
                    return Ok(Mutation::Keep(Value::Null));
                };
                if (r.group, r.plural) == ("", "services") {
                    api.alloc().release(&cur, None);
                }
                Ok(Mutation::Delete)
            })
            .await?;
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

/// `DELETE` of a collection (with label/field selectors): every selected
/// object is deleted exactly as a single DELETE with the same options would
/// delete it (each with its own revision and watch event), through batched
/// durable commits. As in kube-apiserver, an object gone in the meantime is
/// skipped, the first other error ends the request (what was deleted before
/// it stays deleted), and the answer is the list of the selected objects as
/// they were listed.
pub(crate) async fn delete_collection(
    api: &Api,
    t: &Target,
    q: &Query,
    body: Option<Value>,
) -> Result<Response, ApiError> {
    let opts = DeleteOptions::parse(q, body.as_ref())?;
    let r = t.resource;
    let (items, rv) = read::select(api, t, q)?;
    let names: Vec<(&str, &str)> = items
        .iter()
        .map(|o| {
            (
                admit::meta_str(o, "namespace").unwrap_or(""),
                admit::meta_str(o, "name").unwrap_or(""),
            )
        })
        .collect();
    if (r.group, r.plural) == ("", "namespaces") {
        // A namespace empties what it holds first: one at a time.
        for (_, name) in &names {
            match delete_one(api, r, "", name, &opts).await {
                Err(e) if e.code != 404 => return Err(e),
                _ => {}
            }
        }
    } else {
        let keys: Vec<Key> = names
            .iter()
            .map(|(ns, name)| Key::new(r.group, r.plural, ns, name))
            .collect();
        api.store
            .mutate_each(&keys, |i, cur| match cur {
                Some(cur) => decide(api, r, names[i].1, cur, &opts),
                None => Ok(Mutation::Keep(Value::Null)),
            })
            .await?;
    }
    let list = json!({
        "kind": r.list_kind(),
        "apiVersion": r.api_version(),
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    });
    Ok(respond::json(200, &list))
}

#[cfg(test)]
mod deletion_tests {
    use super::*;
    use crate::resources::lookup;

    fn opts(grace: Option<i64>) -> DeleteOptions {
        DeleteOptions {
            grace,
            ..Default::default()
        }
    }

    fn at(secs: i64) -> String {
        format!("T+{secs}")
    }

    fn policy(p: Propagation) -> DeleteOptions {
        DeleteOptions {
            propagation: Some(p),
            ..Default::default()
        }
    }

    fn finalizers(v: &Value) -> Vec<&str> {
        v["metadata"]["finalizers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    }

    #[test]
    fn orphan_and_foreground_mark_the_object_with_their_finalizer() {
        let deploys = lookup("apps", "v1", "deployments").unwrap();
        let d = json!({"metadata": {"name": "d", "finalizers": ["example.com/keep"]}});
        let Deletion::Mark(o) = deletion(deploys, d.clone(), &policy(Propagation::Orphan), &at)
        else {
            panic!("orphan marks")
        };
        assert_eq!(finalizers(&o), ["example.com/keep", "orphan"]);
        assert_eq!(o["metadata"]["deletionTimestamp"], "T+0");
        let Deletion::Mark(f) = deletion(deploys, o.clone(), &policy(Propagation::Foreground), &at)
        else {
            panic!("a second delete may switch the policy")
        };
        assert_eq!(finalizers(&f), ["example.com/keep", "foregroundDeletion"]);
        assert!(
            matches!(
                deletion(deploys, f.clone(), &opts(None), &at),
                Deletion::Keep(_)
            ),
            "a delete without a policy keeps the finalizers set"
        );
        let plain = json!({"metadata": {"name": "d"}});
        assert!(matches!(
            deletion(deploys, plain.clone(), &opts(None), &at),
            Deletion::Remove(_)
        ));
        assert!(matches!(
            deletion(
                deploys,
                plain.clone(),
                &policy(Propagation::Background),
                &at
            ),
            Deletion::Remove(_)
        ));
        let Deletion::Mark(fg) = deletion(deploys, plain, &policy(Propagation::Foreground), &at)
        else {
            panic!("foreground marks")
        };
        assert_eq!(finalizers(&fg), ["foregroundDeletion"]);
        assert!(
            matches!(
                deletion(deploys, fg, &policy(Propagation::Background), &at),
                Deletion::Remove(_)
            ),
            "background drops the collector's finalizer: nothing left to wait for"
        );
        let namespaces = lookup("", "v1", "namespaces").unwrap();
        assert!(matches!(
            deletion(
                namespaces,
                json!({"metadata": {"name": "n"}}),
                &policy(Propagation::Orphan),
                &at
            ),
            Deletion::Remove(_)
        ));
    }

    #[test]
    fn terminating_pod_with_foreground_waits_for_the_collector() {
        let pods = lookup("", "v1", "pods").unwrap();
        let pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}});
        let Deletion::Mark(m) = deletion(pods, pod, &policy(Propagation::Foreground), &at) else {
            panic!("marked")
        };
        assert_eq!(m["metadata"]["deletionTimestamp"], "T+30");
        assert_eq!(finalizers(&m), ["foregroundDeletion"]);
        assert!(
            matches!(deletion(pods, m, &opts(Some(0)), &at), Deletion::Keep(_)),
            "the node agent's final delete leaves the finalizer to the collector"
        );
    }

    #[test]
    fn delete_options_policy_and_legacy_orphan_dependents() {
        let q = Query::parse(None);
        let p = |b: Value| DeleteOptions::parse(&q, Some(&b)).map(|o| o.propagation);
        assert_eq!(
            p(json!({"propagationPolicy": "Orphan"})).unwrap(),
            Some(Propagation::Orphan)
        );
        assert_eq!(
            p(json!({"orphanDependents": true})).unwrap(),
            Some(Propagation::Orphan)
        );
        assert_eq!(
            p(json!({"orphanDependents": false})).unwrap(),
            Some(Propagation::Background)
        );
        assert_eq!(p(json!({})).unwrap(), None);
        let both =
            p(json!({"propagationPolicy": "Foreground", "orphanDependents": true})).unwrap_err();
        assert_eq!(both.code, 422);
        assert!(
            both.message.contains("cannot be both set"),
            "{}",
            both.message
        );
        assert_eq!(
            p(json!({"propagationPolicy": "Sideways"}))
                .unwrap_err()
                .code,
            400
        );
    }

    #[test]
    fn bound_pods_terminate_gracefully_until_their_node_agent_deletes_them() {
        let pods = lookup("", "v1", "pods").unwrap();
        let pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 5}});
        let Deletion::Mark(marked) = deletion(pods, pod.clone(), &opts(None), &at) else {
            panic!("marked")
        };
        assert_eq!(marked["metadata"]["deletionTimestamp"], "T+5");
        assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 5);
        assert!(
            matches!(
                deletion(pods, marked.clone(), &opts(None), &at),
                Deletion::Keep(_)
            ),
            "a second delete waits"
        );
        assert!(
            matches!(
                deletion(pods, marked, &opts(Some(0)), &at),
                Deletion::Remove(_)
            ),
            "the agent's grace-0 delete removes it"
        );
        assert!(
            matches!(
                deletion(pods, pod, &opts(Some(0)), &at),
                Deletion::Remove(_)
            ),
            "--grace-period=0 --force"
        );
        let unbound = json!({"metadata": {"name": "p"}, "spec": {}});
        assert!(
            matches!(
                deletion(pods, unbound, &opts(None), &at),
                Deletion::Remove(_)
            ),
            "no node: nothing to wait for"
        );
        let done = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Succeeded"}});
        assert!(matches!(
            deletion(pods, done, &opts(None), &at),
            Deletion::Remove(_)
        ));
    }
}
