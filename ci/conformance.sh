#!/usr/bin/env bash
# The entry point a user's CI calls: builds bootlab and runs the conformance suite on our
# implementations (or the ones named with --impl), writing JUnit XML and a JSON summary next to
# the pcaps, logs and traces in out/. Exits non-zero with a readable diff when behaviour changed.
#
#   ci/conformance.sh                       # every scenario, our implementations
#   ci/conformance.sh --impl dhcp-server=dnsmasq arp-less-client
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p bootlab-lab --quiet
mkdir -p out
exec ./target/release/bootlab run --jobs "${BOOTLAB_JOBS:-2}" --out out \
  --junit out/junit.xml --json out/summary.json "$@"
