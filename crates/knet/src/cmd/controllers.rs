//! `knet controllers`.

/// Options of `knet controllers`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `knet controllers`.
pub(crate) fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("knet controllers is not built yet (issue 3)")
}
