//! `knet api`.

/// Options of `knet api`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `knet api`.
pub(crate) fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("knet api is not built yet (issue 2)")
}
