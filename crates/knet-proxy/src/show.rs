//! `ipvsadm -Ln`-style listing of the balancer: every Service address with
//! its endpoints (seed 002).

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::model::{Endpoint, ProxyState, ServicePort};

fn vs(ip: &IpAddr, port: u16) -> String {
    Endpoint { ip: *ip, port }.to_string()
}

fn rows(out: &mut String, proto: &str, addr: &str, flags: &str, eps: &[Endpoint], forward: &str) {
    let _ = writeln!(out, "{proto:<4} {addr:<40} {flags}");
    for ep in eps {
        let _ = writeln!(out, "  -> {:<36} {forward:<7} 1", ep.to_string());
    }
}

fn port_rows(out: &mut String, p: &ServicePort) {
    let proto = p.name.protocol.nft().to_uppercase();
    let mut flags = format!("random  # {}", p.name);
    if let Some(t) = p.affinity_timeout {
        flags = format!("random persistent {t}  # {}", p.name);
    }
    rows(
        out,
        &proto,
        &vs(&p.cluster_ip, p.port),
        &flags,
        p.internal_endpoints(),
        "Masq",
    );
    for ip in p.external_ips.iter().chain(&p.lb_ips) {
        rows(
            out,
            &proto,
            &vs(ip, p.port),
            &flags,
            p.external_endpoints(),
            "Masq",
        );
    }
    if let Some(np) = p.node_port {
        rows(
            out,
            &proto,
            &format!("<node>:{np}"),
            &flags,
            p.external_endpoints(),
            "Masq",
        );
    }
}

/// Renders the listing, one virtual server per Service address.
pub fn ipvsadm_style(state: &ProxyState) -> String {
    let mut out = String::from(
        "knet proxy (nftables)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight\n",
    );
    for p in state.ports.values() {
        port_rows(&mut out, p);
    }
    out
}
