//! `knet cni` as a container runtime calls it: the real binary, run inside a
//! throwaway node namespace with `CNI_*` variables and the config on stdin.
//! Covers ADD/DEL/CHECK/VERSION/STATUS/GC, idempotent DEL, reuse after DEL,
//! the spec's error codes for bad input, and rollback (no half-made
//! interfaces, no leaked addresses).

#[path = "cni_support/helpers.rs"]
mod helpers;

use std::path::Path;
use std::process::Command;

use helpers::{cni, links, require_root, uniq};

use knet_podnet::netns::NamedNetns;
use serde_json::Value;

fn conf(data_dir: &Path, subnet: &str, extra: &str) -> String {
    format!(
        r#"{{"cniVersion":"1.1.0","name":"kntp","type":"bridge","bridge":"cbr0","isDefaultGateway":true,"hairpinMode":true,"mtu":1400{extra},
            "ipam":{{"type":"host-local","ranges":[[{{"subnet":"{subnet}"}}]],"dataDir":"{}"}}}}"#,
        data_dir.display()
    )
}

fn add_env<'a>(id: &'a str, netns: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", id),
        ("CNI_NETNS", netns),
        ("CNI_IFNAME", "eth0"),
        ("CNI_PATH", "/opt/cni/bin"),
    ]
}

fn with_cmd<'a>(
    mut env: Vec<(&'static str, &'a str)>,
    cmd: &'static str,
) -> Vec<(&'static str, &'a str)> {
    env[0] = ("CNI_COMMAND", cmd);
    env
}

fn ip_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("kntp"))
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.parse::<std::net::Ipv4Addr>().is_ok())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn add_check_del_del_add() {
    if !require_root() {
        return;
    }
    let node = NamedNetns::create(&uniq("n")).unwrap();
    let pod = NamedNetns::create(&uniq("p")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = conf(dir.path(), "10.250.1.0/24", "");
    let netns = pod.path().to_str().unwrap();
    let env = add_env("ctr-a", netns);

    let (code, res) = cni(node.name(), &env, &c);
    assert_eq!(code, 0, "{res}");
    assert_eq!(res["cniVersion"], "1.1.0");
    assert_eq!(res["ips"][0]["address"], "10.250.1.2/24");
    assert_eq!(res["ips"][0]["gateway"], "10.250.1.1");
    assert_eq!(res["interfaces"][2]["name"], "eth0");
    assert_eq!(res["interfaces"][2]["sandbox"], netns);
    assert_eq!(res["interfaces"][2]["mtu"], 1400);
    let veth = res["interfaces"][1]["name"].as_str().unwrap().to_string();
    assert!(links(node.name()).contains(&veth));
    assert_eq!(ip_files(dir.path()), vec!["10.250.1.2"]);
    let (_, r) = (
        0,
        Command::new("ip")
            .args(["-n", pod.name(), "route"])
            .output()
            .unwrap(),
    );
    assert!(String::from_utf8_lossy(&r.stdout).contains("default via 10.250.1.1 dev eth0"));
    let (_, l) = (
        0,
        Command::new("ip")
            .args(["-n", node.name(), "-d", "link", "show", &veth])
            .output()
            .unwrap(),
    );
    let l = String::from_utf8_lossy(&l.stdout).into_owned();
    assert!(
        l.contains("master cbr0") && l.contains("hairpin on") && l.contains("mtu 1400"),
        "{l}"
    );

    // ADD again for the same interface is refused and changes nothing.
    let (code, err) = cni(node.name(), &add_env("ctr-b", netns), &c);
    assert_eq!((code, err["code"].as_u64()), (1, Some(100)), "{err}");
    assert_eq!(ip_files(dir.path()), vec!["10.250.1.2"]);

    // CHECK with the previous result passes; with a wrong address fails.
    let mut chk: Value = serde_json::from_str(&c).unwrap();
    chk["prevResult"] = res.clone();
    assert_eq!(
        cni(
            node.name(),
            &with_cmd(env.clone(), "CHECK"),
            &chk.to_string()
        )
        .0,
        0
    );
    chk["prevResult"]["ips"][0]["address"] = "10.250.1.99/24".into();
    let (code, err) = cni(
        node.name(),
        &with_cmd(env.clone(), "CHECK"),
        &chk.to_string(),
    );
    assert_eq!((code, err["code"].as_u64()), (1, Some(103)), "{err}");

    // DEL removes the veth and frees the IP; a second DEL succeeds.
    let (code, out) = cni(node.name(), &with_cmd(env.clone(), "DEL"), &c);
    assert_eq!((code, out), (0, Value::Null));
    assert!(!links(node.name()).contains(&veth));
    assert_eq!(links(pod.name()), vec!["lo"]);
    assert!(ip_files(dir.path()).is_empty());
    let (code, _) = cni(node.name(), &with_cmd(env.clone(), "DEL"), &c);
    assert_eq!(code, 0, "second DEL");
    // DEL without CNI_NETNS and with a vanished netns also succeeds.
    let del_no_ns = vec![
        ("CNI_COMMAND", "DEL"),
        ("CNI_CONTAINERID", "ctr-a"),
        ("CNI_IFNAME", "eth0"),
    ];
    assert_eq!(cni(node.name(), &del_no_ns, &c).0, 0);

    // ADD after DEL: a fresh veth and the next address (round-robin), no stale state.
    let (code, res2) = cni(node.name(), &env, &c);
    assert_eq!(code, 0, "{res2}");
    assert_eq!(res2["ips"][0]["address"], "10.250.1.3/24");
    assert_eq!(ip_files(dir.path()), vec!["10.250.1.3"]);

    // GC with no valid attachments releases the address.
    let mut gc: Value = serde_json::from_str(&c).unwrap();
    gc["cni.dev/valid-attachments"] = serde_json::json!([]);
    let gc_env = vec![("CNI_COMMAND", "GC"), ("CNI_PATH", "/opt/cni/bin")];
    assert_eq!(cni(node.name(), &gc_env, &gc.to_string()).0, 0);
    assert!(ip_files(dir.path()).is_empty());
    // STATUS and VERSION.
    assert_eq!(cni(node.name(), &[("CNI_COMMAND", "STATUS")], &c).0, 0);
    let (code, v) = cni(
        node.name(),
        &[("CNI_COMMAND", "VERSION")],
        r#"{"cniVersion":"1.1.0"}"#,
    );
    assert_eq!(code, 0);
    assert!(
        v["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&"1.1.0".into())
    );
}

/// (what, environment, stdin, expected error code).
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, String, u64);

#[test]
fn bad_input_gets_spec_codes_and_leaves_nothing() {
    if !require_root() {
        return;
    }
    let node = NamedNetns::create(&uniq("n")).unwrap();
    let pod = NamedNetns::create(&uniq("p")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let netns = pod.path().to_str().unwrap();
    let good = conf(dir.path(), "10.250.2.0/30", "");
    let env = add_env("ctr-x", netns);
    let clean = |what: &str| {
        assert_eq!(
            links(pod.name()),
            vec!["lo"],
            "{what}: pod namespace untouched"
        );
        assert!(
            links(node.name()).iter().all(|l| l == "lo" || l == "cbr0"),
            "{what}: no veth left: {:?}",
            links(node.name())
        );
    };
    let cases: Vec<Case<'_>> = vec![
        ("malformed JSON", env.clone(), "{\"cniVersion\": ".into(), 6),
        (
            "unknown cniVersion",
            env.clone(),
            good.replace("1.1.0", "9.0.0"),
            1,
        ),
        (
            "missing env vars",
            vec![("CNI_COMMAND", "ADD")],
            good.clone(),
            4,
        ),
        (
            "unknown command",
            vec![("CNI_COMMAND", "FROB")],
            good.clone(),
            4,
        ),
        (
            "nonexistent netns",
            add_env("ctr-x", "/run/netns/knt-does-not-exist"),
            good.clone(),
            3,
        ),
        (
            "missing name",
            env.clone(),
            good.replace("\"name\":\"kntp\",", ""),
            7,
        ),
        (
            "bad range",
            env.clone(),
            conf(dir.path(), "10.250.2.0/31", ""),
            7,
        ),
        (
            "unsupported field",
            env.clone(),
            conf(dir.path(), "10.250.2.0/30", ",\"vlan\":12"),
            2,
        ),
        (
            "ifname too long",
            vec![
                ("CNI_COMMAND", "ADD"),
                ("CNI_CONTAINERID", "c"),
                ("CNI_NETNS", netns),
                ("CNI_IFNAME", "abcdefghijklmnopq"),
            ],
            good.clone(),
            4,
        ),
    ];
    for (what, env, stdin, want) in cases {
        let (code, err) = cni(node.name(), &env, &stdin);
        assert_eq!(code, 1, "{what}: {err}");
        assert_eq!(err["code"].as_u64(), Some(want), "{what}: {err}");
        assert!(
            !err["msg"].as_str().unwrap_or("").is_empty(),
            "{what}: message"
        );
        clean(what);
    }
    assert!(ip_files(dir.path()).is_empty());

    // A failure half-way (a route the kernel refuses) rolls everything back.
    let bad_route = good.replace(
        "\"dataDir\"",
        "\"routes\":[{\"dst\":\"10.9.0.0/16\",\"gw\":\"172.31.0.1\"}],\"dataDir\"",
    );
    let (code, err) = cni(node.name(), &env, &bad_route);
    assert_eq!((code, err["code"].as_u64()), (1, Some(102)), "{err}");
    clean("rollback after a refused route");
    assert!(
        ip_files(dir.path()).is_empty(),
        "address released on rollback"
    );

    // Exhaustion: a /30 holds one pod; the second ADD fails with 101 and leaks nothing.
    assert_eq!(cni(node.name(), &env, &good).0, 0);
    let pod2 = NamedNetns::create(&uniq("p")).unwrap();
    let (code, err) = cni(
        node.name(),
        &add_env("ctr-y", pod2.path().to_str().unwrap()),
        &good,
    );
    assert_eq!((code, err["code"].as_u64()), (1, Some(101)), "{err}");
    assert_eq!(links(pod2.name()), vec!["lo"]);
    assert_eq!(ip_files(dir.path()).len(), 1);
}

/// Installed under a plugin name (argv[0] not `knet`), the binary speaks CNI
/// directly, as a container runtime calls it.
#[test]
fn works_when_installed_under_a_plugin_name() {
    if !require_root() {
        return;
    }
    let bin = tempfile::tempdir().unwrap();
    let plugin_path = bin.path().join("knet-bridge");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_knet"), &plugin_path).unwrap();
    let plugin_path = plugin_path.to_str().unwrap();
    let node = NamedNetns::create(&uniq("n")).unwrap();
    let pod = NamedNetns::create(&uniq("p")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = conf(dir.path(), "10.250.3.0/24", "")
        .replace("\"bridge\",\"bridge\"", "\"knet-bridge\",\"bridge\"");
    let (code, v) = helpers::plugin(
        node.name(),
        &[plugin_path],
        &[("CNI_COMMAND", "VERSION")],
        "{}",
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["cniVersion"], "1.1.0");
    let netns = pod.path().to_str().unwrap();
    let (code, res) = helpers::plugin(node.name(), &[plugin_path], &add_env("ctr-p", netns), &c);
    assert_eq!(code, 0, "{res}");
    assert_eq!(res["ips"][0]["address"], "10.250.3.2/24");
    let (code, _) = helpers::plugin(
        node.name(),
        &[plugin_path],
        &with_cmd(add_env("ctr-p", netns), "DEL"),
        &c,
    );
    assert_eq!(code, 0);
    assert_eq!(links(pod.name()), vec!["lo"]);
}

/// `ipMasq`: traffic from the pod to an address outside the pod network
/// leaves with the node's address (nft rule in the node namespace only);
/// DEL removes the rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_masq_rewrites_source_and_del_removes_rule() {
    if !require_root() {
        return;
    }
    use knet_podnet::topology::{Uplink, attach_node, underlay_bridge};
    let outside = NamedNetns::create(&uniq("o")).unwrap();
    let node = NamedNetns::create(&uniq("n")).unwrap();
    let pod = NamedNetns::create(&uniq("p")).unwrap();
    underlay_bridge(outside.netns(), "obr", None).await.unwrap();
    let nl_addr = "192.168.99.2/24".parse().unwrap();
    attach_node(&Uplink {
        underlay: outside.netns(),
        bridge: "obr",
        port: "up0",
        node: node.netns(),
        ifname: "eth0",
        addr: "192.168.99.1/24".parse().unwrap(),
        mtu: None,
    })
    .await
    .unwrap();
    {
        let nl = knet_podnet::netlink::Netlink::connect(outside.netns()).unwrap();
        let br = nl.require_link("obr").await.unwrap();
        nl.add_address(br.index, nl_addr).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let c = conf(dir.path(), "10.250.4.0/24", ",\"ipMasq\":true");
    let netns = pod.path().to_str().unwrap().to_string();
    let env = add_env("ctr-m", &netns);
    let (code, res) = cni(node.name(), &env, &c);
    assert_eq!(code, 0, "{res}");
    let (_, rules) = (
        0,
        Command::new("ip")
            .args([
                "netns",
                "exec",
                node.name(),
                "nft",
                "list",
                "table",
                "ip",
                "knet-cni",
            ])
            .output()
            .unwrap(),
    );
    let rules = String::from_utf8_lossy(&rules.stdout).into_owned();
    assert!(
        rules.contains("ip saddr 10.250.4.2") && rules.contains("masquerade"),
        "{rules}"
    );

    let server = outside.netns();
    let listener = server
        .run(|| std::net::TcpListener::bind("192.168.99.2:9090"))
        .unwrap()
        .unwrap();
    let accept = std::thread::spawn(move || listener.accept().map(|(_, peer)| peer));
    let _client = pod
        .netns()
        .run(|| {
            std::net::TcpStream::connect_timeout(
                &"192.168.99.2:9090".parse().unwrap(),
                std::time::Duration::from_secs(3),
            )
        })
        .unwrap()
        .unwrap();
    let peer = accept.join().unwrap().unwrap();
    assert_eq!(
        peer.ip().to_string(),
        "192.168.99.1",
        "source masqueraded to the node address"
    );

    assert_eq!(cni(node.name(), &with_cmd(env.clone(), "DEL"), &c).0, 0);
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            node.name(),
            "nft",
            "list",
            "table",
            "ip",
            "knet-cni",
        ])
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!rules.contains("10.250.4.2"), "rule removed: {rules}");
    // The root namespace has no knet-cni table.
    let root = Command::new("nft")
        .args(["list", "table", "ip", "knet-cni"])
        .output()
        .unwrap();
    assert!(!root.status.success(), "nothing in the root namespace");
}
