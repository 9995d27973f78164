//! The feature pipeline's runtime: feeds `harness_pipeline`'s pure core from
//! Kafka or a file and writes its outputs to Redis.
