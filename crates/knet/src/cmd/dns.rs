//! `knet dns`.

/// Options of `knet dns`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `knet dns`.
pub(crate) fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("knet dns is not built yet (issue 4)")
}
