//! knet-controllers: the controllers that turn Services, workloads and Nodes
//! into endpoints, pods, bindings and pod CIDRs.
//!
//! Each controller is a pure reconcile function (inputs read from reflector
//! stores → the writes to make) plus a thin I/O layer in [`run`] that talks
//! to the API only through kube-rs, so the same code runs against knet's
//! embedded API server and against a real kube-apiserver.

pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod endpointslice;
pub mod events;
pub mod gc;
pub mod kubernetes_service;
pub mod labels;
pub mod leader;
pub mod mirroring;
pub mod nodeipam;
pub mod pod;
pub mod replicaset;
pub mod run;
pub mod scheduler;
pub mod selector;
pub mod slices;
pub mod statefulset;
pub mod template_hash;

pub use run::{Config, Error, run_all};
