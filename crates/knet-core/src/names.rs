//! Kubernetes name rules: DNS-1123 labels and subdomains, DNS-1035 labels.
