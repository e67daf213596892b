use std::sync::{Arc, Mutex};

use serde_json::json;

use super::*;
use crate::apply::RecordingNft;
use crate::conntrack::{RecordingConntrack, StaleFlow};
use crate::model::{Delta, NodeInfo, build, delta_between};
use crate::testutil::{ready, service, slice};

#[derive(Clone, Default)]
struct SharedNft(Arc<Mutex<RecordingNft>>);
impl Nft for SharedNft {
    fn apply(&mut self, script: &str) -> Result<(), ApplyError> {
        self.0.lock().unwrap().apply(script)
    }
}
#[derive(Clone, Default)]
struct SharedCt(Arc<Mutex<RecordingConntrack>>);
impl Conntrack for SharedCt {
    fn delete_udp(&mut self, flow: &StaleFlow) -> Result<(), ApplyError> {
        self.0.lock().unwrap().delete_udp(flow)
    }
}

fn udp_state(eps: &[&str]) -> ProxyState {
    let svc = service("ns", "dns", "10.96.0.10", &[("dns", 53, "UDP")], json!({}));
    let eps: Vec<_> = eps.iter().map(|e| ready(e, "n")).collect();
    let sl = slice("ns", "dns", &[("dns", 5353, "UDP")], &eps);
    build(&[svc], &[sl], &NodeInfo::default())
}

#[test]
fn first_sync_is_full_then_diffs_then_full_after_failure() {
    let nft = SharedNft::default();
    let ct = SharedCt::default();
    let mut p = Proxier::new(
        Box::new(nft.clone()),
        Box::new(ct.clone()),
        RenderConfig::default(),
        Arc::default(),
    );
    let r = p.sync(udp_state(&["10.244.1.2"]), false).unwrap();
    assert!(r.full);
    assert!(nft.0.lock().unwrap().scripts[0].starts_with("add table ip knet-proxy\ndelete table"));
    let r = p.sync(udp_state(&["10.244.1.2"]), false).unwrap();
    assert_eq!(r.writes, 0, "no change, no transaction");
    assert_eq!(nft.0.lock().unwrap().scripts.len(), 1);
    nft.0.lock().unwrap().fail_next = Some("boom".into());
    assert!(p.sync(udp_state(&["10.244.1.3"]), false).is_err());
    let r = p.sync(udp_state(&["10.244.1.3"]), false).unwrap();
    assert!(r.full, "a failed sync is followed by a full one");
}

#[test]
fn udp_endpoint_removal_deletes_its_flows_and_none_to_some_flushes() {
    let nft = SharedNft::default();
    let ct = SharedCt::default();
    let mut p = Proxier::new(
        Box::new(nft),
        Box::new(ct.clone()),
        RenderConfig::default(),
        Arc::default(),
    );
    p.sync(udp_state(&[]), false).unwrap();
    p.sync(udp_state(&["10.244.1.2"]), false).unwrap();
    p.sync(udp_state(&["10.244.1.3"]), false).unwrap();
    let deleted = ct.0.lock().unwrap().deleted.clone();
    let vip = Some("10.96.0.10".parse().unwrap());
    assert_eq!(
        deleted,
        vec![
            StaleFlow {
                dst: vip,
                port: 53,
                reply_src: None
            },
            StaleFlow {
                dst: vip,
                port: 53,
                reply_src: Some("10.244.1.2".parse().unwrap())
            },
        ]
    );
}

fn web_state(eps: &[&str], affinity: bool, nodeport: bool) -> ProxyState {
    let mut extra = json!({});
    if affinity {
        extra["sessionAffinity"] = json!("ClientIP");
    }
    if nodeport {
        extra["type"] = json!("NodePort");
        extra["ports"] = json!([{"port": 80, "nodePort": 30080, "protocol": "TCP"}]);
    }
    let web = service("ns", "web", "10.96.0.5", &[("", 80, "TCP")], extra);
    let other = service("ns", "other", "10.96.0.6", &[("", 80, "TCP")], json!({}));
    let eps: Vec<_> = eps.iter().map(|e| ready(e, "n")).collect();
    let sl = slice("ns", "web", &[("", 80, "TCP")], &eps);
    let sl2 = slice(
        "ns",
        "other",
        &[("", 80, "TCP")],
        &[ready("10.244.9.9", "n"), ready("10.244.1.2", "n")],
    );
    build(&[web, other], &[sl, sl2], &NodeInfo::default())
}

/// The incremental path must yield exactly the full diff's changes, and leave
/// the same table behind, for every transition among a set of states.
#[test]
fn incremental_plans_match_full_diffs() {
    let states = [
        web_state(&[], false, false),
        web_state(&["10.244.1.2"], false, false),
        web_state(&["10.244.1.2", "10.244.1.3"], false, true),
        web_state(&["10.244.1.3"], true, true),
        web_state(&["10.244.1.2", "10.244.1.4"], true, false),
        ProxyState::default(),
    ];
    let cfg = RenderConfig::default();
    for a in &states {
        for b in &states {
            let nft = SharedNft::default();
            let mut p = Proxier::new(
                Box::new(nft.clone()),
                Box::new(SharedCt::default()),
                cfg.clone(),
                Arc::default(),
            );
            p.sync(a.clone(), false).unwrap();
            p.sync(b.clone(), false).unwrap();
            let want = plan::diff(&render(a, Family::V4, &cfg), &render(b, Family::V4, &cfg));
            let scripts = nft.0.lock().unwrap().scripts.clone();
            let got = if want.is_empty() {
                None
            } else {
                scripts.get(1).cloned()
            };
            assert_eq!(
                got,
                (!want.is_empty()).then(|| want.to_nft()),
                "{a:?} -> {b:?}"
            );
            let table = p.applied.get(&Family::V4).unwrap();
            let fresh = render(b, Family::V4, &cfg);
            assert_eq!(
                (&table.sets, &table.chains, &table.elements),
                (&fresh.sets, &fresh.chains, &fresh.elements)
            );
        }
    }
}

/// `update` with deltas sends exactly what `sync` with whole states sends.
#[test]
fn update_with_deltas_matches_sync_with_states() {
    let states = [
        web_state(&[], false, false),
        web_state(&["10.244.1.2"], false, true),
        web_state(&["10.244.1.3"], true, true),
        udp_state(&["10.244.1.2"]),
        ProxyState::default(),
    ];
    let cfg = RenderConfig::default();
    for a in &states {
        for b in &states {
            let (n1, n2) = (SharedNft::default(), SharedNft::default());
            let (c1, c2) = (SharedCt::default(), SharedCt::default());
            let mut by_state = Proxier::new(
                Box::new(n1.clone()),
                Box::new(c1.clone()),
                cfg.clone(),
                Arc::default(),
            );
            let mut by_delta = Proxier::new(
                Box::new(n2.clone()),
                Box::new(c2.clone()),
                cfg.clone(),
                Arc::default(),
            );
            by_state.sync(a.clone(), false).unwrap();
            by_state.sync(b.clone(), false).unwrap();
            let empty = ProxyState::default();
            by_delta.update(delta_between(&empty, a), false).unwrap();
            let r = by_delta.update(delta_between(a, b), false).unwrap();
            assert!(!r.full);
            assert_eq!(
                n1.0.lock().unwrap().scripts,
                n2.0.lock().unwrap().scripts,
                "{a:?} -> {b:?}"
            );
            assert_eq!(c1.0.lock().unwrap().deleted, c2.0.lock().unwrap().deleted);
            assert_eq!(by_delta.state(), b);
        }
    }
}

#[test]
fn a_failed_update_is_retried_under_newer_changes() {
    let nft = SharedNft::default();
    let ct = SharedCt::default();
    let mut p = Proxier::new(
        Box::new(nft.clone()),
        Box::new(ct.clone()),
        RenderConfig::default(),
        Arc::default(),
    );
    let empty = ProxyState::default();
    let one = udp_state(&["10.244.1.2"]);
    let two = udp_state(&["10.244.1.3"]);
    p.update(delta_between(&empty, &one), false).unwrap();
    nft.0.lock().unwrap().fail_next = Some("boom".into());
    assert!(p.update(delta_between(&one, &two), false).is_err());
    assert_eq!(p.state(), &one, "state stays at the last applied one");
    let r = p.update(Delta::new(), false).unwrap();
    assert!(r.full, "a failed sync is followed by a full one");
    assert_eq!(p.state(), &two, "the failed change was retried");
    let deleted = ct.0.lock().unwrap().deleted.clone();
    assert!(
        deleted
            .iter()
            .any(|f| f.reply_src == Some("10.244.1.2".parse().unwrap())),
        "{deleted:?}"
    );
}
