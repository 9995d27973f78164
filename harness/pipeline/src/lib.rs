//! The feature pipeline's pure core.
//!
//! Event decoding, event-time windows with watermarks, the three feature
//! computations of the seed's Flink jobs (user features, item hot scores,
//! recommendation metrics), checkpoint state, the seeded event generator, and
//! the oracle that computes from a list of events exactly what Redis must hold.
//!
//! Architecture invariant: no I/O, no threads, no wall clock. The runtime in
//! `harness::pipeline` feeds this core from Kafka or a file and writes its
//! outputs to Redis.
