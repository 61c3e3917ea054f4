#!/usr/bin/env bash
# Runs the GPU test binary under compute-sanitizer (memcheck, then racecheck)
# on the reduced test matrix (KVATTN_TEST_REDUCED=1). Fails when a tool reports
# any error, a test fails, or a tool runs past its time box.
#
# Usage: tools/sanitize.sh [GPU_TEST_BINARY] [LOG_DIR]
#   GPU_TEST_BINARY  default $BUILD_DIR/tests/kvattn_gpu_tests (BUILD_DIR default build-device)
#   LOG_DIR          default $BUILD_DIR/sanitize; gets <tool>.log per tool
# Env:
#   SANITIZE_TOOLS         tools to run, in order (default "memcheck racecheck"; initcheck, synccheck work too)
#   SANITIZE_TIMEOUT_S     time box per tool in seconds (default 300)
#   SANITIZE_GTEST_FILTER  --gtest_filter for the test binary (default: all tests)
#   SANITIZE_LEAK_CHECK=1  memcheck also reports device allocations never freed
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build_dir="${BUILD_DIR:-build-device}"
case "$build_dir" in /*) ;; *) build_dir="$root/$build_dir" ;; esac
bin="${1:-$build_dir/tests/kvattn_gpu_tests}"
log_dir="${2:-$build_dir/sanitize}"
tools="${SANITIZE_TOOLS:-memcheck racecheck}"
time_box="${SANITIZE_TIMEOUT_S:-300}"

sanitizer="$(command -v compute-sanitizer || true)"
if [ -z "$sanitizer" ] && [ -x /usr/local/cuda/bin/compute-sanitizer ]; then sanitizer=/usr/local/cuda/bin/compute-sanitizer; fi
if [ -z "$sanitizer" ]; then echo "sanitize: compute-sanitizer not found" >&2; exit 2; fi
if [ ! -x "$bin" ]; then echo "sanitize: no test binary at $bin (build it first)" >&2; exit 2; fi
mkdir -p "$log_dir"

export KVATTN_TEST_REDUCED=1
export GTEST_BRIEF=1  # print failures only (older GoogleTest ignores it)
test_args=()
[ -n "${SANITIZE_GTEST_FILTER:-}" ] && test_args+=("--gtest_filter=$SANITIZE_GTEST_FILTER")

# Number of errors a tool's summary line reports (0 when the line is absent).
#   memcheck & co: "========= ERROR SUMMARY: 3 errors"
#   racecheck:     "========= RACECHECK SUMMARY: 2 hazards displayed (1 error, 1 warning)"
count_errors() {
  local log="$1"
  local n
  n="$(grep -Eo 'ERROR SUMMARY: [0-9]+' "$log" | awk '{s += $3} END {print s + 0}')"
  n=$((n + $(grep -Eo 'RACECHECK SUMMARY: [0-9]+ hazards? displayed \([0-9]+ errors?' "$log" |
    sed -E 's/.*\(([0-9]+) error.*/\1/' | awk '{s += $1} END {print s + 0}')))
  echo "$n"
}

status=0
summary=()
for tool in $tools; do
  log="$log_dir/$tool.log"
  extra=()
  case "$tool" in
    memcheck) [ "${SANITIZE_LEAK_CHECK:-0}" = 1 ] && extra+=(--leak-check full) ;;
    racecheck) extra+=(--racecheck-report all) ;;
  esac
  echo "== compute-sanitizer --tool $tool ($bin, time box ${time_box}s)"
  start=$SECONDS
  # --error-exitcode makes a reported error fail the run even when the tests pass.
  timeout -k 10 "$time_box" "$sanitizer" --tool "$tool" --error-exitcode 86 --print-limit 100 "${extra[@]}" \
    "$bin" "${test_args[@]}" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  errors="$(count_errors "$log")"
  secs=$((SECONDS - start))
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    verdict="TIMEOUT"
  elif grep -q "Device not supported" "$log"; then
    verdict="FAIL: compute-sanitizer does not support this device/runtime"
  elif [ "$rc" = 86 ] || [ "$errors" -gt 0 ]; then
    verdict="FAIL: $errors error(s) reported"
  elif [ "$rc" != 0 ]; then
    verdict="FAIL: exit code $rc (tests failed or crashed)"
  else
    verdict="ok"
  fi
  [ "$verdict" = ok ] || status=1
  summary+=("sanitize: $tool $verdict (${secs}s)")
done

echo "== sanitize summary"
printf '%s\n' "${summary[@]}"
exit "$status"
