//! One module per subcommand.

pub(crate) mod api;
pub(crate) mod cni;
pub(crate) mod controllers;
pub(crate) mod dns;
pub(crate) mod podnet;
pub(crate) mod proxy;
pub(crate) mod sandbox;
