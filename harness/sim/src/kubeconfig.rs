//! Writing the kubeconfig that points kubectl and kube at the simulator.
