//! The kubelet's Events about a pod's containers (Pulled, Created, Started,
//! Killing, BackOff, Unhealthy, Failed), so `kubectl describe pod` and
//! `kubectl get events` tell a container's story as in a real cluster.
//! Repeats of the same event are folded into one Event whose `count` grows,
//! as the kubelet's recorder does ("(x4 over 1m)" in `describe`).

use k8s_openapi::api::core::v1::{Event, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use knet_controllers::events::{Note, build};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use std::collections::HashMap;

/// One event about one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    /// Container name (the Event's `fieldPath` is `spec.containers{name}`).
    pub container: String,
    /// What happened.
    pub note: Note,
}

impl ContainerEvent {
    fn new(container: &str, note: Note) -> Self {
        ContainerEvent {
            container: container.to_string(),
            note,
        }
    }

    /// The image is "pulled": the lab runs host programs, so it is always present.
    pub fn pulled(container: &str, image: &str) -> Self {
        Self::new(
            container,
            Note::normal(
                "Pulled",
                format!("Container image \"{image}\" already present on machine"),
            ),
        )
    }

    /// The container was created.
    pub fn created(container: &str) -> Self {
        Self::new(
            container,
            Note::normal("Created", format!("Created container: {container}")),
        )
    }

    /// The container's process started.
    pub fn started(container: &str) -> Self {
        Self::new(
            container,
            Note::normal("Started", format!("Started container {container}")),
        )
    }

    /// The container could not start.
    pub fn failed(container: &str, error: &str) -> Self {
        Self::new(
            container,
            Note::warning("Failed", format!("Error: {error}")),
        )
    }

    /// The container is being stopped (pod deletion).
    pub fn killing(container: &str) -> Self {
        Self::new(
            container,
            Note::normal("Killing", format!("Stopping container {container}")),
        )
    }

    /// A liveness or startup probe failed: the container is restarted.
    pub fn restarting(container: &str, probe: &str) -> Self {
        Self::new(
            container,
            Note::normal(
                "Killing",
                format!("Container {container} failed {probe} probe, will be restarted"),
            ),
        )
    }

    /// A probe failed (`probe` is Readiness, Liveness or Startup).
    pub fn unhealthy(container: &str, probe: &str, detail: &str) -> Self {
        Self::new(
            container,
            Note::warning("Unhealthy", format!("{probe} probe failed: {detail}")),
        )
    }

    /// The container keeps exiting and waits out its back-off.
    pub fn back_off(container: &str, pod: &str, namespace: &str, uid: &str) -> Self {
        Self::new(
            container,
            Note::warning(
                "BackOff",
                format!(
                    "Back-off restarting failed container {container} in pod {pod}_{namespace}({uid})"
                ),
            ),
        )
    }
}

/// Writes a pod's container events, folding repeats.
pub struct PodEvents {
    api: Api<Event>,
    pod: ObjectReference,
    host: String,
    /// (container, reason, message) → (Event name, count).
    seen: HashMap<(String, &'static str, String), (String, i32)>,
}

impl std::fmt::Debug for PodEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodEvents")
            .field("pod", &self.pod.name)
            .finish()
    }
}

impl PodEvents {
    /// Events about `pod` (a Pod JSON object) from the kubelet on `host`.
    pub fn new(client: kube::Client, pod: &serde_json::Value, host: &str) -> Self {
        let meta = &pod["metadata"];
        let s = |k: &str| meta[k].as_str().map(str::to_string);
        let ns = s("namespace").unwrap_or_else(|| "default".into());
        PodEvents {
            api: Api::namespaced(client, &ns),
            pod: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: s("name"),
                namespace: Some(ns),
                uid: s("uid"),
                resource_version: s("resourceVersion"),
                ..Default::default()
            },
            host: host.to_string(),
            seen: HashMap::new(),
        }
    }

    /// Records `e` (best effort: a failed write is logged, never fatal).
    pub async fn record(&mut self, e: ContainerEvent) {
        let now = jiff::Timestamp::now();
        let key = (e.container.clone(), e.note.reason, e.note.message.clone());
        if let Some((name, count)) = self.seen.get_mut(&key) {
            *count += 1;
            let patch = json!({"count": *count, "lastTimestamp": Time(now)});
            if let Err(err) = self
                .api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                tracing::debug!(error = %err, "event count update");
            }
            return;
        }
        let mut object = self.pod.clone();
        object.field_path = Some(format!("spec.containers{{{}}}", e.container));
        let event = build(&object, &e.note, "kubelet", &self.host, now);
        let name = event.metadata.name.clone().unwrap_or_default();
        match self.api.create(&PostParams::default(), &event).await {
            Ok(_) => {
                self.seen.insert(key, (name, 1));
            }
            Err(err) => tracing::debug!(error = %err, "event create"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_the_kubelets() {
        assert_eq!(
            ContainerEvent::pulled("web", "nginx:1.19").note.message,
            "Container image \"nginx:1.19\" already present on machine"
        );
        assert_eq!(
            ContainerEvent::created("web").note.message,
            "Created container: web"
        );
        assert_eq!(
            ContainerEvent::started("web").note.message,
            "Started container web"
        );
        let b = ContainerEvent::back_off("web", "p", "default", "u1").note;
        assert_eq!((b.type_, b.reason), ("Warning", "BackOff"));
        assert_eq!(
            b.message,
            "Back-off restarting failed container web in pod p_default(u1)"
        );
        assert_eq!(
            ContainerEvent::restarting("web", "liveness").note.message,
            "Container web failed liveness probe, will be restarted"
        );
    }
}
