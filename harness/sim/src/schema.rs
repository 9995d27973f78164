//! OpenAPI v3 structural-schema validation and pruning for custom resources, with the API server's 422 wording.
