//! `knet cni`: the CNI plugin entry point.
//!
//! The protocol is in `CNI_*` variables and stdin (see
//! `knet_podnet::cni`). A container runtime finds the plugin by the config's
//! `type`; install this binary (or a link to it) under that name, e.g.
//! `/opt/cni/bin/knet` or `/opt/cni/bin/knet-bridge`.

use std::io::Write;

/// Options of `knet cni` (the protocol itself is in CNI_* variables and stdin).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Whether argv[0] says a container runtime called us as an installed plugin:
/// any file name other than `knet`.
pub(crate) fn invoked_as_plugin() -> bool {
    let Some(argv0) = std::env::args_os().next() else {
        return false;
    };
    plugin_name(std::path::Path::new(&argv0))
}

fn plugin_name(argv0: &std::path::Path) -> bool {
    match argv0.file_name().and_then(|n| n.to_str()) {
        Some(name) => name != "knet",
        None => false,
    }
}

/// Runs the plugin protocol when invoked under a plugin name.
pub(crate) fn main_as_plugin() -> std::process::ExitCode {
    init_plugin_logging();
    emit(knet_podnet::cni::exec::run_process())
}

/// Runs `knet cni`.
pub(crate) fn run(_args: Args) -> anyhow::Result<()> {
    let outcome = knet_podnet::cni::exec::run_process();
    let code = outcome.exit;
    let _ = emit(outcome);
    if code != 0 {
        std::process::exit(i32::from(code));
    }
    Ok(())
}

fn emit(outcome: knet_podnet::cni::exec::Outcome) -> std::process::ExitCode {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(outcome.stdout.as_bytes());
    if !outcome.stdout.is_empty() {
        let _ = out.write_all(b"\n");
    }
    let _ = out.flush();
    std::process::ExitCode::from(outcome.exit)
}

fn init_plugin_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("KNET_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::plugin_name;
    use std::path::Path;

    #[test]
    fn argv0_decides_plugin_mode() {
        assert!(!plugin_name(Path::new("/usr/bin/knet")));
        assert!(!plugin_name(Path::new("knet")));
        assert!(plugin_name(Path::new("/opt/cni/bin/knet-bridge")));
        assert!(plugin_name(Path::new("/opt/cni/bin/bridge")));
    }
}
