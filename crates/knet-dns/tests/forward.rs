//! Forwarding behaviour against a real Knot DNS upstream on loopback: stub
//! domains, the concurrency limit (REFUSED), serve-stale when the upstream
//! dies, loop detection, and SERVFAIL when no upstream answers.

mod common;

use std::time::Duration;

use common::{dig_at, fixture, free_port, start_knot, start_server, test_config};
use knet_dns::cache::CacheConfig;
use knet_dns::config::{ForwardSpec, UpstreamSpec};

fn dead_upstream() -> std::net::SocketAddr {
    format!("127.0.0.1:{}", free_port("127.0.0.1"))
        .parse()
        .unwrap()
}

#[test]
fn stub_domains_pick_their_own_upstream() {
    let knot = start_knot();
    let mut cfg = test_config(&fixture(), None);
    cfg.forward = Some(ForwardSpec {
        groups: vec![
            ("iij.ad.jp".into(), vec![UpstreamSpec::Addr(knot.addr)]),
            (String::new(), vec![UpstreamSpec::Addr(dead_upstream())]),
        ],
        timeout: Duration::from_millis(300),
        ..ForwardSpec::default()
    });
    let s = start_server(cfg);
    let a = dig_at(s.addr, &["www.iij.ad.jp"]);
    assert_eq!(a.data(), vec!["202.232.2.180"], "{}", a.raw);
    let a = dig_at(s.addr, &["+time=3", "google.com"]);
    assert_eq!(a.status, "SERVFAIL", "default upstream is dead: {}", a.raw);
}

#[test]
fn concurrency_limit_answers_refused() {
    let knot = start_knot();
    let mut cfg = test_config(&fixture(), Some(knot.addr));
    if let Some(f) = cfg.forward.as_mut() {
        f.max_concurrent = 0;
    }
    let s = start_server(cfg);
    let a = dig_at(s.addr, &["www.iij.ad.jp"]);
    assert_eq!(a.status, "REFUSED", "{}", a.raw);
    // Cluster names do not go through the forwarder.
    let a = dig_at(s.addr, &["nginx.default.svc.cluster.local"]);
    assert_eq!(a.status, "NOERROR");
    let body = s.running.dns.metrics.render();
    assert!(
        body.contains("coredns_forward_max_concurrent_rejects_total 1"),
        "{body}"
    );
}

#[test]
fn serve_stale_when_the_upstream_dies() {
    let knot = start_knot();
    let mut cfg = test_config(&fixture(), Some(knot.addr));
    cfg.cache = Some(CacheConfig {
        max_success_ttl: 1,
        max_denial_ttl: 1,
        serve_stale: Some(Duration::from_secs(60)),
        ..CacheConfig::default()
    });
    if let Some(f) = cfg.forward.as_mut() {
        f.timeout = Duration::from_millis(300);
    }
    let s = start_server(cfg);
    let a = dig_at(s.addr, &["www.iij.ad.jp"]);
    assert_eq!(a.data(), vec!["202.232.2.180"]);
    drop(knot);
    std::thread::sleep(Duration::from_millis(1500));
    let a = dig_at(s.addr, &["+time=3", "www.iij.ad.jp"]);
    assert_eq!(
        a.data(),
        vec!["202.232.2.180"],
        "stale answer expected: {}",
        a.raw
    );
    assert_eq!(
        a.answer[0].split(' ').nth(1),
        Some("0"),
        "stale TTL is 0: {}",
        a.raw
    );
    assert!(s.running.dns.metrics.cache_served_stale.get() >= 1);
    let a = dig_at(s.addr, &["+time=3", "google.com"]);
    assert_eq!(a.status, "SERVFAIL", "never cached: {}", a.raw);
}

#[test]
fn forwarding_loop_is_detected() {
    let port = free_port("127.0.0.1");
    let me: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut cfg = test_config(&fixture(), Some(me));
    cfg.listen = me;
    cfg.cache = None;
    let s = start_server(cfg);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let running = std::sync::Arc::try_unwrap(s.running).expect("sole owner");
    let res = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), running.wait(true)).await
    });
    match res {
        Ok(Err(knet_dns::run::RunError::Loop)) => {}
        other => panic!("expected loop detection, got {other:?}"),
    }
}
