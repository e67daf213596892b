//! Real kubectl against the embedded server: `kubectl explain` prints the
//! field documentation from the OpenAPI v3 schemas, `kubectl get
//! --chunk-size` pages through `limit`/`continue`, and default (validating)
//! `kubectl apply`/`create` keep working with full schemas served.

mod support;

use knet_api::{Config, Server};
use std::path::{Path, PathBuf};

struct Ctx {
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    cache: PathBuf,
    cwd: PathBuf,
}

async fn start() -> (Server, Ctx) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = Config::new(dir.path().join("data"));
    c.listen = "127.0.0.1:0".parse().expect("addr");
    let server = Server::start(c).await.expect("start");
    let ctx = Ctx {
        kubeconfig: server.kubeconfig_path().to_path_buf(),
        cache: dir.path().join("kcache"),
        cwd: dir.path().to_path_buf(),
        _dir: dir,
    };
    (server, ctx)
}

/// Runs kubectl (off the async runtime); exit code, stdout, stderr.
async fn kubectl(ctx: &Ctx, args: &[&str]) -> (i32, String, String) {
    support::kubectl(&ctx.kubeconfig, &ctx.cache, &ctx.cwd, args).await
}

async fn ok(ctx: &Ctx, args: &[&str]) -> String {
    let (code, out, err) = kubectl(ctx, args).await;
    assert_eq!(code, 0, "kubectl {args:?}: {err}");
    out
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_explain_prints_field_docs() {
    let (_server, ctx) = start().await;
    let out = ok(&ctx, &["explain", "pods.spec.containers"]).await;
    assert!(out.contains("KIND:       Pod"), "{out}");
    assert!(out.contains("VERSION:    v1"), "{out}");
    assert!(out.contains("FIELD: containers <[]Container>"), "{out}");
    assert!(
        out.contains("List of containers belonging to the pod."),
        "{out}"
    );
    assert!(out.contains("image\t<string>"), "{out}");
    assert!(out.contains("name\t<string> -required-"), "{out}");

    let out = ok(&ctx, &["explain", "svc.spec.ports"]).await;
    assert!(out.contains("KIND:       Service"), "{out}");
    assert!(out.contains("FIELD: ports <[]ServicePort>"), "{out}");
    assert!(out.contains("targetPort\t<IntOrString>"), "{out}");
    assert!(
        out.contains("The list of ports that are exposed by this service."),
        "{out}"
    );

    let out = ok(&ctx, &["explain", "deploy"]).await;
    assert!(out.contains("KIND:       Deployment"), "{out}");
    assert!(out.contains("GROUP:      apps"), "{out}");
    assert!(
        out.contains("Deployment enables declarative updates for Pods and ReplicaSets."),
        "{out}"
    );
    assert!(out.contains("spec\t<DeploymentSpec>"), "{out}");
    assert!(!out.contains("metadata\t<ObjectMeta> -required-"), "{out}");

    let out = ok(&ctx, &["explain", "deploy.spec", "--recursive"]).await;
    assert!(out.contains("containerPort"), "{out}");
    let out = ok(
        &ctx,
        &["explain", "endpointslices.endpoints.conditions.ready"],
    )
    .await;
    assert!(
        out.contains("ready\t<boolean>") || out.contains("FIELD: ready <boolean>"),
        "{out}"
    );
    let (code, _, err) = kubectl(&ctx, &["explain", "pods.spec.nope"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("field \"nope\" does not exist"), "{err}");
}

const MANIFEST: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: nginx:1.27, ports: [{containerPort: 80}]}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validating_apply_and_create_still_work() {
    let (_server, ctx) = start().await;
    write(&ctx.cwd, "web.yaml", MANIFEST);
    let out = ok(&ctx, &["apply", "-f", "web.yaml"]).await;
    assert!(out.contains("deployment.apps/web created"), "{out}");
    write(&ctx.cwd, "web.yaml", &MANIFEST.replace("1.27", "1.28"));
    let out = ok(&ctx, &["apply", "-f", "web.yaml"]).await;
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let img = ok(
        &ctx,
        &[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
    )
    .await;
    assert_eq!(img, "nginx:1.28");
    // Strict validation is still the server's: an unknown field is a 400
    // naming it.
    write(
        &ctx.cwd,
        "bad.yaml",
        &MANIFEST
            .replace("name: web}", "name: web2}")
            .replace("selector:", "bogus: 1\n  selector:"),
    );
    let (code, _, err) = kubectl(&ctx, &["create", "-f", "bad.yaml"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("unknown field \"spec.bogus\""), "{err}");
    let out = ok(&ctx, &["apply", "--server-side", "-f", "web.yaml"]).await;
    assert!(out.contains("serverside-applied"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_pages_with_chunk_size() {
    let (_server, ctx) = start().await;
    let mut yaml = String::new();
    for i in 0..7 {
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm{i}}}\ndata: {{k: v}}\n"
        ));
    }
    write(&ctx.cwd, "cms.yaml", &yaml);
    ok(&ctx, &["create", "-f", "cms.yaml"]).await;
    let want: Vec<String> = (0..7).map(|i| format!("configmap/cm{i}")).collect();
    let (code, out, err) =
        kubectl(&ctx, &["get", "cm", "--chunk-size=2", "-o", "name", "-v=6"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
    assert!(err.contains("limit=2"), "{err}");
    assert_eq!(err.matches("continue=").count(), 3, "four pages: {err}");
    // The table view pages too and prints one header.
    let (code, out, err) = kubectl(&ctx, &["get", "cm", "--chunk-size=3"]).await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 8, "{out}");
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("DATA"),
        "{out}"
    );
    assert!(lines[7].starts_with("cm6"), "{out}");
    // Default chunk size (500) and all namespaces.
    let out = ok(&ctx, &["get", "cm", "-A", "-o", "name"]).await;
    assert_eq!(out.lines().count(), 7, "{out}");
}
