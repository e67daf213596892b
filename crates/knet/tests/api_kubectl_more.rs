//! More of kubectl against `knet api`: `kubectl auth can-i` and `kubectl auth
//! whoami` (the reviews kubectl sends as protobuf are answered for the one
//! admin identity, and nothing is stored), and `--sort-by` on any field
//! (Tables carry whole objects with `includeObject=Object`).

#[path = "api_support/server.rs"]
mod server;

use server::{ApiProc, Kubectl};

#[test]
fn kubectl_auth_can_i_and_whoami() {
    let dir = tempfile::tempdir().unwrap();
    let api = ApiProc::start(dir.path());
    let k = Kubectl::new(&api, dir.path());
    assert_eq!(k.ok(&["auth", "can-i", "create", "pods"]).trim(), "yes");
    assert_eq!(
        k.ok(&[
            "auth",
            "can-i",
            "delete",
            "deployments",
            "-n",
            "kube-system"
        ])
        .trim(),
        "yes"
    );
    assert_eq!(k.ok(&["auth", "can-i", "get", "/healthz"]).trim(), "yes");
    let me = k.ok(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username} {.status.userInfo.groups}",
    ]);
    assert_eq!(
        me,
        r#"knet-admin ["system:masters","system:authenticated"]"#
    );
    let rules = k.ok(&["auth", "can-i", "--list"]);
    assert!(rules.lines().any(|l| l.starts_with("*.*")), "{rules}");
    // Reviews are answered, not stored; there is nothing to list.
    let listed = k.run(&["get", "selfsubjectaccessreviews"]);
    assert_ne!(listed.code, 0, "reviews cannot be listed: {listed:?}");
    assert!(
        listed.stderr.contains("MethodNotAllowed") || listed.stderr.contains("not allow"),
        "{listed:?}"
    );
}

#[test]
fn kubectl_sort_by_any_field() {
    let dir = tempfile::tempdir().unwrap();
    let api = ApiProc::start(dir.path());
    let k = Kubectl::new(&api, dir.path());
    for (name, v) in [("a", "3"), ("b", "1"), ("c", "2")] {
        k.ok(&[
            "create",
            "configmap",
            name,
            &format!("--from-literal=k={v}"),
        ]);
    }
    let sorted = k.ok(&["get", "cm", "--sort-by=.data.k", "-o", "name"]);
    let names: Vec<&str> = sorted
        .lines()
        .filter(|l| !l.contains("kube-root-ca"))
        .collect();
    assert_eq!(
        names,
        ["configmap/b", "configmap/c", "configmap/a"],
        "{sorted}"
    );
    let table = k.ok(&["get", "cm", "--sort-by=.data.k"]);
    let rows: Vec<&str> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "kube-root-ca.crt")
        .collect();
    assert_eq!(rows, ["b", "c", "a"], "{table}");
}

#[test]
fn kubectl_debug_adds_ephemeral_containers_through_their_subresource() {
    let dir = tempfile::tempdir().unwrap();
    let api = ApiProc::start(dir.path());
    let k = Kubectl::new(&api, dir.path());
    let v1 = k.ok(&["get", "--raw", "/api/v1"]);
    assert!(v1.contains(r#""name":"pods/ephemeralcontainers""#), "{v1}");
    k.ok(&["run", "p", "--image=nginx"]);
    // Without --attach nothing waits for a node agent: the PATCH of
    // pods/p/ephemeralcontainers is the whole command.
    k.ok(&[
        "debug",
        "p",
        "--image=busybox",
        "--container=dbg",
        "--",
        "true",
    ]);
    let names = "jsonpath={.spec.ephemeralContainers[*].name}";
    assert_eq!(k.ok(&["get", "pod", "p", "-o", names]), "dbg");
    k.ok(&[
        "debug",
        "p",
        "--image=alpine",
        "--container=dbg2",
        "--target=p",
        "--",
        "ip",
        "addr",
    ]);
    assert_eq!(k.ok(&["get", "pod", "p", "-o", names]), "dbg dbg2");
    assert_eq!(
        k.ok(&[
            "get",
            "pod",
            "p",
            "-o",
            "jsonpath={.spec.ephemeralContainers[1].targetContainerName}"
        ]),
        "p"
    );
    // A target that is not a container of the pod is refused.
    k.fails(
        &[
            "debug",
            "p",
            "--image=busybox",
            "--container=dbg3",
            "--target=nope",
            "--",
            "true",
        ],
        "targetContainerName: Not found",
    );
    // Updates of the pod itself leave them alone (they change only through
    // the subresource), as kube-apiserver does.
    k.ok(&["label", "pod", "p", "debugged=yes"]);
    let json = k.ok(&["get", "pod", "p", "-o", "json"]);
    let mut pod: serde_json::Value = serde_json::from_str(&json).unwrap();
    pod["spec"]
        .as_object_mut()
        .unwrap()
        .remove("ephemeralContainers");
    k.file("p.json", &pod.to_string());
    k.ok(&["replace", "-f", "p.json"]);
    assert_eq!(k.ok(&["get", "pod", "p", "-o", names]), "dbg dbg2");
}
