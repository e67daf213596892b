//! Side by side with Debian's reference plugins (`/usr/lib/cni/bridge` +
//! `host-local`): the same network config goes through both, each in its
//! own throwaway node + pod namespaces, and the results, interfaces,
//! addresses, routes, MTU, bridge port flags and IPAM files must match.
//! (The reference chain adds the `loopback` plugin: knet's plugin sets `lo`
//! up itself.)

#[path = "cni_support/helpers.rs"]
mod helpers;

use std::collections::BTreeSet;
use std::path::Path;

use helpers::{cni, ip_json, links, plugin, require_root, uniq};
use knet_podnet::netns::NamedNetns;
use serde_json::{Value, json};

const REF_BRIDGE: &str = "/usr/lib/cni/bridge";

fn conf(data_dir: &Path) -> String {
    json!({
        "cniVersion": "1.0.0", "name": "kntcmp", "type": "bridge", "bridge": "cbr0",
        "isDefaultGateway": true, "hairpinMode": true, "mtu": 1450,
        "ipam": {"type": "host-local",
                 "ranges": [[{"subnet": "10.251.0.0/24", "rangeStart": "10.251.0.10", "rangeEnd": "10.251.0.20"}]],
                 "routes": [{"dst": "10.244.0.0/16"}, {"dst": "10.99.0.0/16", "gw": "10.251.0.1"}],
                 "dataDir": data_dir}
    })
    .to_string()
}

/// The result with per-run values (MACs, veth name, netns path) masked.
fn normalise(mut v: Value) -> Value {
    for (i, iface) in v["interfaces"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        iface["mac"] = "<mac>".into();
        if i == 1 {
            iface["name"] = "<veth>".into();
        }
        if iface.get("sandbox").is_some() {
            iface["sandbox"] = "<netns>".into();
        }
    }
    v
}

/// Pod side: eth0's IPv4 addresses, MTU, state; the routing table; sysctls.
fn pod_state(pod: &str) -> Value {
    let addr = ip_json(&["-n", pod, "addr", "show", "eth0"]);
    let a = &addr[0];
    let v4: Vec<Value> = a["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["family"] == "inet")
        .map(|i| json!([i["local"], i["prefixlen"]]))
        .collect();
    let routes: BTreeSet<String> = ip_json(&["-n", pod, "route"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} via {} dev {} proto {} scope {}",
                r["dst"], r["gateway"], r["dev"], r["protocol"], r["scope"]
            )
        })
        .collect();
    let lo = &ip_json(&["-n", pod, "link", "show", "lo"])[0];
    json!({"v4": v4, "mtu": a["mtu"], "up": a["operstate"], "routes": routes,
           "lo_up": lo["flags"].as_array().unwrap().contains(&json!("UP")),
           "links": links(pod)})
}

/// Node side: bridge addresses and MTU; the host veth's MTU, master, hairpin.
fn node_state(node: &str, veth: &str) -> Value {
    let br = &ip_json(&["-n", node, "addr", "show", "cbr0"])[0];
    let br_v4: Vec<Value> = br["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["family"] == "inet")
        .map(|i| json!([i["local"], i["prefixlen"]]))
        .collect();
    let v = &ip_json(&["-n", node, "-d", "link", "show", veth])[0];
    json!({"bridge_v4": br_v4, "bridge_mtu": br["mtu"], "veth_mtu": v["mtu"], "veth_master": v["master"],
           "hairpin": v["linkinfo"]["info_slave_data"]["hairpin"], "veth_up": v["operstate"]})
}

fn sysctl(ns: &str, key: &str) -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "sysctl", "-n", key])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn same_config_same_outcome_as_reference_bridge() {
    if !require_root() {
        return;
    }
    assert!(
        Path::new(REF_BRIDGE).exists(),
        "Debian containernetworking-plugins missing: {REF_BRIDGE}"
    );
    let (nk, pk) = (
        NamedNetns::create(&uniq("n")).unwrap(),
        NamedNetns::create(&uniq("p")).unwrap(),
    );
    let (nr, pr) = (
        NamedNetns::create(&uniq("n")).unwrap(),
        NamedNetns::create(&uniq("p")).unwrap(),
    );
    let (dk, dr) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let env = |netns: &NamedNetns, cmd: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("CNI_COMMAND", cmd.to_string()),
            ("CNI_CONTAINERID", "cmp-1".to_string()),
            ("CNI_NETNS", netns.path().display().to_string()),
            ("CNI_IFNAME", "eth0".to_string()),
            ("CNI_PATH", "/usr/lib/cni".to_string()),
        ]
    };
    let as_ref = |e: &Vec<(&'static str, String)>| {
        e.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>()
    };
    let run_k = |cmd| {
        let e = as_ref(&env(&pk, cmd));
        let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
        cni(nk.name(), &e, &conf(dk.path()))
    };
    let run_r = |cmd| {
        let e = as_ref(&env(&pr, cmd));
        let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
        plugin(nr.name(), &[REF_BRIDGE], &e, &conf(dr.path()))
    };

    let (ck, rk) = run_k("ADD");
    let (cr, rr) = run_r("ADD");
    assert_eq!((ck, cr), (0, 0), "knet: {rk}\nreference: {rr}");
    // knet brings `lo` up itself; the reference chain needs its loopback plugin.
    let lo_env = [
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "cmp-1"),
        ("CNI_NETNS", pr.path().to_str().unwrap()),
        ("CNI_IFNAME", "lo"),
        ("CNI_PATH", "/usr/lib/cni"),
    ];
    let lo_conf = r#"{"cniVersion":"1.0.0","name":"kntcmp","type":"loopback"}"#;
    assert_eq!(
        plugin(nr.name(), &["/usr/lib/cni/loopback"], &lo_env, lo_conf).0,
        0
    );
    assert_eq!(normalise(rk.clone()), normalise(rr.clone()), "result JSON");

    assert_eq!(
        pod_state(pk.name()),
        pod_state(pr.name()),
        "pod interfaces, addresses, MTU, routes"
    );
    let vk = rk["interfaces"][1]["name"].as_str().unwrap().to_string();
    let vr = rr["interfaces"][1]["name"].as_str().unwrap().to_string();
    assert_eq!(
        node_state(nk.name(), &vk),
        node_state(nr.name(), &vr),
        "bridge and host veth"
    );
    let key = "net.ipv4.ip_forward";
    assert_eq!(sysctl(nk.name(), key), "1", "isGateway turns forwarding on");
    assert_eq!(sysctl(nk.name(), key), sysctl(nr.name(), key), "{key}");
    assert_eq!(
        sysctl(pk.name(), "net.ipv4.conf.eth0.arp_notify"),
        sysctl(pr.name(), "net.ipv4.conf.eth0.arp_notify")
    );
    let files = |d: &Path| -> Vec<(String, String)> {
        let mut v: Vec<_> = std::fs::read_dir(d.join("kntcmp"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().into_string().unwrap(),
                    std::fs::read_to_string(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(files(dk.path()), files(dr.path()), "host-local state files");

    // DEL on both: same cleanup.
    assert_eq!(run_k("DEL").0, 0);
    assert_eq!(run_r("DEL").0, 0);
    assert_eq!(links(pk.name()), links(pr.name()));
    assert_eq!(
        links(nk.name()),
        links(nr.name()),
        "bridge stays, veth gone"
    );
    assert_eq!(files(dk.path()), files(dr.path()), "addresses released");
}
