//! `knet proxy`.

/// Options of `knet proxy`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `knet proxy`.
pub(crate) fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("knet proxy is not built yet (issue 7)")
}
