#!/usr/bin/env bash
# The test command (README): unit tests, codec/tshark agreement, lab tests (root and rootless)
# and the conformance suite on our implementations, all through `cargo test`.
#
# On a Debian-family machine run as root it first installs the Debian packages the tests drive
# (ci/install-debian-packages.sh: quick, no apt-get, when everything is already there). Not root
# and something missing: it says what and how to install it, then runs the tests anyway.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v dpkg-query >/dev/null && ! bash ci/install-debian-packages.sh --check; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "== installing the Debian packages the tests need"
    bash ci/install-debian-packages.sh
  else
    echo "ci/test.sh: some tests need Debian packages that are missing; install them with" >&2
    echo "  sudo bash ci/install-debian-packages.sh" >&2
  fi
fi

cargo build --workspace --tests --quiet
fuzz/ci.sh  # every fuzz target, a fixed number of runs each (issue 18)
exec cargo test --workspace --no-fail-fast -- --test-threads 2
