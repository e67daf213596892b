//! Events for what the controllers do (Scheduled, SuccessfulCreate,
//! ScalingReplicaSet, …), written as core/v1 Events so `kubectl describe`
//! (which lists them by `involvedObject`) shows them.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;

/// An event a reconciler wants recorded about the object it reconciled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    /// CamelCase reason (`SuccessfulCreate`).
    pub reason: &'static str,
    /// Human message, as upstream words it.
    pub message: String,
}

impl Note {
    /// A `Normal` event.
    pub fn normal(reason: &'static str, message: impl Into<String>) -> Self {
        Note {
            type_: "Normal",
            reason,
            message: message.into(),
        }
    }

    /// A `Warning` event.
    pub fn warning(reason: &'static str, message: impl Into<String>) -> Self {
        Note {
            type_: "Warning",
            reason,
            message: message.into(),
        }
    }
}

/// A reference to the object an event is about.
pub fn reference(api_version: &str, kind: &str, meta: &ObjectMeta) -> ObjectReference {
    ObjectReference {
        api_version: Some(api_version.to_string()),
        kind: Some(kind.to_string()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        ..Default::default()
    }
}

/// The core/v1 Event for `note` about `object`, from `component`, at `now`.
/// Named like upstream's recorder: `<object>.<hex nanoseconds>`.
pub fn build(
    object: &ObjectReference,
    note: &Note,
    component: &str,
    host: &str,
    now: Timestamp,
) -> Event {
    let name = object.name.clone().unwrap_or_default();
    let ns = object
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into());
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{name}.{:x}", now.as_nanosecond())),
            namespace: Some(ns),
            ..Default::default()
        },
        involved_object: object.clone(),
        reason: Some(note.reason.to_string()),
        message: Some(note.message.clone()),
        type_: Some(note.type_.to_string()),
        source: Some(EventSource {
            component: Some(component.to_string()),
            host: Some(host.to_string()),
        }),
        reporting_component: Some(component.to_string()),
        reporting_instance: Some(host.to_string()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        count: Some(1),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_points_at_object_and_is_uniquely_named() {
        let meta = ObjectMeta {
            name: Some("web".into()),
            namespace: Some("default".into()),
            uid: Some("u1".into()),
            ..Default::default()
        };
        let r = reference("apps/v1", "ReplicaSet", &meta);
        let now = "2025-01-01T00:00:00.5Z".parse().unwrap();
        let e = build(
            &r,
            &Note::normal("SuccessfulCreate", "Created pod: web-abcde"),
            "replicaset-controller",
            "h",
            now,
        );
        assert_eq!(e.metadata.namespace.as_deref(), Some("default"));
        assert!(e.metadata.name.as_deref().unwrap().starts_with("web."));
        assert_eq!(e.involved_object.kind.as_deref(), Some("ReplicaSet"));
        assert_eq!(e.involved_object.uid.as_deref(), Some("u1"));
        assert_eq!(e.reason.as_deref(), Some("SuccessfulCreate"));
        assert_eq!(e.type_.as_deref(), Some("Normal"));
        let later = build(
            &r,
            &Note::warning("X", "y"),
            "c",
            "h",
            "2025-01-01T00:00:00.6Z".parse().unwrap(),
        );
        assert_ne!(later.metadata.name, e.metadata.name);
        assert_eq!(later.type_.as_deref(), Some("Warning"));
    }
}
