//! The scheduler, pure part: pending pods (no `spec.nodeName`) → the node
//! each is bound to. Filters: node Ready (else a `not-ready` taint),
//! `spec.unschedulable` (as the `unschedulable` taint), NoSchedule/NoExecute
//! taints against the pod's tolerations (so kubeadm's control-plane taint
//! keeps ordinary pods off), `nodeSelector` and required node affinity.
//! Score: fewest pods, then name — pods spread evenly.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};

use crate::labels;
use crate::pod;
use crate::selector;

/// Why a node cannot take a pod (counted in the FailedScheduling message).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Misfit {
    /// The node carries a NoSchedule/NoExecute taint the pod does not tolerate.
    Taint(String),
    /// The node's labels miss the pod's nodeSelector or required affinity.
    Selector,
}

impl std::fmt::Display for Misfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Misfit::Taint(t) => write!(f, "had untolerated taint {{{t}}}"),
            Misfit::Selector => write!(f, "didn't match Pod's node affinity/selector"),
        }
    }
}

/// The decision for one pending pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Bind to this node.
    Bind(String),
    /// No node fits; the FailedScheduling message.
    Unschedulable(String),
}

/// Whether the scheduler should place this pod: unbound, not finished or
/// deleting, and asking for the default scheduler.
pub fn is_pending(p: &Pod) -> bool {
    let spec = p.spec.as_ref();
    let unbound = spec
        .and_then(|s| s.node_name.as_deref())
        .is_none_or(str::is_empty);
    let ours = spec
        .and_then(|s| s.scheduler_name.as_deref())
        .is_none_or(|n| n.is_empty() || n == labels::DEFAULT_SCHEDULER);
    unbound && ours && pod::is_active(p)
}

fn node_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The node's taints, plus the ones standing for NotReady and unschedulable.
pub fn effective_taints(n: &Node) -> Vec<Taint> {
    let mut taints = n
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let synth = |key: &str| Taint {
        key: key.into(),
        effect: "NoSchedule".into(),
        ..Default::default()
    };
    if !node_ready(n) {
        taints.push(synth("node.kubernetes.io/not-ready"));
    }
    if n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        taints.push(synth(labels::UNSCHEDULABLE_TAINT));
    }
    taints
}

/// Whether a toleration tolerates a taint (upstream's `ToleratesTaint`).
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    let effect_ok = t
        .effect
        .as_deref()
        .is_none_or(|e| e.is_empty() || e == taint.effect);
    let key = t.key.as_deref().unwrap_or_default();
    let op = t.operator.as_deref().unwrap_or("Equal");
    let key_ok = if key.is_empty() {
        op == "Exists"
    } else {
        key == taint.key
    };
    let value_ok = op == "Exists"
        || t.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default();
    effect_ok && key_ok && value_ok
}

/// Why `node` cannot take `p`, or `None` when it can.
pub fn misfit(p: &Pod, node: &Node) -> Option<Misfit> {
    let spec = p.spec.clone().unwrap_or_default();
    let tols = spec.tolerations.unwrap_or_default();
    for taint in effective_taints(node) {
        let hard = taint.effect == "NoSchedule" || taint.effect == "NoExecute";
        if hard && !tols.iter().any(|t| tolerates(t, &taint)) {
            return Some(Misfit::Taint(format!(
                "{}: {}",
                taint.key,
                taint.value.unwrap_or_default()
            )));
        }
    }
    let name = node.metadata.name.as_deref().unwrap_or_default();
    let node_labels = &node.metadata.labels;
    let by_selector = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| node_labels.as_ref().and_then(|l| l.get(k)) == Some(v));
    let by_affinity = spec
        .affinity
        .and_then(|a| a.node_affinity)
        .and_then(|na| na.required_during_scheduling_ignored_during_execution)
        .is_none_or(|req| {
            req.node_selector_terms
                .iter()
                .any(|t| selector::node_term_matches(t, name, node_labels))
        });
    (!(by_selector && by_affinity)).then_some(Misfit::Selector)
}

/// Places `pending` pods on `nodes`, counting `bound` pods (and the ones
/// placed so far) per node. Results in the order of `pending`.
pub fn schedule(pending: &[&Pod], nodes: &[&Node], bound: &[&Pod]) -> Vec<Decision> {
    let mut load: BTreeMap<String, usize> = BTreeMap::new();
    for p in bound.iter().filter(|p| !pod::is_terminal(p)) {
        if let Some(n) = p.spec.as_ref().and_then(|s| s.node_name.as_ref()) {
            *load.entry(n.clone()).or_default() += 1;
        }
    }
    schedule_with_load(pending, nodes, load)
}

/// [`schedule`] with the pod count per node given (absent nodes count 0).
pub fn schedule_with_load(
    pending: &[&Pod],
    nodes: &[&Node],
    mut load: BTreeMap<String, usize>,
) -> Vec<Decision> {
    pending
        .iter()
        .map(|p| {
            let mut misfits: BTreeMap<Misfit, usize> = BTreeMap::new();
            let mut best: Option<(usize, &str)> = None;
            for n in nodes {
                let name = n.metadata.name.as_deref().unwrap_or_default();
                match misfit(p, n) {
                    Some(m) => *misfits.entry(m).or_default() += 1,
                    None => {
                        let l = load.get(name).copied().unwrap_or(0);
                        if best.is_none_or(|(bl, bn)| (l, name) < (bl, bn)) {
                            best = Some((l, name));
                        }
                    }
                }
            }
            match best {
                Some((_, name)) => {
                    *load.entry(name.to_string()).or_default() += 1;
                    Decision::Bind(name.to_string())
                }
                None => Decision::Unschedulable(unschedulable_message(nodes.len(), &misfits)),
            }
        })
        .collect()
}

fn unschedulable_message(total: usize, misfits: &BTreeMap<Misfit, usize>) -> String {
    let parts: Vec<String> = misfits
        .iter()
        .map(|(m, c)| format!("{c} node(s) {m}"))
        .collect();
    if parts.is_empty() {
        format!("0/{total} nodes are available: no nodes available to schedule pods.")
    } else {
        format!("0/{total} nodes are available: {}.", parts.join(", "))
    }
}

#[cfg(test)]
mod tests;
