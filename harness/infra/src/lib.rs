//! Infrastructure providers for the feature pipeline: Kafka and Redis.
//!
//! One place chooses how each is provided: Kafka `embedded` (librdkafka's
//! in-process mock cluster, the default), `local` (a Kafka-compatible broker
//! binary on PATH), `containers` (testcontainers) or `external`; Redis `local`
//! (a `redis-server` process on a free port, the default), `containers` or
//! `external`. Providers also own the faults that apply to them (restart,
//! stop, broker down).
