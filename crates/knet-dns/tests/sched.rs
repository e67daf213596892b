//! The UDP workers' scheduling policy: SCHED_BATCH by default (queries queue
//! up under load and are taken many per system call), SCHED_OTHER with
//! `UdpSched::Normal`. Read back from /proc for this process's threads, and
//! each server must still answer.

mod common;

use common::{dig_at, fixture, start_server, test_config};
use knet_dns::config::UdpSched;

/// Linux policy numbers as `/proc/<pid>/task/<tid>/stat` field 41 shows them.
const SCHED_OTHER: u32 = 0;
const SCHED_BATCH: u32 = 3;

/// Policies of this process's threads named `knet-dns-udp-*`.
fn udp_worker_policies() -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").expect("read /proc/self/task") {
        let dir = task.expect("task entry").path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue; // the thread ended meanwhile
        };
        if !comm.trim().starts_with("knet-dns-udp-") {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).expect("read stat");
        // Fields after the parenthesised name start at field 3 (state).
        let rest = &stat[stat.rfind(')').expect("stat has a name") + 2..];
        let policy = rest
            .split_whitespace()
            .nth(41 - 3)
            .expect("policy field")
            .parse()
            .expect("numeric policy");
        out.push(policy);
    }
    out
}

fn check(sched: UdpSched, want: u32) {
    let mut cfg = test_config(&fixture(), None);
    cfg.threads = 3;
    cfg.udp_sched = sched;
    let server = start_server(cfg);
    let a = dig_at(server.addr, &["nginx.default.svc.cluster.local", "A"]);
    assert_eq!(a.status, "NOERROR", "{sched:?} server answers: {a:?}");
    assert_eq!(udp_worker_policies(), vec![want; 3], "{sched:?}");
    drop(server);
    assert!(
        udp_worker_policies().is_empty(),
        "the workers stop with the server"
    );
}

#[test]
fn udp_workers_run_under_the_configured_policy() {
    // One test: both servers' workers share the thread-name prefix.
    assert_eq!(UdpSched::default(), UdpSched::Batch);
    check(UdpSched::Batch, SCHED_BATCH);
    check(UdpSched::Normal, SCHED_OTHER);
}
