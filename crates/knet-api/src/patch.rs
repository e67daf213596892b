//! Patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic
//! merge patch with Kubernetes' merge keys and directives, and server-side
//! apply. All pure functions over `serde_json::Value`.
//!
//! CONTRACT (used by the server; owned by the patch work): keep these
//! signatures; add private helpers and submodules freely.

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
pub fn json_patch(_target: &Value, _patch: &Value) -> Result<Value, PatchError> {
    Err(PatchError::Malformed("json patch is not supported yet".into()))
}

/// `application/strategic-merge-patch+json` for `resource`'s kind.
pub fn strategic_merge_patch(
    _resource: &Resource,
    _original: &Value,
    _patch: &Value,
) -> Result<Value, PatchError> {
    Err(PatchError::Malformed("strategic merge patch is not supported yet".into()))
}

/// `application/apply-patch+yaml` (server-side apply, create-or-merge): merges
/// `applied` (already parsed from YAML/JSON) into `live` (None = create) as
/// field manager `manager`, recording `metadata.managedFields`.
pub fn server_side_apply(
    _resource: &Resource,
    _live: Option<&Value>,
    _applied: &Value,
    _manager: &str,
    _force: bool,
) -> Result<Value, PatchError> {
    Err(PatchError::Malformed("server-side apply is not supported yet".into()))
}
