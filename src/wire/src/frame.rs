//! frame (owned by the wire codec work; see the issue).
