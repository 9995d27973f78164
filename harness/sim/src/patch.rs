//! JSON merge patch, JSON patch and strategic merge patch, as the API server applies them.
