#!/usr/bin/env bash
# The test command (README): unit tests, codec/tshark agreement, lab tests (root and rootless)
# and the conformance suite on our implementations, all through `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --tests --quiet
fuzz/ci.sh  # every fuzz target, a fixed number of runs each (issue 18)
exec cargo test --workspace --no-fail-fast -- --test-threads 2
