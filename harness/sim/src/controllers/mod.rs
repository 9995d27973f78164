//! Built-in Kubernetes controllers of the simulator: garbage collection,
//! namespace cleanup, Deployments and ReplicaSets, a kubelet stand-in for
//! Pods, and the Event recorder they and the Flink operator model share.
//!
//! Every controller is a level-triggered [`crate::cluster::Controller`]: it
//! reads the store, writes what should change, and returns when it next needs
//! to run. [`standard_controllers`] lists them in the order a cluster runs
//! them.

pub mod deployment;
pub mod events;
pub mod gc;
pub mod kubelet;
pub mod meta;
pub mod namespace;
pub mod podspec;
pub mod replicaset;

use crate::cluster::Controller;

/// The built-in controllers with the given kubelet delays, in run order:
/// cleanup first (namespaces, garbage collector), then workloads
/// (Deployments, ReplicaSets), then the kubelet that starts their pods.
pub fn standard_controllers(kubelet: kubelet::KubeletConfig) -> Vec<Box<dyn Controller>> {
    vec![
        Box::new(namespace::NamespaceController),
        Box::new(gc::GarbageCollector),
        Box::new(deployment::DeploymentController),
        Box::new(replicaset::ReplicaSetController::default()),
        Box::new(kubelet::Kubelet::new(kubelet)),
    ]
}
