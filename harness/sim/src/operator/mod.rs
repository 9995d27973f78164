//! A model of the Apache Flink Kubernetes Operator as a controller of the
//! simulator, with its validating admission webhook.
