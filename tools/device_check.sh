#!/usr/bin/env bash
# shellcheck disable=SC2317  # stage functions run via `bash -c stage_<name>`
# The one command to run on the GPU machine (H100, CUDA 13): builds kvattn in
# Release with CUDA, runs the C++ test binaries, compute-sanitizer, the Python
# tests, the benchmark and a SASS census, each stage time-boxed, and leaves the
# logs in $OUT. Ends with a table (stage, status, seconds); exits non-zero when
# any stage did not pass.
#
#   tools/device_check.sh
#   STAGES=build,cpp tools/device_check.sh        # a subset, run in the order given
#
# $OUT (at most 8 files come back from the device machine):
#   summary.txt       versions + the stage table (rewritten after every stage)
#   build.log         configure + ninja output (ptxas info lines moved to ptxas.log)
#   ptxas.log         per-kernel registers / spills / smem table, then the raw ptxas -v lines
#   tests.log         C++ tests, compute-sanitizer and pytest output
#   bench.json        kvattn-bench --json;  bench.log: its output
#   sass_summary.txt  per-kernel counts of HGMMA/HMMA/LDL/STL/... from cuobjdump -sass
#   details.tar.gz    gtest/pytest XML, sanitizer logs, configure log, SASS (gzip, when small)
#   <gpu-slug>.peers.json / .peers.png   bench/compare.py's record and chart (python stage, COMPARE=1), here
#                     only while this run's stages leave room among the 8 files (a full run leaves none),
#                     else in details.tar.gz under compare/; its table is in tests.log either way
#
# Env (all optional):
#   STAGES              default build,cpp,sanitize,python,bench,sass
#   OUT                 default $BUILD_DIR/out
#   BUILD_DIR           default build-device
#   JOBS                default 16
#   BUDGET_S            deadline for the whole script in seconds (default 540; the device runs 600 at most)
#   KVATTN_CUDA_GENCODE default -gencode=arch=compute_90a,code=sm_90a (one pass: half the build time)
#   PY_INSTALL          cmake (default: build the extension in $BUILD_DIR, reusing its libkvattn.a,
#                       and import it from a staged package) or pip (pip install . : a second full build)
#   BENCH_ARGS          extra kvattn-bench flags (e.g. "--workload decode_128_ctx4k --kv-dtype bf16,e4m3")
#   COMPARE             1 (default): after pytest passes or fails, the python stage runs bench/compare.py
#                       (kvattn through the freshly built package vs torch SDPA cuDNN/flash, flashinfer and
#                       vllm_flash_attn where importable); 0: not. Its failure is reported, never the stage's.
#   COMPARE_ARGS        extra compare.py flags (e.g. "--workload decode_128_ctx4k,prefill_4x8k --reps 20")
#   COMPARE_TIMEOUT_S   compare.py's time box (default 120; added to the python stage's default cap);
#                       it starts no row in its last 25 s and writes what it measured
#   GTEST_FILTER        read by the GoogleTest binaries themselves
#   KVATTN_COMMIT       commit recorded in summary.txt, bench.json and the peers record (default: git)
#   GPU_TEST_BACKENDS   backends the GPU suite runs with (default "hopper hopper-packgqa portable";
#                       hopper-packgqa: the Hopper kernel with KVATTN_HOPPER_PACK_GQA=1; not in the default
#                       list: hopper-pingpong / hopper-nopingpong (KVATTN_HOPPER_PINGPONG=1 / 0: ping-pong
#                       everywhere / nowhere; the default is hopper_ping_pong.h's rule), hopper-nostore / hopper-noqtma
#                       (KVATTN_HOPPER_TMA_STORE=0 / KVATTN_HOPPER_TMA_Q=0: output / Q rows by the threads),
#                       hopper-l2kv (KVATTN_HOPPER_L2_SECTIONS=1: the persistent walk one KV head at a time, so
#                       the tests' small shapes walk several L2 sections), hopper-prewiden (KVATTN_HOPPER_PREWIDEN=1:
#                       FP8 K/V widened into the workspace scratch at any query length, src/cuda/prewiden))
#   TIMEOUT_<STAGE>_S   per-stage cap in seconds (e.g. TIMEOUT_BUILD_S=400); the deadline caps them too
#
# The device has no network. Whatever it lacks travels in git-ignored folders
# named in the device call's carry list:
#   third_party/cutlass   CUTLASS headers (tools/fetch_cutlass.sh), for the Hopper path
#   .device/              GoogleTest (prefix/, a CMake package, searched before the system's)
#                         and the nanobind wheel (wheels/, used when python3 lacks nanobind),
#                         made on the dev machine by `tools/device_check.sh --stage-deps`
set -uo pipefail
export PYTHONUNBUFFERED=1

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root" || exit 2
export BUILD_DIR="${BUILD_DIR:-build-device}"
export JOBS="${JOBS:-16}"
export GENCODE="${KVATTN_CUDA_GENCODE:--gencode=arch=compute_90a,code=sm_90a}"
export PY_INSTALL="${PY_INSTALL:-cmake}"
export BENCH_ARGS="${BENCH_ARGS:-}"
export OUT="${OUT:-$root/$BUILD_DIR/out}"
export DETAILS="$root/$BUILD_DIR/check-details"  # everything else; packed into details.tar.gz

# --stage-deps (on the dev machine): copy GoogleTest into .device/prefix, keeping
# its /usr-relative layout (its CMake package finds files relative to itself),
# and download the nanobind wheel into .device/wheels.
if [ "${1:-}" = --stage-deps ]; then
  set -e
  gtest_cmake="$(dirname "$(find /usr/lib /usr/local/lib -name GTestConfig.cmake -print -quit 2>/dev/null)")"
  [ -f "$gtest_cmake/GTestConfig.cmake" ] || { echo "no GTest CMake package on this machine" >&2; exit 1; }
  case "$gtest_cmake" in  # <prefix>/lib[/<triplet>]/cmake/GTest */lib/cmake/GTest) gtest_prefix="$(cd "$gtest_cmake/../../.." && pwd)" ;;
    *) gtest_prefix="$(cd "$gtest_cmake/../../../.." && pwd)" ;; esac
  libdir="$(cd "$gtest_cmake/../.." && pwd)"
  rm -rf .device/prefix && mkdir -p .device/prefix .device/wheels
  (cd "$gtest_prefix" && cp -r --parents include/gtest include/gmock "${gtest_cmake#"$gtest_prefix"/}" \
    "${libdir#"$gtest_prefix"/}"/libgtest*.a "${libdir#"$gtest_prefix"/}"/libgmock*.a "$root/.device/prefix/")
  python3 -m pip download -q --no-deps -d .device/wheels nanobind
  du -sh .device/prefix .device/wheels
  echo "staged: carry \".device\" (and \"third_party/cutlass\") in the device call"
  exit 0
fi
if [ -d .device/prefix ]; then export CMAKE_PREFIX_PATH="$root/.device/prefix${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"; fi
STAGES="${STAGES:-build,cpp,sanitize,python,bench,sass}"
BUDGET_S="${BUDGET_S:-540}"
deadline=$((SECONDS + BUDGET_S))

mkdir -p "$OUT" "$BUILD_DIR"
rm -rf "$DETAILS"
mkdir -p "$DETAILS"
# Start from empty logs when $OUT is reused (on the device it starts empty).
rm -f "$OUT"/{summary.txt,build.log,ptxas.log,tests.log,bench.json,bench.log,sass_summary.txt,details.tar.gz} \
  "$OUT"/*.peers.json "$OUT"/*.peers.png

export COMPARE="${COMPARE:-1}" COMPARE_ARGS="${COMPARE_ARGS:-}" COMPARE_TIMEOUT_S="${COMPARE_TIMEOUT_S:-120}"
python_cap=150
[ "$COMPARE" = 1 ] && python_cap=$((python_cap + COMPARE_TIMEOUT_S))
declare -A default_cap=([build]=360 [cpp]=360 [sanitize]=180 [python]=$python_cap [bench]=120 [sass]=60)

# Files this run leaves in $OUT before compare.py's (at most 8 come back): summary.txt and
# details.tar.gz, build.log + ptxas.log, tests.log, bench.json + bench.log, sass_summary.txt.
stage_list_norm=",${STAGES// /},"
OUT_FILES_PLANNED=2
[[ $stage_list_norm == *,build,* ]] && OUT_FILES_PLANNED=$((OUT_FILES_PLANNED + 2))
[[ $stage_list_norm =~ ,(cpp|sanitize|python), ]] && OUT_FILES_PLANNED=$((OUT_FILES_PLANNED + 1))
[[ $stage_list_norm == *,bench,* ]] && OUT_FILES_PLANNED=$((OUT_FILES_PLANNED + 2))
[[ $stage_list_norm == *,sass,* ]] && OUT_FILES_PLANNED=$((OUT_FILES_PLANNED + 1))
export OUT_FILES_PLANNED

# ---------------------------------------------------------------- stages
# Each stage runs in its own bash under `timeout` (which kills the whole
# process group), so the functions are exported and set their own options.

# Filters the ptxas -v chatter out of build output (it goes to ptxas.log instead).
# Never fails, so a pipeline's status stays the compiler's.
drop_ptxas_info() { grep -vE '^ptxas info|^ +[0-9]+ bytes stack frame' || true; }

stage_build() {
  set -o pipefail
  local gen_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release
    "-DKVATTN_CUTLASS_DIR=$PWD/third_party/cutlass"
    "-DKVATTN_CUDA_GENCODE=$GENCODE"
    "-DCMAKE_CUDA_FLAGS=-Xptxas=-v"  # register/spill report per kernel, split out below
    -DKVATTN_BUILD_TESTS=ON -DKVATTN_BUILD_BENCH=ON -DKVATTN_BUILD_PYTHON=OFF)
  if [ ! -f third_party/cutlass/include/cute/tensor.hpp ]; then
    echo "warning: no CUTLASS headers in third_party/cutlass: the Hopper path is not built" \
      "(third_party/ is git-ignored: pass it in the device call's carry list; the device has no network)"
  fi
  echo "== cmake -S . -B $BUILD_DIR ${gen_args[*]}"
  cmake -S . -B "$BUILD_DIR" "${gen_args[@]}" 2>&1 | tee "$DETAILS/configure.log" || return 1
  echo "== ninja -C $BUILD_DIR -j $JOBS -k 0"
  # -k 0: keep building independent targets after a failure, so later stages
  # can still run whatever binaries did build.
  ninja -C "$BUILD_DIR" -j "$JOBS" -k 0 2>&1 | tee "$DETAILS/build_raw.log" | drop_ptxas_info
}

stage_cpp() {
  set -o pipefail
  local status=0 bin backend
  # The GPU suite runs once per CUDA backend (KVATTN_TEST_BACKEND): kAuto picks
  # the Hopper kernels on an H100, so the portable kernels are forced separately.
  for bin in kvattn_tests kvattn_gpu_tests; do
    local path="$BUILD_DIR/tests/$bin"
    if [ ! -x "$path" ]; then
      echo "MISSING: $path was not built"
      status=1
      continue
    fi
    local backends="-"
    [ "$bin" = kvattn_gpu_tests ] && backends="${GPU_TEST_BACKENDS:-hopper hopper-packgqa portable}"
    for backend in $backends; do
      echo "== $path${backend#-}"
      if [ "$backend" = - ]; then
        "$path" --gtest_output="xml:$DETAILS/$bin.xml" 2>&1 || status=1
      elif [[ "$backend" == hopper-* ]]; then  # the Hopper kernel with one switch forced
        local switch=""
        case "$backend" in
          hopper-packgqa) switch=KVATTN_HOPPER_PACK_GQA=1 ;;
          hopper-pingpong) switch=KVATTN_HOPPER_PINGPONG=1 ;;
          hopper-nopingpong) switch=KVATTN_HOPPER_PINGPONG=0 ;;
          hopper-nostore) switch=KVATTN_HOPPER_TMA_STORE=0 ;;
          hopper-noqtma) switch=KVATTN_HOPPER_TMA_Q=0 ;;
          hopper-l2kv) switch=KVATTN_HOPPER_L2_SECTIONS=1 ;;
          hopper-prewiden) switch=KVATTN_HOPPER_PREWIDEN=1 ;;
          *) echo "unknown GPU test backend $backend"; status=1; continue ;;
        esac
        env KVATTN_TEST_BACKEND=hopper "$switch" "$path" --gtest_output="xml:$DETAILS/$bin-$backend.xml" 2>&1 || status=1
      else
        KVATTN_TEST_BACKEND="$backend" "$path" --gtest_output="xml:$DETAILS/$bin-$backend.xml" 2>&1 || status=1
      fi
    done
    # The narrow 8-row decode kernel is the default wherever a tile's rows fit
    # 8; the decode tests run once more on the wide kernel only.
    if [ "$bin" = kvattn_gpu_tests ]; then
      echo "== $path (decode, wide rows only: KVATTN_DECODE_VARIANT=narrow=0)"
      KVATTN_DECODE_VARIANT=narrow=0 "$path" --gtest_output="xml:$DETAILS/$bin-decode-wide.xml" \
        --gtest_filter='DecodeKernel.*:GpuAttentionPaths.*:GpuAttentionMatrix.*:GpuAttentionGraph.*:GpuAttentionLengths.*' \
        2>&1 || status=1
    fi
  done
  return "$status"
}

stage_sanitize() {
  set -o pipefail
  local tools="${SANITIZE_TOOLS:-memcheck racecheck}"
  local n
  n=$(echo "$tools" | wc -w)
  # Split the stage's time box between the tools, keeping a little slack.
  SANITIZE_TIMEOUT_S=$(((STAGE_TIME_S - 10) / n)) SANITIZE_TOOLS="$tools" \
    tools/sanitize.sh "$BUILD_DIR/tests/kvattn_gpu_tests" "$DETAILS/sanitize"
}

stage_python() {
  set -o pipefail
  local py
  py="$(command -v python3)"
  "$py" -c 'import sys, torch; print("python", sys.version.split()[0], "| torch", torch.__version__, "| cuda", torch.cuda.is_available())' 2>&1 || true
  local pytest_dir=tests/python pythonpath="${PYTHONPATH:-}"
  if ! "$py" -c 'import nanobind' 2>/dev/null && compgen -G '.device/wheels/*.whl' >/dev/null; then
    echo "== nanobind from .device/wheels"
    "$py" -m pip install -q --no-index --no-deps --target "$BUILD_DIR/py-deps" .device/wheels/*.whl || return 1
    pythonpath="$PWD/$BUILD_DIR/py-deps${pythonpath:+:$pythonpath}"
    export PYTHONPATH="$pythonpath"  # for cmake's `python -m nanobind --cmake_dir` too
  fi
  if [ "$PY_INSTALL" = pip ]; then
    echo "== pip install --no-build-isolation --no-deps -v ."
    CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" "$py" -m pip install --no-build-isolation --no-deps -v . \
      -C "build-dir=$BUILD_DIR/python-pip" \
      -C "cmake.define.KVATTN_CUDA_GENCODE=$GENCODE" \
      -C "cmake.define.KVATTN_CUTLASS_DIR=$PWD/third_party/cutlass" >"$DETAILS/pip_install.log" 2>&1
    local rc=$?
    tail -n 40 "$DETAILS/pip_install.log"
    [ "$rc" = 0 ] || { echo "pip install failed (rc $rc): see details.tar.gz pip_install.log"; return 1; }
  else
    # Reuse the Release build: turn the extension on in the same tree (libkvattn.a
    # is up to date, so only the binding sources compile), then stage the package.
    echo "== extension from $BUILD_DIR (KVATTN_BUILD_PYTHON=ON)"
    cmake -S . -B "$BUILD_DIR" -DKVATTN_BUILD_PYTHON=ON "-DPython_EXECUTABLE=$py" >"$DETAILS/configure_python.log" 2>&1 ||
      { tail -n 30 "$DETAILS/configure_python.log"; return 1; }
    ninja -C "$BUILD_DIR" -j "$JOBS" _kvattn_ext 2>&1 | drop_ptxas_info || return 1
    local ext
    ext="$(find "$BUILD_DIR/python" -maxdepth 2 -name '_kvattn_ext*.so' | head -n 1)"
    [ -n "$ext" ] || { echo "no _kvattn_ext*.so under $BUILD_DIR/python"; return 1; }
    local stage="$BUILD_DIR/python-stage"
    rm -rf "$stage" && mkdir -p "$stage/kvattn"
    cp -r python/kvattn/. "$stage/kvattn/" && cp "$ext" "$stage/kvattn/"
    pythonpath="$PWD/$stage${pythonpath:+:$pythonpath}"
  fi
  [ -d "$pytest_dir" ] || { echo "no $pytest_dir"; return 1; }
  echo "== pytest $pytest_dir"
  PYTHONPATH="$pythonpath" "$py" -m pytest -q -rs -p no:cacheprovider "$pytest_dir" \
    --junitxml="$DETAILS/pytest.xml" 2>&1
  local pytest_rc=$?
  [ "$COMPARE" = 1 ] && PYTHONPATH="$pythonpath" run_compare "$py"
  return "$pytest_rc"
}

# bench/compare.py after pytest, with the package pytest imported (PYTHONPATH is the
# caller's). Time-boxed within what is left of the stage; never fails the stage: the
# outcome goes to the log and the stage table's notes ($DETAILS/compare.status).
run_compare() {
  local py="$1" left=$((STAGE_TIME_S - SECONDS - 10))
  local limit=$((COMPARE_TIMEOUT_S < left ? COMPARE_TIMEOUT_S : left))
  if [ "$limit" -lt 40 ]; then
    echo "compare: not run (${left}s left in the stage)" | tee "$DETAILS/compare.status"
    return 0
  fi
  # JSON and PNG into $OUT while the run leaves room among the 8 files, else into details.tar.gz.
  local free=$((8 - OUT_FILES_PLANNED)) dir="$DETAILS/compare" png_args=()
  mkdir -p "$dir"
  [ "$free" -ge 1 ] && dir="$OUT"
  [ "$free" -eq 1 ] && png_args=(--png "$DETAILS/compare/peers.png")
  local commit="${KVATTN_COMMIT:-}"
  if [ -z "$commit" ]; then
    commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    git diff --quiet HEAD 2>/dev/null || commit="$commit + local changes"
  fi
  echo "== bench/compare.py (time box ${limit}s; JSON/PNG to ${dir#"$PWD"/}) $COMPARE_ARGS"
  local start=$SECONDS rc
  # shellcheck disable=SC2086  # COMPARE_ARGS is a list of flags
  KVATTN_COMMIT="${KVATTN_COMMIT:-$commit}" timeout -k 10 "$limit" "$py" bench/compare.py --json "$dir/" \
    "${png_args[@]}" --time-limit-s $((limit - 25)) $COMPARE_ARGS 2>&1
  rc=$?
  local what="ok"
  case "$rc" in
    0) ;;
    1) what="kvattn rows failed their check or errored" ;;
    124 | 137) what="killed at its time box" ;;
    *) what="failed" ;;
  esac
  echo "compare: rc $rc ($what), $((SECONDS - start))s" | tee "$DETAILS/compare.status"
  return 0
}

stage_bench() {
  set -o pipefail
  local bin="$BUILD_DIR/bench/kvattn-bench"
  if [ ! -x "$bin" ]; then
    echo "no $bin: skipped"
    return 3
  fi
  # shellcheck disable=SC2086  # BENCH_ARGS is a list of flags
  "$bin" --json "$OUT/bench.json" $BENCH_ARGS 2>&1
}

stage_sass() {
  set -o pipefail
  local lib="$BUILD_DIR/libkvattn.a"
  [ -f "$lib" ] || { echo "no $lib"; return 1; }
  command -v cuobjdump >/dev/null || { echo "cuobjdump not found"; return 1; }
  if ! cuobjdump -sass "$lib" >"$DETAILS/kvattn.sass" 2>"$DETAILS/cuobjdump.err"; then
    # Fall back to a binary that links the whole library.
    lib="$BUILD_DIR/tests/kvattn_gpu_tests"
    echo "cuobjdump on libkvattn.a failed ($(head -c 200 "$DETAILS/cuobjdump.err")); trying $lib"
    cuobjdump -sass "$lib" >"$DETAILS/kvattn.sass" 2>"$DETAILS/cuobjdump.err" || {
      cat "$DETAILS/cuobjdump.err"
      return 1
    }
  fi
  python3 - "$DETAILS/kvattn.sass" "$OUT/sass_summary.txt" <<'PY'
import collections, re, shutil, subprocess, sys
sass_path, out_path = sys.argv[1], sys.argv[2]
ops = ["HGMMA", "HMMA", "LDL", "STL", "LDGSTS", "UTMALDG", "LDSM", "STSM", "F2FP", "LDG", "STG", "BAR", "SHFL"]
kernels = collections.OrderedDict()  # (arch, name) -> Counter
arch, current = "?", None
instr = re.compile(r"/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P[T0-9]+\s+)?([A-Z][A-Z0-9_]*)")
with open(sass_path, errors="replace") as f:
    for line in f:
        m = re.search(r"arch = (sm_\w+)", line)
        if m:
            arch = m.group(1)
            continue
        m = re.search(r"Function : (\S+)", line)
        if m:
            current = (arch, m.group(1))
            kernels.setdefault(current, collections.Counter())
            continue
        if current:
            m = instr.search(line)
            if m:
                c = kernels[current]
                c[m.group(1)] += 1
                c["total"] += 1
names = [k[1] for k in kernels]
demangled = names
if shutil.which("c++filt") and names:
    r = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True)
    if r.returncode == 0:
        demangled = r.stdout.splitlines()
with open(out_path, "w") as out:
    out.write("SASS census of libkvattn.a (cuobjdump -sass): instructions per kernel\n")
    out.write("LDL/STL > 0 means local-memory (spill or indexed array) traffic.\n\n")
    cols = ["total"] + ops
    out.write(f"{'arch':8} " + " ".join(f"{c:>7}" for c in cols) + "  kernel\n")
    for ((a, _), c), name in sorted(zip(kernels.items(), demangled), key=lambda x: x[1]):
        short = name if len(name) <= 200 else name[:197] + "..."
        out.write(f"{a:8} " + " ".join(f"{c[o]:>7}" for o in cols) + f"  {short}\n")
    spilling = [n for (k, c), n in zip(kernels.items(), demangled) if c["LDL"] or c["STL"]]
    out.write(f"\n{len(kernels)} kernels; {len(spilling)} with LDL/STL\n")
print(open(out_path).read()[-4000:])
PY
  local rc=$?
  gzip -c "$DETAILS/kvattn.sass" >"$DETAILS/kvattn.sass.gz"
  rm -f "$DETAILS/kvattn.sass"
  # The whole tarball must stay under 16 MiB to come back.
  if [ "$(stat -c %s "$DETAILS/kvattn.sass.gz")" -gt $((8 * 1024 * 1024)) ]; then
    echo "full SASS is over 8 MiB gzipped: not kept"
    rm -f "$DETAILS/kvattn.sass.gz"
  fi
  return "$rc"
}

export -f drop_ptxas_info run_compare stage_build stage_cpp stage_sanitize stage_python stage_bench stage_sass

# ---------------------------------------------------------------- reporting

# "N run, F failed, S skipped" from a GoogleTest / JUnit XML file.
xml_counts() {
  python3 - "$1" <<'PY' 2>/dev/null
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
suites = [r] if r.tag == "testsuite" else list(r.iter("testsuite"))
def total(key):
    if r.get(key) is not None:
        return int(r.get(key))
    return sum(int(s.get(key, 0)) for s in suites)
tests, failed = total("tests"), total("failures") + total("errors")
skipped = sum(1 for tc in r.iter("testcase") if tc.find("skipped") is not None or tc.get("result") == "skipped")
print(f"{tests} run, {failed} failed, {skipped} skipped")
PY
}

# Per-kernel table from the ptxas -v lines of the build, then the raw lines.
write_ptxas_log() {
  [ -f "$DETAILS/build_raw.log" ] || return 0
  python3 - "$DETAILS/build_raw.log" "$OUT/ptxas.log" <<'PY'
import re, shutil, subprocess, sys
src, dst = sys.argv[1], sys.argv[2]
rows, raw = [], []
source, entry = "?", None
for line in open(src, errors="replace"):
    m = re.match(r"\[\d+/\d+\] Building CUDA object (\S+)", line)
    if m:
        source = m.group(1).split(".dir/", 1)[-1].removesuffix(".o")
        continue
    if not (line.startswith("ptxas") or "bytes stack frame" in line):
        continue
    raw.append(line)
    m = re.search(r"Compiling entry function '(\S+)' for '(\w+)'", line)
    if m:
        entry = {"name": m.group(1), "arch": m.group(2), "src": source, "regs": 0, "stack": 0, "spill_st": 0,
                 "spill_ld": 0, "smem": 0}
        rows.append(entry)
        continue
    if entry is None:
        continue
    m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
    if m:
        entry["stack"], entry["spill_st"], entry["spill_ld"] = map(int, m.groups())
    m = re.search(r"Used (\d+) registers", line)
    if m:
        entry["regs"] = int(m.group(1))
        s = re.search(r"(\d+) bytes smem", line)
        entry["smem"] = int(s.group(1)) if s else 0
names = [r["name"] for r in rows]
if shutil.which("c++filt") and names:
    p = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True)
    if p.returncode == 0:
        for r, d in zip(rows, p.stdout.splitlines()):
            r["name"] = d
rows.sort(key=lambda r: (-(r["spill_st"] + r["spill_ld"]), r["src"], r["name"]))
with open(dst, "w") as out:
    out.write("ptxas -v per kernel (sorted: spilling kernels first)\n")
    out.write(f"{'arch':7} {'regs':>4} {'stack':>6} {'spillST':>7} {'spillLD':>7} {'smem':>6}  source :: kernel\n")
    for r in rows:
        name = r["name"] if len(r["name"]) <= 160 else r["name"][:157] + "..."
        out.write(f"{r['arch']:7} {r['regs']:>4} {r['stack']:>6} {r['spill_st']:>7} {r['spill_ld']:>7} "
                  f"{r['smem']:>6}  {r['src']} :: {name}\n")
    spills = sum(1 for r in rows if r["spill_st"] or r["spill_ld"])
    out.write(f"\n{len(rows)} kernels, {spills} with spills\n\n== raw ptxas output\n")
    out.writelines(raw)
PY
}

names=()
statuses=()
seconds=()
notes=()

# KVATTN_COMMIT wins: the device machine's copy of the tree may carry an older .git.
commit_label() {
  [ -n "${KVATTN_COMMIT:-}" ] && { echo "$KVATTN_COMMIT"; return; }
  local head
  head="$(git rev-parse --short HEAD 2>/dev/null)" || { echo unknown; return; }
  if git diff --quiet HEAD 2>/dev/null; then echo "$head"; else echo "$head + local changes"; fi
}

write_summary() {
  {
    echo "kvattn device check — $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "commit: $(commit_label)"
    echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1)"
    echo "nvcc: $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*, V[0-9.]*')"
    echo "gencode: $GENCODE   jobs: $JOBS   stages: $STAGES"
    echo
    printf '%-10s %-8s %7s  %s\n' stage status seconds notes
    local i
    for i in "${!names[@]}"; do
      printf '%-10s %-8s %7s  %s\n' "${names[$i]}" "${statuses[$i]}" "${seconds[$i]}" "${notes[$i]}"
    done
  } >"$OUT/summary.txt"
  # Refresh the tarball after every stage, so a kill at the time limit loses little.
  tar -czf "$OUT/details.tar.gz" --exclude=build_raw.log -C "$DETAILS" . 2>/dev/null || true
}

# Notes for the table: test counts, the bench file, etc.
stage_notes() {
  case "$1" in
    cpp)
      local bin parts=()
      local xml
      for xml in "$DETAILS"/kvattn_tests.xml "$DETAILS"/kvattn_gpu_tests-*.xml; do
        [ -f "$xml" ] && parts+=("$(basename "$xml" .xml): $(xml_counts "$xml")")
      done
      local IFS=';'
      echo "${parts[*]}"
      ;;
    python)
      local parts=()
      [ -f "$DETAILS/pytest.xml" ] && parts+=("pytest: $(xml_counts "$DETAILS/pytest.xml")")
      [ -f "$DETAILS/compare.status" ] && parts+=("$(cat "$DETAILS/compare.status")")
      local IFS=';'
      echo "${parts[*]}"
      ;;
    sanitize) sed -n 's/^sanitize: //p' "$OUT/tests.log" 2>/dev/null | paste -sd ';' ;;
    bench) [ -f "$OUT/bench.json" ] && echo "bench.json written" ;;
    build) grep -c '^FAILED: ' "$OUT/build.log" 2>/dev/null | awk '{if ($1 > 0) print $1 " build edges failed (ninja FAILED:)"}' ;;
  esac
}

run_stage() {
  local name="$1"
  local cap_var="TIMEOUT_${name^^}_S"
  local cap="${!cap_var:-${default_cap[$name]}}"
  local left=$((deadline - SECONDS - 15))  # keep time for the summary
  local limit=$((cap < left ? cap : left))
  local log
  case "$name" in
    build) log="$OUT/build.log" ;;
    cpp | sanitize | python) log="$OUT/tests.log" ;;
    bench) log="$OUT/bench.log" ;;
    *) log="$DETAILS/$name.log" ;;
  esac
  printf '\n==================== %s (time box %ss)\n' "$name" "$limit"
  local start=$SECONDS status rc
  if [ "$limit" -lt 20 ]; then
    status="NO-TIME"
    echo "not run: ${left}s left before the deadline"
  else
    [ "$log" = "$OUT/tests.log" ] && printf '\n==================== %s\n' "$name" >>"$log"
    STAGE_TIME_S="$limit" timeout -k 10 "$limit" bash -c "stage_$name" 2>&1 | tee -a "$log"
    rc=${PIPESTATUS[0]}
    case "$rc" in
      0) status=PASS ;;
      3) status=SKIP ;;
      124 | 137) status=TIMEOUT ;;
      *) status="FAIL($rc)" ;;
    esac
  fi
  [ "$name" = build ] && write_ptxas_log
  names+=("$name")
  statuses+=("$status")
  seconds+=($((SECONDS - start)))
  notes+=("$(stage_notes "$name")")
  write_summary
}

# ---------------------------------------------------------------- main

echo "== nvidia-smi"
nvidia-smi 2>&1 | tee "$DETAILS/nvidia-smi.txt" || echo "nvidia-smi failed"
echo "== nvcc --version"
nvcc --version 2>&1 || echo "nvcc not found"
echo "== cmake $(cmake --version | head -n 1 | awk '{print $3}'), ninja $(ninja --version), $(python3 --version 2>&1), $(nproc) cores"
export STAGE_TIME_S=0

IFS=',' read -r -a stage_list <<<"$STAGES"
for s in "${stage_list[@]}"; do
  s="${s// /}"
  [ -z "$s" ] && continue
  if [ -z "${default_cap[$s]+x}" ]; then
    echo "unknown stage '$s' (expected: build, cpp, sanitize, python, bench, sass)" >&2
    exit 2
  fi
  run_stage "$s"
done

echo
echo "==================== summary ($OUT/summary.txt)"
cat "$OUT/summary.txt"
failed=0
for st in "${statuses[@]}"; do
  case "$st" in PASS | SKIP) ;; *) failed=1 ;; esac
done
exit $failed
