#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 60) and prints a table of
# executions per target. Exits non-zero if any target crashes (finds a panic, a failed
# property assertion, a leak/timeout/OOM reported by libFuzzer, or fails to build).
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Environment:
#   FUZZ_JOBS=N         libFuzzer -fork=N per target (default: 1, no fork)
#   FUZZ_SANITIZER=...  cargo-fuzz sanitizer (default: address; "none" is ~2x faster)
#   FUZZ_ARGS="..."     extra libFuzzer arguments
#   FUZZ_TARGET_DIR=DIR cargo target dir (default: fuzz/target)
#
# Committed seeds live in fuzz/seeds/<target>/ and are copied into the (git-ignored)
# working corpus fuzz/corpus/<target>/ before each run; crashes land in
# fuzz/artifacts/<target>/. Reproduce one with:
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/crash-...
set -uo pipefail
cd "$(dirname "$0")"

SECONDS_PER_TARGET="${1:-60}"
shift || true
ALL_TARGETS=(decode_hecto decode_kibnet dynamic_layout framing_chunks native_envelope config_loader decrypt journal_log)
if [ "$#" -gt 0 ]; then
  TARGETS=("$@")
else
  TARGETS=("${ALL_TARGETS[@]}")
fi
SANITIZER="${FUZZ_SANITIZER:-address}"
BUILD_OPTS=(-s "$SANITIZER")
if [ -n "${FUZZ_TARGET_DIR:-}" ]; then
  BUILD_OPTS+=(--target-dir "$FUZZ_TARGET_DIR")
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz/run.sh: the nightly toolchain is required (rustup toolchain install nightly)" >&2
  exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked || exit 2
fi

echo "== building fuzz targets (sanitizer: $SANITIZER)"
# `cargo fuzz build` takes one target or none (= all).
build_failed=0
if [ "$#" -gt 0 ]; then
  for t in "${TARGETS[@]}"; do
    cargo +nightly fuzz build "${BUILD_OPTS[@]}" "$t" || build_failed=1
  done
else
  cargo +nightly fuzz build "${BUILD_OPTS[@]}" || build_failed=1
fi
if [ "$build_failed" -ne 0 ]; then
  echo "fuzz/run.sh: build failed" >&2
  exit 1
fi

LOGDIR="$(mktemp -d "${TMPDIR:-/tmp}/fep-fuzz.XXXXXX")"
declare -A EXECS RATE STATUS
failed=0
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  if [ -d "seeds/$t" ]; then
    cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
  fi
  log="$LOGDIR/$t.log"
  echo "== $t: ${SECONDS_PER_TARGET}s (log: $log)"
  extra=()
  if [ -n "${FUZZ_JOBS:-}" ] && [ "${FUZZ_JOBS}" -gt 1 ]; then
    extra+=("-fork=${FUZZ_JOBS}")
  fi
  # shellcheck disable=SC2206
  extra+=(${FUZZ_ARGS:-})
  cargo +nightly fuzz run "${BUILD_OPTS[@]}" "$t" "corpus/$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" "${extra[@]}" >"$log" 2>&1
  rc=$?
  # libFuzzer's final "#N DONE cov: ... exec/s: R" line, or its final stats.
  done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)"
  n="$(grep -oE 'stat::number_of_executed_units:[[:space:]]*[0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+$')"
  r="$(grep -oE 'stat::average_exec_per_sec:[[:space:]]*[0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+$')"
  if [ -z "$n" ] && [ -n "$done_line" ]; then
    n="$(sed -E 's/^#([0-9]+).*/\1/' <<<"$done_line")"
  fi
  if [ -z "$r" ] && [ -n "$done_line" ]; then
    r="$(grep -oE 'exec/s: [0-9]+' <<<"$done_line" | grep -oE '[0-9]+')"
  fi
  EXECS[$t]="${n:-?}"
  RATE[$t]="${r:-?}"
  if [ "$rc" -eq 0 ]; then
    STATUS[$t]="ok"
  else
    STATUS[$t]="CRASH (rc $rc)"
    failed=1
    echo "---- $t failed; last lines of $log:"
    grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written|deadly signal|Base64' "$log" | head -n 20
    tail -n 5 "$log"
  fi
done

echo
printf '%-18s %14s %10s  %s\n' target executions exec/s status
printf '%-18s %14s %10s  %s\n' ------ ---------- ------ ------
for t in "${TARGETS[@]}"; do
  printf '%-18s %14s %10s  %s\n' "$t" "${EXECS[$t]}" "${RATE[$t]}" "${STATUS[$t]}"
done
echo "(${SECONDS_PER_TARGET}s per target; logs in $LOGDIR)"
exit "$failed"
