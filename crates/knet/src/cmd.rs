//! One module per subcommand.

pub(crate) mod agent;
pub(crate) mod api;
pub(crate) mod cni;
pub(crate) mod controllers;
pub(crate) mod dns;
pub(crate) mod down;
pub(crate) mod exec;
pub(crate) mod kube_client;
pub(crate) mod podnet;
pub(crate) mod proxy;
pub(crate) mod sandbox;
pub(crate) mod status;
pub(crate) mod trace;
pub(crate) mod up;
