use serde_json::json;

use super::*;
use crate::model::{NodeInfo, build};
use crate::render::{DISPATCH_MAX, RenderConfig, render};
use crate::testutil::{Ep, ready, service, slice};

fn desired(eps: &[Ep<'_>], affinity: bool) -> Desired {
    let extra = if affinity {
        json!({"sessionAffinity": "ClientIP"})
    } else {
        json!({})
    };
    let svc = service("default", "web", "10.96.0.5", &[("", 80, "TCP")], extra);
    let sl = slice("default", "web", &[("", 8080, "TCP")], eps);
    render(
        &build(&[svc], &[sl], &NodeInfo::default()),
        Family::V4,
        &RenderConfig::default(),
    )
}

#[test]
fn unchanged_state_plans_nothing() {
    let d = desired(&[ready("10.244.1.2", "a")], false);
    assert!(diff(&d, &d).is_empty());
}

#[test]
fn endpoint_change_touches_only_its_elements() {
    let a = desired(&[ready("10.244.1.2", "a"), ready("10.244.1.3", "a")], false);
    let b = desired(&[ready("10.244.1.2", "a"), ready("10.244.1.4", "a")], false);
    let text = diff(&a, &b).to_nft();
    assert_eq!(
        text,
        "delete element ip knet-proxy addr-eps-tcp { 10.96.0.5 . 80 . 1 }\n\
         delete element ip knet-proxy hairpin { 10.244.1.3 . 10.244.1.3 }\n\
         add element ip knet-proxy addr-eps-tcp { 10.96.0.5 . 80 . 1 : 10.244.1.4 . 8080 }\n\
         add element ip knet-proxy hairpin { 10.244.1.4 . 10.244.1.4 }\n"
    );
}

#[test]
fn scale_up_moves_between_dispatch_sets_without_verdicts() {
    let a = desired(&[ready("10.244.1.2", "a")], false);
    let b = desired(&[ready("10.244.1.2", "a"), ready("10.244.1.3", "a")], false);
    let text = diff(&a, &b).to_nft();
    assert!(
        text.contains("delete element ip knet-proxy addr-n-tcp-1 { 10.96.0.5 . 80 }"),
        "{text}"
    );
    assert!(
        text.contains("add element ip knet-proxy addr-n-tcp-2 { 10.96.0.5 . 80 }"),
        "{text}"
    );
    assert!(
        !text.contains("goto") && !text.contains("chain"),
        "plain elements only (no table re-validation): {text}"
    );
}

fn eps(v: &[String]) -> Vec<Ep<'_>> {
    v.iter().map(|e| ready(e, "a")).collect()
}

fn many(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("10.244.1.{}", i + 2)).collect()
}

#[test]
fn beyond_the_dispatch_sets_a_pick_chain_is_created_before_its_use() {
    let (sixteen, seventeen) = (many(DISPATCH_MAX), many(DISPATCH_MAX + 1));
    let a = desired(&eps(&sixteen), false);
    let b = desired(&eps(&seventeen), false);
    let text = diff(&a, &b).to_nft();
    let n = DISPATCH_MAX + 1;
    let add_chain = text
        .find(&format!("add chain ip knet-proxy pick-tcp-{n}"))
        .expect(&text);
    let use_chain = text
        .find(&format!(
            "service-ips {{ 10.96.0.5 . tcp . 80 : goto pick-tcp-{n} }}"
        ))
        .expect(&text);
    assert!(add_chain < use_chain, "{text}");
    assert!(
        text.contains(&format!(
            "delete element ip knet-proxy addr-n-tcp-{DISPATCH_MAX} {{ 10.96.0.5 . 80 }}"
        )),
        "{text}"
    );
    let back = diff(&b, &a).to_nft();
    let unuse = back
        .find("delete element ip knet-proxy service-ips")
        .expect(&back);
    let drop_chain = back
        .find(&format!("delete chain ip knet-proxy pick-tcp-{n}"))
        .expect(&back);
    assert!(unuse < drop_chain, "{back}");
}

#[test]
fn no_endpoints_to_some_moves_between_reject_set_and_dispatch() {
    let a = desired(&[], false);
    let b = desired(&[ready("10.244.1.2", "a")], false);
    let text = diff(&a, &b).to_nft();
    assert!(
        text.contains("delete element ip knet-proxy no-endpoint-services { 10.96.0.5 . tcp . 80 }"),
        "{text}"
    );
    assert!(
        text.contains("add element ip knet-proxy addr-n-tcp-1 { 10.96.0.5 . 80 }"),
        "{text}"
    );
}

#[test]
fn affinity_toggle_removes_sets_after_flushing_their_users() {
    let eps = [ready("10.244.1.2", "a"), ready("10.244.1.3", "a")];
    let on = desired(&eps, true);
    let off = desired(&eps, false);
    let text = diff(&on, &off).to_nft();
    let flush = text.find("flush chain ip knet-proxy svc-").expect(&text);
    let del_set = text.find("delete set ip knet-proxy aff-").expect(&text);
    let del_map = text.find("delete map ip knet-proxy pick-").expect(&text);
    let del_chain = text.find("delete chain ip knet-proxy ep-").expect(&text);
    assert!(
        flush < del_set && del_set < del_chain && del_map < del_chain,
        "{text}"
    );
    let back = diff(&off, &on).to_nft();
    assert!(back.contains("add set ip knet-proxy aff-"), "{back}");
    assert!(
        back.contains("timeout 10800s"),
        "default affinity timeout is 3h: {back}"
    );
}

#[test]
fn skeleton_change_forces_full_plan() {
    let a = desired(&[ready("10.244.1.2", "a")], false);
    let mut b = a.clone();
    b.skeleton.push_str("\tchain extra { }\n");
    assert!(diff(&a, &b).full);
}
