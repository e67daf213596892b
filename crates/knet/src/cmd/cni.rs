//! `knet cni`: the CNI plugin entry point.

/// Options of `knet cni` (the protocol itself is in CNI_* variables and stdin).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Whether argv[0] says a container runtime called us as an installed plugin.
pub(crate) fn invoked_as_plugin() -> bool {
    false
}

/// Runs the plugin protocol when invoked under a plugin name.
pub(crate) fn main_as_plugin() -> std::process::ExitCode {
    std::process::ExitCode::FAILURE
}

/// Runs `knet cni`.
pub(crate) fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("knet cni is not built yet (issue 5)")
}
