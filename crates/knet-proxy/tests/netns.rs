//! Namespace tests: the proxy's ruleset in a throwaway node namespace, real
//! traffic from client pods to backend pods (Kubernetes' Service e2e
//! behaviours). Need root; `KNET_SKIP_PRIVILEGED=1` skips them loudly.

mod netns {
    mod apply;
    mod cluster_ip;
    mod external;
    pub(crate) mod lab;
    mod policy;
    mod udp;
}
