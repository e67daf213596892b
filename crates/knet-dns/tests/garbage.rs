//! Thousands of random, truncated and mutated packets do not crash or wedge
//! the server: afterwards it still answers `dig` correctly, and malformed
//! queries that carry a readable header get FORMERR/NOTIMP, never silence.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::{dig_at, fixture, start_server, test_config};
use rand::{Rng, SeedableRng};

/// A well-formed query to mutate.
fn base_query(id: u16) -> Vec<u8> {
    knet_dns::wire::writer::build_query(id, "nginx.default.svc.cluster.local", 1, true)
}

#[test]
fn survives_random_and_truncated_packets() {
    let server = start_server(test_config(&fixture(), None));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(server.addr).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b6e6574);
    let mut sent = 0;
    for i in 0..6000u32 {
        let mut p = base_query(i as u16);
        match i % 4 {
            0 => p.truncate(rng.random_range(0..p.len())),
            1 => {
                for _ in 0..rng.random_range(1..6) {
                    let at = rng.random_range(0..p.len());
                    p[at] = rng.random();
                }
            }
            2 => {
                let n = rng.random_range(0..600);
                p = (0..n).map(|_| rng.random()).collect();
            }
            _ => {
                // Compression pointers sprinkled into the question.
                let at = rng.random_range(12..p.len());
                p[at] = 0xc0;
                if at + 1 < p.len() {
                    p[at + 1] = rng.random_range(0..p.len() as u8);
                }
            }
        }
        if sock.send(&p).is_ok() {
            sent += 1;
        }
    }
    assert_eq!(sent, 6000);
    // Over TCP too: garbage frames on one connection.
    {
        use std::io::Write;
        let mut t = std::net::TcpStream::connect(server.addr).unwrap();
        for i in 0..200u16 {
            let n = rng.random_range(0..300u16);
            let body: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            let mut frame = (i % 3 * 100 + n).to_be_bytes().to_vec();
            frame.extend_from_slice(&body);
            if t.write_all(&frame).is_err() {
                break;
            }
        }
    }
    let a = dig_at(server.addr, &["nginx.default.svc.cluster.local"]);
    assert_eq!(
        a.answer,
        vec!["nginx.default.svc.cluster.local. 30 IN A 10.102.97.154"],
        "{}",
        a.raw
    );
    let a = dig_at(
        server.addr,
        &["+tcp", "my-nginx-0.my-nginx-svc.default.svc.cluster.local"],
    );
    assert_eq!(a.data(), vec!["10.36.0.1"], "{}", a.raw);
}

#[test]
fn malformed_queries_get_formerr_or_notimp() {
    let server = start_server(test_config(&fixture(), None));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    sock.connect(server.addr).unwrap();
    let mut buf = [0u8; 512];
    let rcode_of = |p: &[u8], buf: &mut [u8]| {
        sock.send(p).unwrap();
        let n = sock.recv(buf).expect("an answer");
        assert!(n >= 12);
        (
            u16::from_be_bytes([buf[0], buf[1]]),
            buf[3] & 0x0f,
            buf[2] & 0x80 != 0,
        )
    };
    // Two questions.
    let mut p = base_query(0x1234);
    p[5] = 2;
    assert_eq!(rcode_of(&p, &mut buf), (0x1234, 1, true));
    // Name cut short.
    let p = base_query(0x2222)[..20].to_vec();
    assert_eq!(rcode_of(&p, &mut buf), (0x2222, 1, true));
    // Opcode NOTIFY.
    let mut p = base_query(0x3333);
    p[2] |= 4 << 3;
    assert_eq!(rcode_of(&p, &mut buf), (0x3333, 4, true));
    // Class CH: refused.
    let mut p = base_query(0x4444);
    let qclass_at = p.len() - 11 - 2;
    p[qclass_at + 1] = 3;
    assert_eq!(rcode_of(&p, &mut buf), (0x4444, 5, true));
}

/// The fuzz target's invariants (fuzz/fuzz_targets/query.rs), checked on
/// stable over seeded random mutations of real queries: no panic, every
/// reply parses, has QR set and fits the client's UDP limit.
#[test]
fn query_path_invariants_over_random_mutations() {
    use knet_dns::server::{Dns, Handled};
    use std::sync::Arc;
    let text = std::fs::read_to_string(fixture()).unwrap();
    let index = knet_dns::source::empty_index();
    let objects = knet_dns::source::load_objects(&text).unwrap();
    index.store(Arc::new(knet_dns::source::static_snapshot(objects, 1)));
    let dns = Dns::new(index, knet_dns::engine::EngineConfig::default());
    let names = [
        "nginx.default.svc.cluster.local",
        "_web._tcp.my-nginx-svc.default.svc.cluster.local",
        "1.0.36.10.in-addr.arpa",
        "10-1-2-3.default.pod.cluster.local",
        "alias.default.svc.cluster.local",
        "cluster.local",
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut replies = 0;
    for i in 0..200_000u32 {
        let name = names[i as usize % names.len()];
        let qtype = [1u16, 28, 33, 12, 6, 2, 16, 255, 252][rng.random_range(0..9)];
        let mut p = knet_dns::wire::writer::build_query(i as u16, name, qtype, rng.random());
        for _ in 0..rng.random_range(0..4) {
            let at = rng.random_range(0..p.len());
            p[at] = rng.random();
        }
        if rng.random_ratio(1, 4) {
            p.truncate(rng.random_range(0..p.len()));
        }
        let tcp = rng.random();
        if let Handled::Reply(out) = dns.handle(&p, tcp, false, i as usize) {
            replies += 1;
            assert!(out.len() >= 12 && out[2] & 0x80 != 0, "bad reply to {p:?}");
            if !tcp {
                let limit = knet_dns::wire::parse_query(&p).map_or(512, |q| q.udp_limit());
                assert!(
                    out.len() <= limit,
                    "reply of {} bytes over limit {limit}",
                    out.len()
                );
            }
            knet_dns::wire::rr::records(&out)
                .unwrap_or_else(|e| panic!("reply does not parse ({e}): {out:?}"));
        }
    }
    assert!(replies > 100_000, "only {replies} replies");
}
