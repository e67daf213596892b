//! The files a kubelet writes into every pod: `/etc/resolv.conf` by
//! `dnsPolicy`, `/etc/hosts`, `/etc/hostname`, and the Service environment
//! variables. All pure: they take the pod and cluster facts, return text.

pub mod envvars;
pub mod hosts;
pub mod resolv;
