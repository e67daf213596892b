//! Pure admission steps shared by create, update and patch: type checks,
//! unknown-field handling (`fieldValidation`), namespace/name rules, and the
//! system-owned metadata Kubernetes sets.

use crate::resources::Resource;
use crate::status::{ApiError, Cause};
use crate::validation;
use serde_json::{Value, json};

/// How unknown fields are treated (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

impl FieldValidation {
    /// Parses the query value; absent means Warn (the server default).
    pub(crate) fn parse(v: Option<&str>) -> Result<Self, ApiError> {
        match v {
            None | Some("") | Some("Warn") => Ok(Self::Warn),
            Some("Strict") => Ok(Self::Strict),
            Some("Ignore") => Ok(Self::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of Ignore, Warn or Strict, got {other:?}"
            ))),
        }
    }
}

/// Checks `apiVersion`/`kind` against the resource (filling them in when
/// absent), then handles unknown fields: Strict → 400, Warn → warnings,
/// Ignore → dropped without looking for them (kube-apiserver's non-strict
/// decode). Unknown fields are always removed from `obj`; an object that does
/// not decode is a 400 in every mode.
pub(crate) fn check_body(
    r: &Resource,
    obj: &mut Value,
    fv: FieldValidation,
    warnings: &mut Vec<String>,
) -> Result<(), ApiError> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    };
    let want = r.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), json!(want));
        }
        Some(v) if v == want => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({want})"
            )));
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("kind".into(), json!(r.kind));
        }
        Some(k) if k == r.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                r.kind
            )));
        }
    }
    if fv == FieldValidation::Ignore {
        // kube-apiserver decodes non-strictly: no detection, no warnings.
        return validation::drop_unknown_fields(r, obj).map_err(ApiError::bad_request);
    }
    let unknown = validation::unknown_fields(r, obj).map_err(ApiError::bad_request)?;
    if unknown.is_empty() {
        return Ok(());
    }
    match fv {
        FieldValidation::Strict => {
            let msgs: Vec<String> = unknown
                .iter()
                .map(|f| format!("unknown field {f:?}"))
                .collect();
            let msg = if msgs.len() == 1 {
                msgs[0].clone()
            } else {
                format!("[{}]", msgs.join(", "))
            };
            return Err(ApiError::bad_request(format!(
                "strict decoding error: {msg}"
            )));
        }
        FieldValidation::Warn => {
            warnings.extend(unknown.iter().map(|f| format!("unknown field {f:?}")))
        }
        FieldValidation::Ignore => {}
    }
    for path in &unknown {
        remove_path(obj, path);
    }
    Ok(())
}

/// Removes `a.b[0].c` from `obj`, if present.
pub(crate) fn remove_path(obj: &mut Value, path: &str) {
    let mut segs: Vec<(String, Option<usize>)> = Vec::new();
    for part in path.split('.') {
        match part.split_once('[') {
            Some((name, idx)) => {
                let i = idx.trim_end_matches(']').parse().ok();
                segs.push((name.to_string(), i));
            }
            None => segs.push((part.to_string(), None)),
        }
    }
    let Some(((last, last_idx), parents)) = segs.split_last() else {
        return;
    };
    let mut cur = obj;
    for (name, idx) in parents {
        let Some(next) = cur.get_mut(name.as_str()) else {
            return;
        };
        cur = match idx {
            Some(i) => match next.get_mut(*i) {
                Some(v) => v,
                None => return,
            },
            None => next,
        };
    }
    if last_idx.is_none()
        && let Some(m) = cur.as_object_mut()
    {
        m.remove(last.as_str());
    }
}

/// Puts the object in the request's namespace (or checks it matches), and
/// clears it for cluster-scoped resources.
pub(crate) fn place(
    r: &Resource,
    obj: &mut Value,
    namespace: Option<&str>,
) -> Result<(), ApiError> {
    let meta = metadata(obj);
    if !r.namespaced {
        meta.remove("namespace");
        return Ok(());
    }
    let want = namespace.unwrap_or("default");
    match meta.get("namespace").and_then(Value::as_str) {
        None | Some("") => {
            meta.insert("namespace".into(), json!(want));
            Ok(())
        }
        Some(ns) if ns == want => Ok(()),
        Some(_) => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
    }
}

/// `metadata` as a mutable map (created if missing or not an object).
pub(crate) fn metadata(obj: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .expect("metadata is an object")
}

/// A string field of `metadata`.
pub(crate) fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj["metadata"][field].as_str().filter(|s| !s.is_empty())
}

/// Resolves `generateName` and requires a name.
pub(crate) fn name_for_create(r: &Resource, obj: &mut Value) -> Result<String, ApiError> {
    if let Some(n) = meta_str(obj, "name") {
        return Ok(n.to_string());
    }
    if let Some(prefix) = meta_str(obj, "generateName").map(str::to_string) {
        let name = format!("{prefix}{}", random_suffix());
        metadata(obj).insert("name".into(), json!(name));
        return Ok(name);
    }
    Err(ApiError::invalid(
        r.group,
        r.kind,
        "",
        vec![Cause::new(
            "FieldValueRequired",
            "metadata.name",
            "Required value: name or generateName is required",
        )],
    ))
}

fn random_suffix() -> String {
    use rand::Rng;
    // Kubernetes' alphabet: no vowels, no confusable characters.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Now as Kubernetes writes timestamps (`2025-01-02T03:04:05Z`).
pub(crate) fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// RFC 3339 time `secs` seconds from now (a pod's deletionTimestamp).
pub(crate) fn now_plus(secs: i64) -> String {
    let t = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(secs);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Sets what the server owns on a new object: uid, creationTimestamp,
/// generation, and clears what clients may not set.
pub(crate) fn stamp_new(obj: &mut Value) {
    let has_spec = obj.get("spec").is_some();
    let meta = metadata(obj);
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), json!(now()));
    meta.remove("resourceVersion");
    meta.remove("deletionTimestamp");
    meta.remove("deletionGracePeriodSeconds");
    meta.remove("selfLink");
    if has_spec {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.remove("generation");
    }
}

/// Carries server-owned metadata from `old` into an updated `new`, and bumps
/// `generation` when the spec changed.
pub(crate) fn carry_over(old: &Value, new: &mut Value) {
    let spec_changed = old.get("spec") != new.get("spec");
    let old_gen = old["metadata"]["generation"].as_i64();
    let om = old["metadata"].clone();
    let meta = metadata(new);
    for f in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "namespace",
        "name",
    ] {
        match om.get(f) {
            Some(v) if !v.is_null() => {
                meta.insert(f.into(), v.clone());
            }
            _ => {
                meta.remove(f);
            }
        }
    }
    meta.remove("selfLink");
    if let Some(g) = old_gen {
        meta.insert(
            "generation".into(),
            json!(if spec_changed { g + 1 } else { g }),
        );
    }
}

/// Whether `a` and `b` are the same apart from `metadata.resourceVersion`
/// and `managedFields` timestamps.
pub(crate) fn same_object(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        v
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::lookup;

    #[test]
    fn remove_path_handles_nested_lists() {
        let mut v = json!({"spec":{"foo":1,"containers":[{"name":"a","bogus":true}]}});
        remove_path(&mut v, "spec.foo");
        remove_path(&mut v, "spec.containers[0].bogus");
        remove_path(&mut v, "spec.missing[3].x");
        assert_eq!(v, json!({"spec":{"containers":[{"name":"a"}]}}));
    }

    #[test]
    fn ignore_drops_unknown_fields_without_reporting_them() {
        let d = lookup("apps", "v1", "deployments").unwrap();
        let body = json!({"metadata": {"name": "x", "labels": {"a.b/c": "d"}, "creationTimestamp": null},
            "spec": {"bogus": 1, "replicas": 2, "template": {"spec": {
                "containers": [{"name": "c", "image": "i", "extra": {"x": 1}}]}}}});
        let mut w = Vec::new();
        let err = check_body(d, &mut body.clone(), FieldValidation::Strict, &mut w).unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(
            err.message,
            "strict decoding error: [unknown field \"spec.bogus\", unknown field \"spec.template.spec.containers[0].extra\"]"
        );
        let mut warned = body.clone();
        check_body(d, &mut warned, FieldValidation::Warn, &mut w).unwrap();
        assert_eq!(
            w,
            [
                "unknown field \"spec.bogus\"",
                "unknown field \"spec.template.spec.containers[0].extra\""
            ]
        );
        let mut ignored = body.clone();
        let mut none = Vec::new();
        check_body(d, &mut ignored, FieldValidation::Ignore, &mut none).unwrap();
        assert!(none.is_empty(), "{none:?}");
        assert_eq!(ignored, warned, "the same object is stored as with Warn");
        assert!(ignored["spec"].get("bogus").is_none());
        assert_eq!(ignored["metadata"]["labels"]["a.b/c"], "d");
        assert!(ignored["metadata"]["creationTimestamp"].is_null());
        // A dotted unknown key is dropped too (Warn's path-based removal
        // cannot address it).
        let mut dotted = json!({"metadata": {"name": "x", "a.b": 1}});
        check_body(d, &mut dotted, FieldValidation::Ignore, &mut none).unwrap();
        assert_eq!(dotted["metadata"], json!({"name": "x"}));
        // Not decoding is an error whatever the mode, as in kube-apiserver.
        let mut wrong = json!({"metadata": {"name": "x"}, "spec": {"replicas": "two"}});
        let err = check_body(d, &mut wrong, FieldValidation::Ignore, &mut none).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(
            err.message.contains("cannot be handled as a Deployment"),
            "{}",
            err.message
        );
    }

    #[test]
    fn type_and_namespace_checks() {
        let d = lookup("apps", "v1", "deployments").unwrap();
        let mut w = Vec::new();
        let mut obj = json!({"metadata":{"name":"x"}});
        check_body(d, &mut obj, FieldValidation::Strict, &mut w).unwrap();
        assert_eq!(
            (obj["apiVersion"].as_str(), obj["kind"].as_str()),
            (Some("apps/v1"), Some("Deployment"))
        );
        let mut bad = json!({"apiVersion":"v1","kind":"Deployment"});
        assert_eq!(
            check_body(d, &mut bad, FieldValidation::Strict, &mut w)
                .unwrap_err()
                .code,
            400
        );
        place(d, &mut obj, Some("team")).unwrap();
        assert_eq!(obj["metadata"]["namespace"], "team");
        assert_eq!(place(d, &mut obj, Some("other")).unwrap_err().code, 400);
        let ns = lookup("", "v1", "namespaces").unwrap();
        let mut n = json!({"metadata":{"name":"a","namespace":"x"}});
        place(ns, &mut n, None).unwrap();
        assert!(n["metadata"].get("namespace").is_none());
    }

    #[test]
    fn generate_name_and_generation() {
        let p = lookup("", "v1", "pods").unwrap();
        let mut obj = json!({"metadata":{"generateName":"web-"},"spec":{}});
        let name = name_for_create(p, &mut obj).unwrap();
        assert!(name.starts_with("web-") && name.len() == 9, "{name}");
        let mut none = json!({"metadata":{}});
        assert_eq!(name_for_create(p, &mut none).unwrap_err().code, 422);
        stamp_new(&mut obj);
        assert_eq!(obj["metadata"]["generation"], 1);
        let mut next = obj.clone();
        next["spec"]["x"] = json!(1);
        next["metadata"]["uid"] = json!("forged");
        carry_over(&obj, &mut next);
        assert_eq!(next["metadata"]["generation"], 2);
        assert_eq!(next["metadata"]["uid"], obj["metadata"]["uid"]);
    }
}
