//! Cluster add-ons the lab deploys, as kubeadm does: the cluster DNS.
