use std::time::{Duration, Instant};

use super::*;
use crate::wire::parse_query;
use crate::wire::rr::{Owner, RData, Record};
use crate::wire::writer::{Response, build_query, encode};

fn answer(ttl: u32, rcode: Option<Rcode>) -> Vec<u8> {
    let q = parse_query(&build_query(1, "example.com", rtype::A, false)).unwrap();
    let r = Response {
        rcode,
        answer: if rcode.is_none() {
            vec![Record {
                owner: Owner::Qname,
                ttl,
                data: RData::A("192.0.2.1".parse().unwrap()),
            }]
        } else {
            vec![]
        },
        ..Response::default()
    };
    encode(&q, &r, 512)
}

fn key() -> Key {
    Key {
        name: "example.com".into(),
        qtype: rtype::A,
        qclass: 1,
        dnssec_ok: false,
    }
}

fn ttl_of(msg: &[u8]) -> u32 {
    let (_, r) = records(msg).unwrap()[0];
    r.ttl
}

#[test]
fn positive_entries_count_down_and_expire() {
    let c = Cache::new(CacheConfig::default());
    let t0 = Instant::now();
    assert!(c.insert(key(), &answer(100, None), t0));
    let Hit::Fresh(m) = c.get(&key(), 77, t0 + Duration::from_secs(40)) else {
        panic!("miss")
    };
    assert_eq!(be16(&m, 0), Some(77));
    assert_eq!(ttl_of(&m), 60);
    assert_eq!(c.get(&key(), 1, t0 + Duration::from_secs(100)), Hit::Miss);
}

#[test]
fn caps_and_uncacheable_answers() {
    let c = Cache::new(CacheConfig {
        max_success_ttl: 30,
        ..CacheConfig::default()
    });
    let t0 = Instant::now();
    c.insert(key(), &answer(3600, None), t0);
    let Hit::Fresh(m) = c.get(&key(), 1, t0) else {
        panic!("miss")
    };
    assert_eq!(ttl_of(&m), 30);
    assert!(!c.insert(key(), &answer(0, Some(Rcode::ServFail)), t0));
    // NXDOMAIN without SOA uses the minimum TTL.
    let mut k = key();
    k.name = "nx.example.com".into();
    assert!(c.insert(k.clone(), &answer(0, Some(Rcode::NxDomain)), t0));
    assert!(matches!(
        c.get(&k, 1, t0 + Duration::from_secs(4)),
        Hit::Fresh(_)
    ));
    assert_eq!(c.get(&k, 1, t0 + Duration::from_secs(6)), Hit::Miss);
}

#[test]
fn serve_stale_only_within_window() {
    let c = Cache::new(CacheConfig {
        serve_stale: Some(Duration::from_secs(60)),
        ..CacheConfig::default()
    });
    let t0 = Instant::now();
    c.insert(key(), &answer(10, None), t0);
    assert_eq!(c.get(&key(), 1, t0 + Duration::from_secs(20)), Hit::Miss);
    let Hit::Fresh(m) = c.get_stale(&key(), 1, t0 + Duration::from_secs(20)) else {
        panic!("no stale")
    };
    assert_eq!(ttl_of(&m), 0);
    assert_eq!(
        c.get_stale(&key(), 1, t0 + Duration::from_secs(80)),
        Hit::Miss
    );
}
