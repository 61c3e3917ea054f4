#!/usr/bin/env python3
"""Rewrites README.md's performance table from bench/results/*.json.

The table sits between the markers `<!-- perf-table:begin -->` and `<!-- perf-table:end -->`. One section per
GPU: device, date, commit and ceilings from kvattn-bench's record (<gpu-slug>.json), then one row per workload
with kvattn's numbers per KV dtype and the peers' from compare.py's record (<gpu-slug>.peers.json), when present.
Compute-bound cells (arithmetic intensity above the ridge point bf16 GEMM / copy) show TFLOP/s, memory-bound
ones ms and TB/s. Failed rows say so; skipped or missing ones show "-". CPU-mode and --scale'd records are
ignored.

    python3 tools/update_perf_table.py            # rewrite README.md
    python3 tools/update_perf_table.py --check    # exit 1 if README.md is out of date
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN, END = "<!-- perf-table:begin -->", "<!-- perf-table:end -->"
WORKLOAD_ORDER = ["prefill_4x8k", "chunk_8x2k_ctx6k", "mixed_2k_128dec", "decode_128_ctx4k", "decode_32_ctx32k",
                  "specdec_64x4_ctx4k", "decode_8_ctx128k", "prefill_d64", "prefill_d256", "mixed_part_chunk_2k",
                  "chunk_64x32_ctx4k"]
IMPL_ORDER = ["kvattn", "kvattn+graph", "sdpa-cudnn", "sdpa-flash", "flashinfer", "vllm-fa"]
DTYPE_ORDER = ["bf16", "e4m3", "e5m2"]
DEFAULT_RIDGE = 200.0  # FLOP/byte, when a record has no ceilings


def load_records(results_dir: str) -> dict[str, dict]:
    """GPU name -> {"main": kvattn-bench record or None, "peers": [compare.py records]}."""
    by_gpu: dict[str, dict] = {}
    for path in sorted(glob.glob(os.path.join(results_dir, "*.json"))):
        with open(path) as f:
            rec = json.load(f)
        if rec.get("mode", "gpu") != "gpu" or rec.get("scale"):
            continue  # CPU runs and shrunken smoke runs are not device results
        if rec.get("sustain_s"):
            continue  # --sustain runs measure another power regime than the table's
        entry = by_gpu.setdefault(rec["gpu"], {"main": None, "peers": []})
        if rec.get("tool", "kvattn-bench") == "kvattn-bench":
            entry["main"] = rec
        else:
            entry["peers"].append(rec)
    return by_gpu


def _order(value: str, order: list[str]) -> tuple[int, str]:
    return (order.index(value) if value in order else len(order), value)


def _cell(row: dict | None, ridge: float, ceilings: dict) -> str:
    """The bound that matters for the row, as a rate and as a share of the same-run ceiling."""
    status = "ok" if row is None else row.get("status", "ok")
    if status in ("mismatch", "error"):
        return "check failed" if status == "mismatch" else "error"
    if row is None or status != "ok" or not row.get("ms"):
        return "-"
    tflops, tbps, ms = row.get("tflops"), row.get("tbps"), row["ms"]
    gemm, copy = ceilings.get("bf16_gemm_tflops"), ceilings.get("copy_tbps")
    if tflops and tbps and tflops * 1e12 / (tbps * 1e12) > ridge:
        share = f", {100 * tflops / gemm:.0f}% of bf16 GEMM" if gemm else ""
        return f"{tflops:.0f} TFLOP/s{share} ({ms:.2f} ms)"
    if not tbps:
        return f"{ms:.3f} ms"
    share = f" = {100 * tbps / copy:.0f}% of copy" if copy else ""
    return f"{ms:.3f} ms, {tbps:.2f} TB/s{share}"


def _fmt(value, digits: int, unit: str) -> str:
    return "n/a" if value is None else f"{value:.{digits}f} {unit}"


def gpu_section(gpu: str, entry: dict) -> str:
    main = entry["main"] or {}
    ceilings = main.get("ceilings") or (entry["peers"][0].get("ceilings") if entry["peers"] else {}) or {}
    lines = [f"**{gpu}**, kvattn commit `{main.get('commit', 'unknown')}`, {str(main.get('date', '?'))[:10]} (UTC). "
             f"Ceilings measured in the same run: copy {_fmt(ceilings.get('copy_tbps'), 2, 'TB/s')}, "
             f"bf16 GEMM {_fmt(ceilings.get('bf16_gemm_tflops'), 0, 'TFLOP/s')}, "
             f"fp8 GEMM {_fmt(ceilings.get('fp8_gemm_tflops'), 0, 'TFLOP/s')}."]
    for peer in entry["peers"]:
        lines[0] += f" Peers: {peer.get('tool', '?')} at commit `{peer.get('commit', 'unknown')}`, " \
                    f"{str(peer.get('date', '?'))[:10]}."
    if ceilings.get("bf16_gemm_tflops") and ceilings.get("copy_tbps"):
        ridge = ceilings["bf16_gemm_tflops"] / ceilings["copy_tbps"]
    else:
        ridge = DEFAULT_RIDGE

    rows = list(main.get("rows", []))
    for peer in entry["peers"]:
        # kvattn's own numbers come from kvattn-bench; compare.py's kvattn rows are a cross-check only.
        rows += [r for r in peer.get("rows", []) if r.get("impl") != "kvattn"]
    table = {(r["workload"], r["impl"], r["kv_dtype"]): r for r in rows}
    # Columns: (impl, dtype) pairs that succeeded somewhere.
    columns = sorted({(r["impl"], r["kv_dtype"]) for r in rows if r.get("status", "ok") == "ok"},
                     key=lambda c: (_order(c[0], IMPL_ORDER), _order(c[1], DTYPE_ORDER)))
    workloads = sorted({r["workload"] for r in rows}, key=lambda w: _order(w, WORKLOAD_ORDER))
    if not columns:
        return lines[0] + "\n\n_No successful rows in this record._\n"
    lines.append("")
    lines.append("| workload | " + " | ".join(f"{impl} {dtype}" for impl, dtype in columns) + " |")
    lines.append("|---|" + "---|" * len(columns))
    for wl in workloads:
        lines.append(f"| {wl} | " + " | ".join(_cell(table.get((wl, i, d)), ridge, ceilings) for i, d in columns) + " |")
    return "\n".join(lines) + "\n"


def render(results_dir: str) -> str:
    by_gpu = load_records(results_dir)
    if not by_gpu:
        return "_No device results recorded yet: run `bench/run_device.sh` on a GPU machine._\n"
    intro = ("Generated by `tools/update_perf_table.py` from `bench/results/*.json` (recorded by `kvattn-bench` and "
             "`bench/compare.py`; how and what is measured: `docs/benchmarks.md`). Hq 32, Hkv 8, D 128, page 16, "
             "causal, bf16 q unless the workload says otherwise; peers run dense bf16 where they have no paged fp8 "
             "path.\n")
    return intro + "\n" + "\n".join(gpu_section(gpu, by_gpu[gpu]) for gpu in sorted(by_gpu))


def replace_between_markers(text: str, body: str) -> str:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < 0 or end < start:
        raise ValueError(f"README has no '{BEGIN}' ... '{END}' markers (in that order)")
    return text[:start + len(BEGIN)] + "\n" + body + text[end:]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--readme", default=os.path.join(ROOT, "README.md"))
    p.add_argument("--results", default=os.path.join(ROOT, "bench", "results"))
    p.add_argument("--check", action="store_true", help="do not write; exit 1 if the README is out of date")
    p.add_argument("--print", action="store_true", help="print the generated table and exit")
    args = p.parse_args(argv)

    body = render(args.results)
    if args.print:
        print(body)
        return 0
    try:
        with open(args.readme) as f:
            old = f.read()
        new = replace_between_markers(old, body)
    except (OSError, ValueError) as e:
        print(f"update_perf_table: {args.readme}: {e}", file=sys.stderr)
        return 1
    if args.check:
        if new != old:
            print(f"{args.readme}: performance table is out of date (run tools/update_perf_table.py)", file=sys.stderr)
            return 1
        return 0
    if new != old:
        with open(args.readme, "w") as f:
            f.write(new)
        print(f"updated {args.readme}")
    else:
        print(f"{args.readme} already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
