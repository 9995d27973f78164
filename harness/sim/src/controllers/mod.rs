//! Built-in Kubernetes controllers of the simulator: namespaces, garbage
//! collection, Deployments, and a kubelet stand-in for Pods.
