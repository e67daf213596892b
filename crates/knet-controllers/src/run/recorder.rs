//! Writes Events in the background so reconcilers never wait on them; when
//! the API falls behind, events are dropped rather than queued without end.

use k8s_openapi::api::core::v1::{Event, ObjectReference};
use kube::api::{Api, PostParams};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::events::{self, Note};

/// Most events waiting to be written.
const BACKLOG: usize = 4096;

/// Handle for recording events.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    tx: mpsc::Sender<Event>,
    host: String,
}

impl Recorder {
    /// Starts the writer task in `tasks`.
    pub(crate) fn start(tasks: &mut JoinSet<()>, client: kube::Client, host: String) -> Self {
        let (tx, mut rx) = mpsc::channel::<Event>(BACKLOG);
        tasks.spawn(async move {
            while let Some(ev) = rx.recv().await {
                let ns = ev
                    .metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".into());
                let api: Api<Event> = Api::namespaced(client.clone(), &ns);
                if let Err(e) = api.create(&PostParams::default(), &ev).await {
                    tracing::debug!(error = %e, reason = ?ev.reason, "event not recorded");
                }
            }
        });
        Recorder { tx, host }
    }

    /// Records `notes` about `object`, reported by `component`.
    pub(crate) fn record(&self, object: &ObjectReference, component: &str, notes: &[Note]) {
        let now = k8s_openapi::jiff::Timestamp::now();
        for (i, n) in notes.iter().enumerate() {
            // Distinct names for events recorded in the same instant.
            let at = k8s_openapi::jiff::Timestamp::from_nanosecond(now.as_nanosecond() + i as i128)
                .unwrap_or(now);
            let ev = events::build(object, n, component, &self.host, at);
            if self.tx.try_send(ev).is_err() {
                tracing::debug!(reason = n.reason, "event backlog full; dropped");
            }
        }
    }
}
