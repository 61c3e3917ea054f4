#!/usr/bin/env python3
"""kvattn against the attention kernels available on this machine, on the standard workloads.

Runs on a CUDA machine with torch. Implementations: kvattn (its Python package, vLLM's flash_attn_varlen_func
convention, paged KV in bf16 / e4m3 / e5m2), torch SDPA with the cuDNN and flash backends (dense bf16: no paging,
no fp8), and flashinfer / vllm_flash_attn when importable. Prints one table, writes --json (bench/results schema)
and a PNG bar chart when matplotlib is there. Details: docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import datetime
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from peers import report, workloads as wl  # noqa: E402  (pure Python: importable without torch)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", default="all", help="comma-separated workload names, or all")
    p.add_argument("--kv-dtype", default="bf16,e4m3,e5m2", help="comma-separated: bf16, e4m3, e5m2")
    p.add_argument("--impls", default="all",
                   help="comma-separated of kvattn, sdpa-cudnn, sdpa-flash, flashinfer, vllm-fa; 'all' or 'peers'")
    p.add_argument("--reps", type=int, default=None, help="timed repetitions (default ~1 s per row, at most 100)")
    p.add_argument("--json", default=None, help="write the record here (a directory gets <gpu-slug>.peers.json)")
    p.add_argument("--png", default=None, help="bar chart path (default: next to --json, else compare.png)")
    p.add_argument("--no-ceilings", action="store_true", help="skip the copy / GEMM ceilings")
    p.add_argument("--no-check", action="store_true", help="skip the fp32 reference check of paged outputs")
    p.add_argument("--sustain", type=float, default=0.0, metavar="SECONDS",
                   help="before each timing (ceilings and rows), call it back to back this long: the power-capped "
                        "regime of sustained load (default 0; such records stay out of the README table)")
    p.add_argument("--cooldown", type=float, default=0.0, metavar="SECONDS",
                   help="before each timing (ceilings and rows), leave the GPU idle this long, so that every row "
                        "starts from the same power state whatever ran before it (default 0)")
    p.add_argument("--scale", default=None, metavar="LEN_DIV,COUNT_DIV",
                   help="shrink the workloads (smoke runs only; the record says so)")
    p.add_argument("--time-limit-s", type=float, default=None, metavar="S",
                   help="start no row after S seconds: the rest are recorded as skipped (time limit) and the table, "
                        "JSON and PNG are still written; SIGTERM (e.g. from `timeout`) stops the same way")
    args = p.parse_args(argv)
    if not 0 <= args.sustain <= 600:  # also NaN and inf (kvattn-bench's --sustain takes [0, 600] too)
        p.error(f"--sustain: expected seconds in [0, 600], got {args.sustain}")
    if not 0 <= args.cooldown <= 60:  # also NaN
        p.error(f"--cooldown: expected seconds in [0, 60], got {args.cooldown}")
    if args.scale:
        try:
            len_div, count_div = (int(x) for x in args.scale.split(","))
            if len_div < 1 or count_div < 1:
                raise ValueError
        except ValueError:
            p.error(f"--scale: expected LEN_DIV,COUNT_DIV (two integers >= 1), got '{args.scale}'")
        args.scale_divs = (len_div, count_div)
    try:
        args.workloads = wl.select(args.workload.split(","))
    except ValueError as e:
        p.error(str(e))
    args.kv_dtypes = [d for d in args.kv_dtype.split(",") if d]
    for d in args.kv_dtypes:
        if d not in wl.KV_DTYPES:
            p.error(f"--kv-dtype: unknown '{d}'; expected bf16, e4m3 or e5m2")
    return args


def current_commit() -> str:
    env = os.environ.get("KVATTN_COMMIT")
    if env:
        return env
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,
                              check=True).stdout.strip() or "unknown"
    except Exception:  # noqa: BLE001 - a copy without .git
        return "unknown"


def versions() -> dict:
    import torch
    found = {"torch": torch.__version__, "cuda": torch.version.cuda}
    for name in ("kvattn", "triton", "flashinfer", "vllm", "matplotlib"):
        try:
            found[name] = getattr(__import__(name), "__version__", "?")
        except Exception:  # noqa: BLE001
            found[name] = None
    return found


class Stop(BaseException):
    """SIGTERM arrived: finish with the rows measured so far (BaseException: run_row's handlers let it through)."""


def _stop_on_sigterm(signum, frame):
    raise Stop()


def run_row(impl_name: str, prepare, w, kv_dtype: str, args, ceilings) -> dict:
    import torch

    from peers import check, timing
    from peers.impls import Skip

    row = {"workload": w.name, "impl": impl_name, "kv_dtype": kv_dtype, "ms": None, "tflops": None, "tbps": None,
           "status": "ok", "note": "", "check_max_rel_l2": None}
    try:
        runner = prepare(w, kv_dtype, "cuda")
        row["note"] = runner.note
        if runner.batch is not None and not args.no_check:
            torch.cuda.synchronize()
            err = check.max_rel_l2(w, runner.batch, runner.batch.out)
            row["check_max_rel_l2"] = err
            if not err < check.TOLERANCE:
                row["status"] = "mismatch"
                row["note"] = f"rel L2 {err:.3g} vs fp32 reference (tolerance {check.TOLERANCE})"
        with runner.context:
            t = timing.time_gpu(runner.call, reps=args.reps)
        flops = wl.flops(w)
        moved = wl.bytes_moved(w, kv_dtype, paged=runner.paged)
        row.update(ms=t.ms, min_ms=t.min_ms, max_ms=t.max_ms, reps=t.reps, tflops=flops / (t.ms * 1e9),
                   tbps=moved / (t.ms * 1e9))
        if ceilings.get("bf16_gemm_tflops"):
            row["pct_bf16_gemm"] = 100 * row["tflops"] / ceilings["bf16_gemm_tflops"]
        if ceilings.get("copy_tbps"):
            row["pct_copy"] = 100 * row["tbps"] / ceilings["copy_tbps"]
    except Skip as e:
        row.update(status="skipped", note=str(e))
    except Exception as e:  # noqa: BLE001 - one failing implementation must not stop the comparison
        row.update(status="error", note=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    return row


def _skipped_row(w, impl_name: str, kv_dtype: str, why: str) -> dict:
    return {"workload": w.name, "impl": impl_name, "kv_dtype": kv_dtype, "ms": None, "tflops": None, "tbps": None,
            "status": "skipped", "note": f"not run: {why}", "check_max_rel_l2": None}


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import torch
    except ImportError:
        print("compare.py needs torch (and a CUDA device)", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("compare.py needs a CUDA device; without one run build/bench/kvattn-bench (CPU mode)", file=sys.stderr)
        return 2

    from peers.impls import IMPLS, PEERS
    from peers.timing import measure_ceilings, set_cooldown, set_sustain

    set_sustain(args.sustain)
    set_cooldown(args.cooldown)

    names = {"all": list(IMPLS), "peers": PEERS}.get(args.impls, args.impls.split(","))
    unknown = [n for n in names if n not in IMPLS]
    if unknown:
        print(f"--impls: unknown {unknown}; expected some of {list(IMPLS)}, all or peers", file=sys.stderr)
        return 2
    workloads = args.workloads
    if args.scale:
        workloads = [wl.scaled(w, *args.scale_divs) for w in workloads]

    start = time.monotonic()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    stopped = None  # why the run ended early, if it did
    gpu = torch.cuda.get_device_name()
    ceilings = {}
    rows = []
    try:
        print(f"compare.py on {gpu}; versions: {versions()}", file=sys.stderr)
        if args.sustain:
            print(f"sustained: every timing (ceilings too) after {args.sustain:g} s of back-to-back calls",
                  file=sys.stderr)
        ceilings = {} if args.no_ceilings else measure_ceilings()
        if ceilings:
            print(f"ceilings: {ceilings}", file=sys.stderr)
        for w in workloads:
            for kv_dtype in args.kv_dtypes:
                for name in names:
                    if stopped is None and args.time_limit_s is not None and \
                            time.monotonic() - start > args.time_limit_s:
                        stopped = f"time limit ({args.time_limit_s:g} s)"
                        print(f"compare.py: {stopped} reached: the remaining rows are skipped", file=sys.stderr)
                    if stopped is not None:
                        rows.append(_skipped_row(w, name, kv_dtype, stopped))
                        continue
                    row = run_row(name, IMPLS[name], w, kv_dtype, args, ceilings)
                    timed = "" if row["ms"] is None else f"{row['ms']:.3f} ms "
                    print(f"{w.name} {kv_dtype} {name}: {row['status']} {timed}{row['note']}", file=sys.stderr)
                    rows.append(row)
    except Stop:
        stopped = "SIGTERM"
        print("compare.py: SIGTERM: writing the rows measured so far", file=sys.stderr)
        done = {(r["workload"], r["impl"], r["kv_dtype"]) for r in rows}
        rows += [_skipped_row(w, name, kv_dtype, stopped) for w in workloads for kv_dtype in args.kv_dtypes
                 for name in names if (w.name, name, kv_dtype) not in done]
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM while writing ends the process

    print(report.format_table(rows))
    record = {"gpu": gpu, "commit": current_commit(),
              "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "tool": "compare.py", "mode": "gpu", "scale": args.scale, "stopped_early": stopped,
              "sustain_s": args.sustain or None, "cooldown_s": args.cooldown or None,
              "versions": versions(),
              "ceilings": {k: ceilings.get(k) for k in ("copy_tbps", "bf16_gemm_tflops", "fp8_gemm_tflops")},
              "rows": rows}
    png = args.png
    if args.json:
        target = report.write_json(args.json, record)
        print(f"wrote {target}", file=sys.stderr)
        png = png or os.path.splitext(target)[0] + ".png"
    written = report.save_png(png or "compare.png", rows, f"{gpu}, commit {record['commit']}")
    if written:
        print(f"wrote {written}", file=sys.stderr)
    return 1 if any(r["status"] in ("mismatch", "error") and r["impl"] == "kvattn" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
