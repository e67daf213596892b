//! Patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic
//! merge patch with Kubernetes' merge keys and directives, and server-side
//! apply. All pure functions over `serde_json::Value`.
//!
//! CONTRACT (used by the server; owned by the patch work): keep these
//! signatures; add private helpers and submodules freely.

mod apply;
mod fields;
mod json_patch;
mod managed;
mod schema;
mod strategic;

use crate::resources::Resource;
use crate::status::ApiError;
use serde_json::Value;

/// Why a patch could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The patch document is malformed (400 BadRequest).
    #[error("{0}")]
    Malformed(String),
    /// The patch is well-formed but cannot apply to this object (422 Invalid).
    #[error("{0}")]
    Unapplicable(String),
    /// Server-side apply conflict with another field manager (409 Conflict).
    #[error("{0}")]
    Conflict(String),
}

impl From<PatchError> for ApiError {
    fn from(e: PatchError) -> Self {
        match e {
            PatchError::Malformed(m) => ApiError::bad_request(m),
            PatchError::Unapplicable(m) => ApiError::new(422, "Invalid", m),
            PatchError::Conflict(m) => ApiError::new(409, "Conflict", m),
        }
    }
}

/// `application/merge-patch+json`: RFC 7386.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    let mut out = match target {
        Value::Object(t) => t.clone(),
        _ => serde_json::Map::new(),
    };
    for (k, v) in p {
        if v.is_null() {
            out.remove(k);
        } else {
            let merged = merge_patch(out.get(k).unwrap_or(&Value::Null), v);
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

/// `application/json-patch+json`: RFC 6902.
///
/// Operations apply in order to a copy of `target`; any failure (including a
/// failed `test`) leaves the object untouched.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    json_patch::apply(target, patch)
}

/// `application/strategic-merge-patch+json` for `resource`'s kind.
///
/// Lists merge by Kubernetes' `patchMergeKey`s for the kind (see
/// `patch/schema.rs`); the `$patch`, `$setElementOrder/…`, `$retainKeys` and
/// `$deleteFromPrimitiveList/…` directives are honoured.
pub fn strategic_merge_patch(
    resource: &Resource,
    original: &Value,
    patch: &Value,
) -> Result<Value, PatchError> {
    strategic::apply(resource.kind, original, patch)
}

/// `application/apply-patch+yaml` (server-side apply, create-or-merge): merges
/// `applied` (already parsed from YAML/JSON) into `live` (None = create) as
/// field manager `manager`, recording `metadata.managedFields`.
///
/// Fields owned by another manager whose values `applied` changes are a
/// conflict (409) unless `force`, which transfers their ownership. Fields
/// this manager applied before and `applied` no longer sets are removed.
pub fn server_side_apply(
    resource: &Resource,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
) -> Result<Value, PatchError> {
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    apply::server_side_apply_at(resource, live, applied, manager, force, &now)
}

/// [`server_side_apply`] with the time recorded in `managedFields` given
/// (RFC 3339), for callers that own the clock and for tests.
pub fn server_side_apply_at(
    resource: &Resource,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, PatchError> {
    apply::server_side_apply_at(resource, live, applied, manager, force, now)
}

/// Records a create/update/patch (any write that is not server-side apply)
/// in `new.metadata.managedFields`, as kube-apiserver does: `manager`'s
/// `Update` entry takes every field whose value changed from `old` (`None`
/// for a create), other managers give those fields up, and removed fields
/// leave every entry. `subresource` is `Some("status")` for status writes.
/// This is what lets a later `kubectl apply --server-side` see fields
/// `kubectl-client-side-apply` or `kubectl-create` set and report conflicts.
pub fn record_update(
    resource: &Resource,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
    now: &str,
) {
    managed::record_update(resource, old, new, manager, subresource, now);
}
