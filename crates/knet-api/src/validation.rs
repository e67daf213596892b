//! Validation with Kubernetes' messages and field paths, and the unknown-field
//! check behind `fieldValidation=Strict|Warn`.
//!
//! CONTRACT (used by the server): keep these signatures.

use crate::resources::Resource;
use crate::status::Cause;
use serde_json::Value;

/// Validates an object of `resource` (after defaulting); `old` is the stored
/// object on update. An empty result means valid.
pub fn validate(_resource: &Resource, _obj: &Value, _old: Option<&Value>) -> Vec<Cause> {
    Vec::new()
}

/// Paths of fields in `obj` that the schema of `resource` does not know
/// (`spec.foo`, `spec.template.spec.containers[0].bogus`). Err when the object
/// does not even decode (wrong types): that is a 400 BadRequest with the message.
pub fn unknown_fields(_resource: &Resource, _obj: &Value) -> Result<Vec<String>, String> {
    Ok(Vec::new())
}
