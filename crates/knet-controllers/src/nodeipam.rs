//! Node IPAM, pure part: each Node gets `spec.podCIDR`/`podCIDRs`, one
//! block of the cluster CIDR (default `10.244.0.0/16`, `/24` per node),
//! never one already in use. The allocation state is rebuilt from the Nodes
//! every time, so a block is free again as soon as its Node is gone.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Node;
use knet_core::cidr::Cidr;

/// Block size and range of node pod CIDRs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCidrConfig {
    /// The cluster pod CIDR.
    pub cluster: Cidr,
    /// Prefix length of each node's block.
    pub node_prefix: u8,
}

/// A node to give a pod CIDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Node name.
    pub node: String,
    /// The block (`10.244.1.0/24`).
    pub cidr: String,
}

/// What node IPAM should write, and nodes it could not serve.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpamPlan {
    /// Nodes without a pod CIDR and the block each gets.
    pub assign: Vec<Assignment>,
    /// Nodes left without a block (range exhausted), with the reason.
    pub failed: Vec<(String, String)>,
}

impl IpamPlan {
    /// Whether there is nothing to write or report.
    pub fn is_empty(&self) -> bool {
        self.assign.is_empty() && self.failed.is_empty()
    }
}

fn node_cidrs(n: &Node) -> Vec<String> {
    let spec = n.spec.as_ref();
    let mut v: Vec<String> = spec.and_then(|s| s.pod_cidrs.clone()).unwrap_or_default();
    if let Some(c) = spec.and_then(|s| s.pod_cidr.clone())
        && !v.contains(&c)
    {
        v.push(c);
    }
    v
}

/// Plans pod CIDRs for nodes that have none. `reserved` are blocks handed
/// out but not yet seen on a Node (writes in flight).
pub fn plan(cfg: &NodeCidrConfig, nodes: &[&Node], reserved: &BTreeSet<String>) -> IpamPlan {
    let mut used: BTreeSet<Cidr> = reserved.iter().filter_map(|c| c.parse().ok()).collect();
    used.extend(
        nodes
            .iter()
            .flat_map(|n| node_cidrs(n))
            .filter_map(|c| c.parse::<Cidr>().ok()),
    );
    let mut wanting: Vec<&str> = nodes
        .iter()
        .filter(|n| node_cidrs(n).is_empty() && n.metadata.deletion_timestamp.is_none())
        .filter_map(|n| n.metadata.name.as_deref())
        .collect();
    wanting.sort();
    let count_bits = cfg.node_prefix.saturating_sub(cfg.cluster.prefix_len());
    let blocks: u128 = if count_bits >= 64 {
        u128::from(u64::MAX)
    } else {
        1u128 << count_bits
    };
    let mut plan = IpamPlan::default();
    let mut next: u128 = 0;
    for node in wanting {
        let found = loop {
            if next >= blocks {
                break None;
            }
            let c = cfg.cluster.subnet(cfg.node_prefix, next);
            next += 1;
            match c {
                Some(c) if !used.iter().any(|u| u.overlaps(&c)) => break Some(c),
                Some(_) => continue,
                None => break None,
            }
        };
        match found {
            Some(c) => {
                used.insert(c);
                plan.assign.push(Assignment {
                    node: node.to_string(),
                    cidr: c.to_string(),
                });
            }
            None => plan.failed.push((
                node.to_string(),
                format!("no free /{} left in {}", cfg.node_prefix, cfg.cluster),
            )),
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, cidr: Option<&str>) -> Node {
        let mut spec = json!({});
        if let Some(c) = cidr {
            spec = json!({"podCIDR": c, "podCIDRs": [c]});
        }
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
    }

    fn cfg(cluster: &str, prefix: u8) -> NodeCidrConfig {
        NodeCidrConfig {
            cluster: cluster.parse().unwrap(),
            node_prefix: prefix,
        }
    }

    #[test]
    fn assigns_distinct_free_blocks_in_order() {
        let nodes = [
            node("b", None),
            node("a", Some("10.244.0.0/24")),
            node("c", None),
        ];
        let refs: Vec<&Node> = nodes.iter().collect();
        let p = plan(&cfg("10.244.0.0/16", 24), &refs, &BTreeSet::new());
        assert_eq!(
            p.assign,
            vec![
                Assignment {
                    node: "b".into(),
                    cidr: "10.244.1.0/24".into()
                },
                Assignment {
                    node: "c".into(),
                    cidr: "10.244.2.0/24".into()
                },
            ]
        );
        let reserved: BTreeSet<String> = ["10.244.1.0/24".to_string()].into();
        let p = plan(&cfg("10.244.0.0/16", 24), &refs, &reserved);
        assert_eq!(p.assign[0].cidr, "10.244.2.0/24");
    }

    #[test]
    fn a_fresh_view_never_reassigns_or_duplicates() {
        // The cache lags: it shows "a" without the block it already holds
        // and misses that "b" holds .1.
        let stale = [node("a", None), node("new", None)];
        let refs: Vec<&Node> = stale.iter().collect();
        let p = plan(&cfg("10.244.0.0/16", 24), &refs, &BTreeSet::new());
        assert!(!p.is_empty(), "the cache suggests work");
        let mut only_list: Node = node("b", None);
        only_list.spec.as_mut().unwrap().pod_cidrs = Some(vec!["10.244.1.0/24".into()]);
        let fresh = [
            node("a", Some("10.244.0.0/24")),
            only_list,
            node("new", None),
        ];
        let refs: Vec<&Node> = fresh.iter().collect();
        let p = plan(&cfg("10.244.0.0/16", 24), &refs, &BTreeSet::new());
        assert_eq!(
            p.assign,
            vec![Assignment {
                node: "new".into(),
                cidr: "10.244.2.0/24".into()
            }],
            "a keeps its block, b's podCIDRs-only block counts as held"
        );
        let done = [node("a", Some("10.244.0.0/24"))];
        let refs: Vec<&Node> = done.iter().collect();
        assert!(plan(&cfg("10.244.0.0/16", 24), &refs, &BTreeSet::new()).is_empty());
    }

    #[test]
    fn released_block_is_reused_and_exhaustion_is_reported() {
        // Node holding .0 gone: the new node gets .0 again.
        let nodes = [node("x", Some("10.244.1.0/24")), node("new", None)];
        let refs: Vec<&Node> = nodes.iter().collect();
        assert_eq!(
            plan(&cfg("10.244.0.0/16", 24), &refs, &BTreeSet::new()).assign[0].cidr,
            "10.244.0.0/24"
        );
        let tiny = [node("a", None), node("b", None), node("c", None)];
        let refs: Vec<&Node> = tiny.iter().collect();
        let p = plan(&cfg("10.0.0.0/23", 24), &refs, &BTreeSet::new());
        assert_eq!(p.assign.len(), 2);
        assert_eq!(p.failed[0].0, "c");
    }
}
