#!/usr/bin/env bash
# Builds every fuzz target with libFuzzer coverage instrumentation and runs each for a fixed
# number of executions (bounded: CI runs it from ci/test.sh). The same flags as cargo-fuzz
# (sancov inline 8-bit counters, pc table, trace-compares, --cfg fuzzing), without AddressSanitizer
# (the targets are safe Rust; the only `unsafe` lives in bootlab-sys, which they do not reach).
#
#   fuzz/ci.sh                 # every target, FUZZ_RUNS executions each (default 20000)
#   FUZZ_RUNS=10000000 fuzz/ci.sh server pcap   # a benchmark run of some targets
#
# Needs a nightly toolchain (`rustup toolchain install nightly`): libfuzzer-sys links libFuzzer,
# which wants the sancov pass; stable would need RUSTC_BOOTSTRAP=1. A crash leaves its input in
# fuzz/artifacts/TARGET/ and fails the script; turn it into a regression test.
set -euo pipefail
cd "$(dirname "$0")"
RUNS="${FUZZ_RUNS:-20000}"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
TOOLCHAIN="+nightly"
if ! rustup run nightly rustc -V >/dev/null 2>&1; then
  echo "fuzz/ci.sh: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1" >&2
  TOOLCHAIN=""
  export RUSTC_BOOTSTRAP=1
fi
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  mapfile -t targets < <(ls fuzz_targets | sed 's/\.rs$//')
fi
cargo $TOOLCHAIN build --release --quiet --target "$TRIPLE" $(printf -- '--bin %s ' "${targets[@]}")
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  start=$(date +%s%N)
  "$CARGO_TARGET_DIR/$TRIPLE/release/$t" "corpus/$t" -runs="$RUNS" -max_len=4096 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"artifacts/$t/log" 2>&1 || {
      tail -40 "artifacts/$t/log"
      echo "fuzz/ci.sh: $t crashed; input in fuzz/artifacts/$t/" >&2
      exit 1
    }
  end=$(date +%s%N)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "artifacts/$t/log")
  printf 'fuzz %-14s %10s executions in %6d ms\n' "$t" "$execs" "$(( (end - start) / 1000000 ))"
done
echo "fuzz/ci.sh: ${#targets[@]} targets, $RUNS runs each, no crash"
