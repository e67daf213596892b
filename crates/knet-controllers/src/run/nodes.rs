//! I/O of the scheduler and node IPAM.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Binding, Node, ObjectReference, Pod};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use super::services::is_status;
use super::{Ctx, SyncResult};
use crate::events::{self, Note};
use crate::nodeipam::{self, NodeCidrConfig};
use crate::pod::{key, split_key};
use crate::scheduler::{self, Decision};

/// How long an IPAM reservation waits for the Node to show it.
const RESERVATION_TTL: Duration = Duration::from_secs(30);

/// Binds a pod as kube-scheduler does: a v1 Binding POSTed to
/// `pods/{name}/binding` (the API sets `spec.nodeName` once and refuses a
/// second binding with 409; the uid guards against a re-created pod).
async fn bind(ctx: &Ctx, pod: &Pod, node: &str) -> Result<(), kube::Error> {
    let ns = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let binding = Binding {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            uid: pod.uid(),
            ..Default::default()
        },
        target: ObjectReference {
            kind: Some("Node".into()),
            name: Some(node.into()),
            api_version: Some("v1".into()),
            ..Default::default()
        },
    };
    api.create_subresource::<Binding, serde_json::Value>(
        "binding",
        &name,
        &PostParams::default(),
        &binding,
    )
    .await
    .map(|_| ())
}

/// Pod count per node: bound pods in the store plus binds not yet seen.
fn load(ctx: &Ctx, nodes: &[Arc<Node>]) -> BTreeMap<String, usize> {
    let mut load: BTreeMap<String, usize> = nodes
        .iter()
        .map(|n| {
            (
                n.name_any(),
                ctx.pods.index_len(&format!("node:{}", n.name_any())),
            )
        })
        .collect();
    let mut assumed = ctx
        .assumed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    assumed.retain(|pod_key, node| {
        let (ns, name) = split_key(pod_key);
        let still_unseen = ctx
            .pods
            .get(ns, name)
            .is_some_and(|p| scheduler::is_pending(&p));
        if still_unseen {
            *load.entry(node.clone()).or_default() += 1;
        }
        still_unseen
    });
    load
}

/// Scheduler: one pending pod key.
pub(crate) async fn sync_schedule(ctx: Arc<Ctx>, key_: String) -> SyncResult {
    let (ns, name) = split_key(&key_);
    let Some(pod) = ctx.pods.get(ns, name).filter(|p| scheduler::is_pending(p)) else {
        return Ok(None);
    };
    if ctx
        .assumed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .contains_key(&key_)
    {
        return Ok(None);
    }
    let nodes = ctx.nodes.store.state();
    let node_refs: Vec<&Node> = nodes.iter().map(|n| n.as_ref()).collect();
    let decision =
        scheduler::schedule_with_load(&[pod.as_ref()], &node_refs, load(&ctx, &nodes)).remove(0);
    let r = events::reference("v1", "Pod", &pod.metadata);
    match decision {
        Decision::Bind(node) => {
            match bind(&ctx, &pod, &node).await {
                Ok(()) => {}
                Err(e) if is_status(&e, 409) || is_status(&e, 404) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
            ctx.assumed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(key(&pod.metadata), node.clone());
            let msg = format!("Successfully assigned {ns}/{name} to {node}");
            ctx.recorder
                .record(&r, "default-scheduler", &[Note::normal("Scheduled", msg)]);
        }
        Decision::Unschedulable(msg) => {
            let already = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c.type_ == "PodScheduled" && c.message.as_deref() == Some(msg.as_str())
                    })
                });
            if !already {
                ctx.recorder.record(
                    &r,
                    "default-scheduler",
                    &[Note::warning("FailedScheduling", msg.clone())],
                );
                let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
                let st = json!({"status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                    "reason": "Unschedulable", "message": msg,
                    "lastTransitionTime": k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()}]}});
                if let Err(e) = api
                    .patch_status(name, &PatchParams::default(), &Patch::Merge(&st))
                    .await
                {
                    tracing::debug!(pod = %key_, error = %e, "could not mark pod unschedulable");
                }
            }
        }
    }
    Ok(None)
}

/// Pod CIDRs handed out but not yet seen on any of `nodes` (expired ones dropped).
fn reservations(ctx: &Ctx, nodes: &[&Node]) -> BTreeSet<String> {
    let on_nodes: BTreeSet<String> = nodes
        .iter()
        .flat_map(|n| {
            let s = n.spec.as_ref();
            let list = s.and_then(|s| s.pod_cidrs.clone()).unwrap_or_default();
            list.into_iter().chain(s.and_then(|s| s.pod_cidr.clone()))
        })
        .collect();
    let mut r = ctx
        .ipam_reserved
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    r.retain(|c, at| !on_nodes.contains(c) && at.elapsed() < RESERVATION_TTL);
    r.keys().cloned().collect()
}

fn unreserve(ctx: &Ctx, cidr: &str) {
    ctx.ipam_reserved
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(cidr);
}

/// Node IPAM: gives every Node without one a pod CIDR. The store only says
/// whether there is work: the plan that is written comes from a fresh list
/// of the Nodes (a lagging store could show a Node without the pod CIDR it
/// already has, which is immutable, or miss one another Node holds), and
/// each write is conditional on the Node's resourceVersion in that list.
pub(crate) async fn sync_ipam(ctx: Arc<Ctx>, _node: String) -> SyncResult {
    let Some(cluster) = ctx.cfg.cluster_cidr else {
        return Ok(None);
    };
    let cfg = NodeCidrConfig {
        cluster,
        node_prefix: ctx.cfg.node_cidr_prefix,
    };
    let cached = ctx.nodes.store.state();
    let refs: Vec<&Node> = cached.iter().map(|n| n.as_ref()).collect();
    if nodeipam::plan(&cfg, &refs, &reservations(&ctx, &refs)).is_empty() {
        return Ok(None);
    }
    let api: Api<Node> = Api::all(ctx.client.clone());
    let nodes = api.list(&Default::default()).await?.items;
    let refs: Vec<&Node> = nodes.iter().collect();
    let plan = nodeipam::plan(&cfg, &refs, &reservations(&ctx, &refs));
    for a in plan.assign {
        ctx.ipam_reserved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(a.cidr.clone(), Instant::now());
        let rv = nodes
            .iter()
            .find(|n| n.name_any() == a.node)
            .and_then(|n| n.resource_version());
        let patch = json!({"metadata": {"resourceVersion": rv},
            "spec": {"podCIDR": a.cidr, "podCIDRs": [a.cidr]}});
        match api
            .patch(&a.node, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => tracing::info!(node = %a.node, cidr = %a.cidr, "assigned pod CIDR"),
            Err(e) if is_status(&e, 404) => unreserve(&ctx, &a.cidr),
            // The Node changed since the list (or got a CIDR meanwhile):
            // plan again from a fresh list.
            Err(e) if is_status(&e, 409) || is_status(&e, 422) => {
                unreserve(&ctx, &a.cidr);
                tracing::debug!(node = %a.node, error = %e, "pod CIDR write refused; re-planning");
                return Ok(Some(Duration::from_millis(100)));
            }
            Err(e) => {
                unreserve(&ctx, &a.cidr);
                return Err(e.into());
            }
        }
    }
    for (node, why) in plan.failed {
        tracing::warn!(%node, reason = %why, "no pod CIDR for node");
        if let Some(n) = nodes.iter().find(|n| n.name_any() == node) {
            let r = events::reference("v1", "Node", &n.metadata);
            ctx.recorder.record(
                &r,
                "node-ipam-controller",
                &[Note::normal("CIDRNotAvailable", why)],
            );
        }
    }
    Ok(None)
}
