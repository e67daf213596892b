//! Defaulting of objects on create and update, following Kubernetes'
//! defaulters (Service type/protocol/targetPort/sessionAffinity/ipFamilies…,
//! pod restartPolicy/dnsPolicy/enableServiceLinks/…, workload replicas and
//! strategies).
//!
//! CONTRACT (used by the server): keep `apply_defaults`'s signature.

use crate::resources::Resource;
use serde_json::Value;

/// Fills in Kubernetes' defaults for an object of `resource` in place.
pub fn apply_defaults(_resource: &Resource, _obj: &mut Value) {}
