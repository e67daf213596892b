//! Helpers shared by the `cni_*` tests: root check, unique names, running
//! a CNI plugin binary inside a node namespace, listing links.
#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

pub use knet_testing::{require_root, uniq};

/// Runs `knet cni` inside `node` with `env`; returns (exit code, stdout JSON or Null).
pub fn cni(node: &str, env: &[(&str, &str)], stdin: &str) -> (i32, Value) {
    plugin(node, &[env!("CARGO_BIN_EXE_knet"), "cni"], env, stdin)
}

/// Runs a plugin command line inside `node`; returns (exit code, stdout JSON or Null).
pub fn plugin(node: &str, argv: &[&str], env: &[(&str, &str)], stdin: &str) -> (i32, Value) {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", node])
        .args(argv)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {text}"))
    };
    (out.status.code().unwrap_or(-1), v)
}

/// Link names in namespace `ns`.
pub fn links(ns: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["-n", ns, "-o", "link", "show"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split(": ")
                .nth(1)
                .map(|n| n.split('@').next().unwrap().to_string())
        })
        .collect()
}

/// `ip -j <args>` parsed.
pub fn ip_json(args: &[&str]) -> Value {
    let out = Command::new("ip").arg("-j").args(args).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// An underlay namespace with bridge `ulbr` and `count` node namespaces on
/// it, each with `eth0` at `<subnet>.<i + 1>/24` (`subnet` like "192.168.60").
pub async fn underlay_with_nodes(
    subnet: &str,
    count: usize,
) -> (
    knet_podnet::netns::NamedNetns,
    Vec<knet_podnet::netns::NamedNetns>,
) {
    use knet_podnet::netns::NamedNetns;
    use knet_podnet::topology::{Uplink, attach_node, underlay_bridge};
    let underlay = NamedNetns::create(&uniq("u")).expect("underlay netns");
    underlay_bridge(underlay.netns(), "ulbr", None)
        .await
        .expect("underlay bridge");
    let mut nodes = Vec::new();
    for i in 0..count {
        let node = NamedNetns::create(&uniq("n")).expect("node netns");
        attach_node(&Uplink {
            underlay: underlay.netns(),
            bridge: "ulbr",
            port: &format!("n{i}"),
            node: node.netns(),
            ifname: "eth0",
            addr: format!("{subnet}.{}/24", i + 1)
                .parse()
                .expect("node address"),
            mtu: None,
        })
        .await
        .expect("attach node");
        nodes.push(node);
    }
    (underlay, nodes)
}
