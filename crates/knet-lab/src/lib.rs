//! knet-lab: the one-machine lab behind `knet up` — underlay and node
//! namespaces, pod sandboxes (net + uts + mnt), the container process
//! supervisor, and the files a kubelet writes into pods.

pub mod agent;
pub mod containers;
pub mod files;
pub mod podnet;
pub mod podstatus;
pub mod sandbox;
pub mod topology;
pub mod workload;
