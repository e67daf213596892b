//! Shared by the benchmark drivers in `examples/`: the kube-rs client from a
//! kubeconfig, logs to stderr when `KNET_LOG` is set, numeric arguments.

/// A kube-rs client from the kubeconfig at `path`.
pub(crate) async fn client(path: &str) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(path)?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(kube::Client::try_from(cfg)?)
}

/// Logs to stderr with the `KNET_LOG` filter, when it is set.
pub(crate) fn init_logs() {
    if let Ok(filter) = std::env::var("KNET_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
}

/// Argument `i` as a number, or `default`.
pub(crate) fn num(args: &[String], i: usize, default: usize) -> usize {
    args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default)
}
