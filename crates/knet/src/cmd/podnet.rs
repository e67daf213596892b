//! `knet podnet`.

/// Options of `knet podnet`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `knet podnet`.
pub(crate) fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("knet podnet is not built yet (issue 5)")
}
