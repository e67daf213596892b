//! End to end: the real `knet api` binary and the real kubectl.

#[path = "api_support/server.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;
use support::{ApiProc, Kubectl};

const WEB: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 80
";

const CM: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  color: blue
";

fn setup() -> (tempfile::TempDir, ApiProc, Kubectl) {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = ApiProc::start(dir.path());
    let k = Kubectl::new(&api, dir.path());
    (dir, api, k)
}

#[test]
fn apply_scale_get_describe_delete() {
    let (_dir, _api, k) = setup();
    k.file("web.yaml", WEB);
    let out = k.ok(&["apply", "-f", "web.yaml"]);
    assert!(
        out.contains("deployment.apps/web created") && out.contains("service/web created"),
        "{out}"
    );
    let out = k.ok(&["apply", "-f", "web.yaml"]);
    assert!(out.contains("deployment.apps/web unchanged"), "{out}");
    // A changed re-apply is a strategic merge patch.
    k.file(
        "web.yaml",
        &WEB.replace("nginx:1.27", "nginx:1.28")
            .replace("replicas: 1", "replicas: 3"),
    );
    let out = k.ok(&["apply", "-f", "web.yaml"]);
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let got = k.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.metadata.generation}"]);
    assert_eq!(got, "3 nginx:1.28 2");
    let annotations = k.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.metadata.annotations}",
    ]);
    assert!(
        annotations.contains("last-applied-configuration"),
        "{annotations}"
    );

    let out = k.ok(&["scale", "deploy", "web", "--replicas=2"]);
    assert!(out.contains("deployment.apps/web scaled"), "{out}");
    assert_eq!(
        k.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "2"
    );

    let wide = k.ok(&["get", "deploy,svc", "-o", "wide"]);
    assert!(
        wide.contains("deployment.apps/web")
            && wide.contains("nginx:1.28")
            && wide.contains("service/web"),
        "{wide}"
    );
    let names = k.ok(&[
        "get",
        "deploy",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]);
    assert_eq!(names, "web");
    assert_eq!(k.ok(&["get", "deploy", "-l", "app!=web", "-o", "name"]), "");

    let desc = k.ok(&["describe", "service", "web"]);
    assert!(
        desc.contains("Name:") && desc.contains("web") && desc.contains("app=web"),
        "{desc}"
    );

    let out = k.ok(&["delete", "-f", "web.yaml"]);
    assert!(
        out.contains("deployment.apps \"web\" deleted") && out.contains("service \"web\" deleted"),
        "{out}"
    );
    k.fails(
        &["get", "deploy", "web"],
        "Error from server (NotFound): deployments.apps \"web\" not found",
    );
}

#[test]
fn server_side_apply_and_create_from_file() {
    let (_dir, _api, k) = setup();
    k.file("cm.yaml", CM);
    let out = k.ok(&["apply", "--server-side", "-f", "cm.yaml"]);
    assert!(out.contains("configmap/cfg serverside-applied"), "{out}");
    k.file("cm.yaml", &CM.replace("blue", "green"));
    k.ok(&["apply", "--server-side", "-f", "cm.yaml"]);
    assert_eq!(
        k.ok(&["get", "cm", "cfg", "-o", "jsonpath={.data.color}"]),
        "green"
    );
    k.file("other.yaml", &CM.replace("name: cfg", "name: other"));
    let out = k.ok(&["create", "-f", "other.yaml"]);
    assert!(out.contains("configmap/other created"), "{out}");
    let list = k.ok(&["get", "cm", "-o", "jsonpath={.items[*].metadata.name}"]);
    assert_eq!(list, "cfg other");
    let out = k.ok(&["create", "namespace", "team"]);
    assert!(out.contains("namespace/team created"), "{out}");
    k.ok(&["create", "-n", "team", "-f", "other.yaml"]);
    let out = k.ok(&[
        "get",
        "cm",
        "-A",
        "--field-selector",
        "metadata.namespace=team",
        "-o",
        "name",
    ]);
    assert_eq!(out.trim(), "configmap/other");
    k.fails(
        &["create", "-n", "nowhere", "-f", "other.yaml"],
        "namespaces \"nowhere\" not found",
    );
}

#[test]
fn imperative_create_expose_and_wide_listing() {
    let (_dir, _api, k) = setup();
    let out = k.ok(&["create", "deployment", "nginx", "--image=nginx:1.19"]);
    assert!(out.contains("deployment.apps/nginx created"), "{out}");
    let out = k.ok(&[
        "expose",
        "deployment",
        "nginx",
        "--port=80",
        "--target-port=80",
    ]);
    assert!(out.contains("service/nginx exposed"), "{out}");
    let out = k.ok(&[
        "expose",
        "deployment",
        "nginx",
        "--cluster-ip=None",
        "--name=nginx-headless",
    ]);
    assert!(out.contains("service/nginx-headless exposed"), "{out}");
    assert_eq!(
        k.ok(&[
            "get",
            "svc",
            "nginx-headless",
            "-o",
            "jsonpath={.spec.clusterIP}"
        ]),
        "None"
    );
    let ip = k.ok(&["get", "svc", "nginx", "-o", "jsonpath={.spec.clusterIP}"]);
    let in_range = ip.parse::<std::net::Ipv4Addr>().is_ok_and(|a| {
        u32::from(a) & 0xfff0_0000 == u32::from(std::net::Ipv4Addr::new(10, 96, 0, 0))
    });
    assert!(in_range, "ClusterIP {ip:?} not from 10.96.0.0/12");
    k.ok(&["scale", "deploy", "nginx", "--replicas=2"]);
    let wide = k.ok(&["get", "svc,ep,pods", "-o", "wide"]);
    assert!(
        wide.contains("service/nginx ")
            && wide.contains("service/nginx-headless")
            && wide.contains("CLUSTER-IP"),
        "{wide}"
    );
    assert!(
        wide.contains("app=nginx"),
        "selector column missing: {wide}"
    );
    let desc = k.ok(&["describe", "service", "nginx"]);
    assert!(
        desc.contains("ClusterIP") && desc.contains("80/TCP"),
        "{desc}"
    );
}

#[test]
fn get_watch_sees_a_change() {
    let (_dir, _api, k) = setup();
    k.file("cm.yaml", CM);
    k.ok(&["create", "-f", "cm.yaml"]);
    let mut child = k
        .command(&["get", "cm", "-w", "--no-headers"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("initial listing");
    assert!(first.starts_with("cfg"), "{first}");
    k.file("new.yaml", &CM.replace("name: cfg", "name: arrived"));
    k.ok(&["create", "-f", "new.yaml"]);
    let seen = rx.recv_timeout(Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    let seen = seen.expect("watch delivered the new object");
    assert!(seen.starts_with("arrived"), "{seen}");
}

#[test]
fn errors_come_back_as_kubernetes_statuses() {
    let (dir, api, k) = setup();
    k.file("cm.yaml", CM);
    k.ok(&["create", "-f", "cm.yaml"]);
    let dup = k.fails(
        &["create", "-f", "cm.yaml"],
        "Error from server (AlreadyExists)",
    );
    assert!(
        dup.stderr.contains("configmaps \"cfg\" already exists"),
        "{dup:?}"
    );

    // Stale update: replace with an old resourceVersion.
    let old = k.ok(&["get", "cm", "cfg", "-o", "json"]);
    k.ok(&[
        "patch",
        "cm",
        "cfg",
        "--type=merge",
        "-p",
        r#"{"data":{"color":"red"}}"#,
    ]);
    std::fs::write(dir.path().join("stale.json"), old.replace("blue", "yellow")).expect("write");
    let stale = k.fails(
        &["replace", "-f", "stale.json"],
        "Error from server (Conflict)",
    );
    assert!(
        stale.stderr.contains("the object has been modified"),
        "{stale:?}"
    );

    // Wrong or missing credentials: 401 Status.
    let text = std::fs::read_to_string(&api.kubeconfig).expect("kubeconfig");
    let bad_path = dir.path().join("bad.kubeconfig");
    let bad = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("token:") {
                "    token: wrong"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&bad_path, bad).expect("write");
    let bad_k = Kubectl {
        kubeconfig: bad_path,
        cache: dir.path().join("bad-cache"),
        cwd: dir.path().to_path_buf(),
    };
    bad_k.fails(&["get", "pods"], "You must be logged in to the server");
    let ca = dir.path().join("ca.pem");
    std::fs::write(
        &ca,
        std::fs::read(api.data_dir.join("pki/ca.crt")).expect("ca"),
    )
    .expect("write");
    let out = std::process::Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "--cacert"])
        .arg(&ca)
        .arg(format!(
            "https://127.0.0.1:{}/api/v1/namespaces/default/pods",
            api.addr.port()
        ))
        .output()
        .expect("curl");
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.ends_with("\n401"), "{out}");
    assert!(
        out.contains(r#""reason":"Unauthorized""#) && out.contains(r#""kind":"Status""#),
        "{out}"
    );

    // Unsupported field selector.
    k.fails(
        &["get", "svc", "--field-selector", "spec.clusterIP=1.2.3.4"],
        "field label not supported: spec.clusterIP",
    );
}

#[test]
fn strict_field_validation_rejects_unknown_fields() {
    let (_dir, _api, k) = setup();
    k.file(
        "bad.yaml",
        &WEB.split("---")
            .next()
            .unwrap_or("")
            .replace("  replicas: 1", "  replicas: 1\n  foo: bar"),
    );
    let r = k.fails(
        &["apply", "-f", "bad.yaml"],
        "Error from server (BadRequest)",
    );
    assert!(r.stderr.contains("unknown field \"spec.foo\""), "{r:?}");
    // --validate=false sends fieldValidation=Ignore: accepted, field dropped.
    k.ok(&["apply", "--validate=false", "-f", "bad.yaml"]);
    let spec = k.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec}"]);
    assert!(!spec.contains("foo"), "{spec}");
}

#[test]
fn invalid_names_are_rejected() {
    let (_dir, _api, k) = setup();
    k.file("bad.yaml", &CM.replace("name: cfg", "name: Bad_Name"));
    // kubectl prints Invalid statuses as "The <Kind> "<name>" is invalid: …".
    let r = k.fails(
        &["create", "-f", "bad.yaml"],
        "The ConfigMap \"Bad_Name\" is invalid",
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("metadata.name: Invalid value: \"Bad_Name\""),
        "{r:?}"
    );
    k.fails(&["get", "cm", "Bad_Name"], "NotFound");
}
