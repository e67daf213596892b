//! Fuzzes the whole synchronous query path: parse → index lookup → encode,
//! as the UDP and TCP listeners run it, against the test fixture's cluster.
//! Any panic is a bug; every answer must be a parseable DNS response no
//! larger than the client's limit.
#![no_main]

use std::sync::{Arc, OnceLock};

use knet_dns::engine::EngineConfig;
use knet_dns::server::{Dns, Handled};
use libfuzzer_sys::fuzz_target;

fn dns() -> &'static Dns {
    static DNS: OnceLock<Dns> = OnceLock::new();
    DNS.get_or_init(|| {
        let text = include_str!("../../tests/fixtures/cluster.yaml");
        let objects = knet_dns::source::load_objects(text).expect("fixture");
        let index = knet_dns::source::empty_index();
        index.store(Arc::new(knet_dns::source::static_snapshot(objects, 1)));
        Dns::new(index, EngineConfig::default())
    })
}

fuzz_target!(|data: &[u8]| {
    for tcp in [false, true] {
        if let Handled::Reply(out) = dns().handle(data, tcp, false, data.len()) {
            assert!(out.len() >= 12, "short reply");
            assert!(out[2] & 0x80 != 0, "reply without QR");
            if !tcp {
                let limit = knet_dns::wire::parse_query(data).map_or(512, |q| q.udp_limit());
                assert!(out.len() <= limit.max(512), "reply over the client's limit");
            }
            let _ = knet_dns::wire::rr::records(&out).expect("reply must parse");
        }
    }
});
