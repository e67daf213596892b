//! The kube-rs client every subcommand talks to the API with.

use anyhow::Context as _;
use std::path::Path;

/// A client from `kubeconfig` when given, else kube's usual inference
/// (`$KUBECONFIG`, `~/.kube/config`, or the in-cluster service account);
/// `hint` says what to pass when none is found.
pub(crate) async fn client(kubeconfig: Option<&Path>, hint: &str) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .with_context(|| format!("using kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .with_context(|| format!("no kubeconfig found; {hint}"))?,
    };
    Ok(kube::Client::try_from(config)?)
}
