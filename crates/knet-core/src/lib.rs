//! Shared pure code for knet: cluster defaults, CIDR/IP types and allocators,
//! label selectors and Kubernetes name rules. Nothing here does I/O.

pub mod cidr;
pub mod defaults;
pub mod names;
pub mod selector;
