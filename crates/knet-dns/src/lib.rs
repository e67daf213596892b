//! knet-dns: the cluster DNS server (a CoreDNS replacement).
//!
//! Layers, pure first: [`wire`] (DNS codec), [`index`] (immutable record
//! index), [`engine`] (query → answer), [`cache`], [`metrics`], [`config`]
//! (flags and the Corefile); then the I/O edges: [`source`] (static objects
//! or the API), [`forward`] (upstreams), [`server`] (UDP/TCP/HTTP listeners).

pub mod cache;
pub mod config;
pub mod engine;
pub mod forward;
pub mod index;
pub mod metrics;
pub mod run;
pub mod server;
pub mod source;
pub mod wire;
