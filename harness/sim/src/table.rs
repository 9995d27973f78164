//! Server-side table printing (`meta.k8s.io/v1` Table) for kubectl get: CRD printer columns and built-in kinds.
