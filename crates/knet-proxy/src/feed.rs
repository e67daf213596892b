//! The channel from object sources to the sync loop: it carries [`Delta`]s
//! (only the Service ports that changed), and the receiver merges whatever
//! queued up between two syncs into one, so handing a change to the proxy
//! costs O(changed), never O(all Services).

use tokio::sync::mpsc;

use crate::model::{Delta, ProxyState, delta_between};

/// Sending half (cloneable).
#[derive(Debug, Clone)]
pub struct FeedTx {
    tx: mpsc::UnboundedSender<Delta>,
}

/// Receiving half.
#[derive(Debug)]
pub struct FeedRx {
    rx: mpsc::UnboundedReceiver<Delta>,
    pending: Delta,
}

/// A new feed.
pub fn channel() -> (FeedTx, FeedRx) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        FeedTx { tx },
        FeedRx {
            rx,
            pending: Delta::new(),
        },
    )
}

impl FeedTx {
    /// Queues `delta` (an empty one still wakes the receiver: "the source is
    /// ready, nothing to change"). Returns false once the receiver is gone.
    pub fn send(&self, delta: Delta) -> bool {
        self.tx.send(delta).is_ok()
    }

    /// Queues the change from `old` to `new` (O(n) diff; for sources that
    /// only ever see whole states, such as an objects file).
    pub fn send_state(&self, old: &ProxyState, new: &ProxyState) -> bool {
        self.send(delta_between(old, new))
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

fn merge(into: &mut Delta, d: Delta) {
    if into.is_empty() {
        *into = d;
    } else if into.len() < d.len() {
        let older = std::mem::replace(into, d);
        for (k, v) in older {
            into.entry(k).or_insert(v);
        }
    } else {
        into.extend(d);
    }
}

impl FeedRx {
    /// Waits until a change is queued; false when every sender is gone and
    /// nothing is left.
    pub async fn changed(&mut self) -> bool {
        if !self.pending.is_empty() {
            return true;
        }
        match self.rx.recv().await {
            Some(d) => {
                merge(&mut self.pending, d);
                true
            }
            None => false,
        }
    }

    /// Everything queued so far, merged (later changes to a port win).
    pub fn take(&mut self) -> Delta {
        while let Ok(d) = self.rx.try_recv() {
            merge(&mut self.pending, d);
        }
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{Family, Protocol, ServicePort, ServicePortName};

    fn port(name: &str, p: u16) -> ((Family, ServicePortName), Option<Arc<ServicePort>>) {
        let name = ServicePortName {
            namespace: "ns".into(),
            name: name.into(),
            port: String::new(),
            protocol: Protocol::Tcp,
        };
        let sp = ServicePort {
            name: name.clone(),
            family: Family::V4,
            port: p,
            node_port: None,
            cluster_ip: "10.96.0.1".parse().unwrap(),
            external_ips: vec![],
            lb_ips: vec![],
            source_ranges: vec![],
            affinity_timeout: None,
            internal_local: false,
            external_local: false,
            health_check_node_port: None,
            cluster: vec![],
            local: vec![],
            local_ready: 0,
        };
        ((Family::V4, name), Some(Arc::new(sp)))
    }

    #[tokio::test]
    async fn queued_deltas_merge_with_later_values_winning() {
        let (tx, mut rx) = channel();
        let (a1, b1, a2) = (port("a", 1), port("b", 1), port("a", 2));
        tx.send(Delta::from([a1.clone(), b1.clone()]));
        tx.send(Delta::from([a2.clone()]));
        tx.send(Delta::from([(b1.0.clone(), None)]));
        assert!(rx.changed().await);
        let d = rx.take();
        assert_eq!(d.len(), 2);
        assert_eq!(d[&a1.0].as_ref().unwrap().port, 2);
        assert_eq!(d[&b1.0], None);
        assert!(rx.take().is_empty());
        drop(tx);
        assert!(!rx.changed().await, "closed and drained");
    }
}
