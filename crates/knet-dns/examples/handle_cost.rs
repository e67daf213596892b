//! User-space cost of answering, without sockets: every query of a dnsperf
//! query file (from bench/dns_gen.py) goes through `Dns::handle` in one
//! thread, several rounds; prints the fastest round's nanoseconds per query.
//! The kernel's share of a real query is measured by bench/dns.sh; this is
//! the part knet's own code decides.
//!
//!   cargo run --release -p knet-dns --example handle_cost -- OBJECTS.json QUERIES.txt [ROUNDS]

use std::time::Instant;

use knet_dns::engine::EngineConfig;
use knet_dns::server::{Dns, Handled};
use knet_dns::source;
use knet_dns::wire::rtype;
use knet_dns::wire::writer::build_query;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let [_, objects, queries, rest @ ..] = args.as_slice() else {
        return Err("usage: handle_cost OBJECTS.json QUERIES.txt [ROUNDS]".into());
    };
    let rounds: usize = rest.first().map_or(Ok(7), |r| r.parse())?;
    let text = std::fs::read_to_string(objects).map_err(|e| format!("read {objects}: {e}"))?;
    let snap = source::load_snapshot(&text, 1)?;
    let index = source::empty_index();
    index.store(std::sync::Arc::new(snap));
    let dns = Dns::new(index, EngineConfig::default());

    let mut packets = Vec::new();
    for (i, line) in std::fs::read_to_string(queries)?.lines().enumerate() {
        let Some((name, ty)) = line.split_once(' ') else {
            continue;
        };
        let qtype = match ty.trim() {
            "A" => rtype::A,
            "AAAA" => rtype::AAAA,
            "SRV" => rtype::SRV,
            "TXT" => rtype::TXT,
            "PTR" => rtype::PTR,
            other => return Err(format!("query type {other} not handled here").into()),
        };
        packets.push(build_query(i as u16, name, qtype, true));
    }
    let mut best = f64::MAX;
    let mut answered = 0usize;
    for _ in 0..rounds {
        let t = Instant::now();
        for (i, p) in packets.iter().enumerate() {
            if let Handled::Reply(b) = dns.handle(p, false, false, i) {
                answered += usize::from(b.len() > 12);
            }
        }
        best = best.min(t.elapsed().as_nanos() as f64 / packets.len() as f64);
    }
    if answered != rounds * packets.len() {
        let total = rounds * packets.len();
        return Err(format!("only {answered} of {total} queries answered").into());
    }
    println!(
        "{} queries x {rounds} rounds: best {best:.0} ns/query",
        packets.len()
    );
    Ok(())
}
