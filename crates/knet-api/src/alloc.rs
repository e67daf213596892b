//! Service ClusterIP and NodePort allocation, as kube-apiserver does it.
//!
//! CONTRACT (used by the server): keep these signatures. The allocator holds
//! no state of its own on disk: the server rebuilds it from the stored
//! Services at start (`restore`), so allocations survive restarts.

use crate::status::Cause;
use serde_json::Value;

/// Allocates ClusterIPs from the Service CIDR and NodePorts from their range.
#[derive(Debug, Default)]
pub struct ServiceAllocator {}

impl ServiceAllocator {
    /// An allocator over `service_cidr` (e.g. `10.96.0.0/12`) and the
    /// inclusive NodePort range.
    pub fn new(_service_cidr: &str, _node_ports: (u16, u16)) -> Result<Self, String> {
        Ok(Self {})
    }

    /// Marks every address and port used by already-stored Services.
    pub fn restore(&mut self, _services: &[Value]) {}

    /// Fills `spec.clusterIP(s)` and node ports of `svc` (create: `old` None;
    /// update: `old` the stored Service, handling type changes), honouring
    /// explicit requests. Returns causes (422) when a request is taken, out of
    /// range or malformed. On error nothing stays allocated.
    pub fn allocate(&mut self, _svc: &mut Value, _old: Option<&Value>) -> Result<(), Vec<Cause>> {
        Ok(())
    }

    /// Releases what `svc` holds (on delete), or what `old` held that `new`
    /// no longer does when `new` is Some (on update).
    pub fn release(&mut self, _old: &Value, _new: Option<&Value>) {}
}
