//! The scenario file format: model, parsing with source locations, and
//! validation that runs before any step does.
