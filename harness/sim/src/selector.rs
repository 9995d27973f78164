//! Label and field selectors, parsed and matched as the API server does.
