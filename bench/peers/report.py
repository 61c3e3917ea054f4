"""compare.py's outputs: one aligned table, the JSON record (bench/results schema) and a PNG bar chart."""
from __future__ import annotations

import json
import math
import os
import re


def slugify(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3' (same rule as kvattn-bench)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown"


def _fmt(value, digits: int) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def format_table(rows: list[dict]) -> str:
    header = ["workload", "impl", "kv", "ms", "TFLOP/s", "TB/s", "check", "note"]
    cells = [header]
    for r in rows:
        check = r.get("check_max_rel_l2")
        cells.append([r["workload"], r["impl"], r["kv_dtype"], _fmt(r.get("ms"), 3), _fmt(r.get("tflops"), 1),
                      _fmt(r.get("tbps"), 2), "-" if check is None else f"{check:.1e}",
                      r["status"] if r["status"] != "ok" else r.get("note", "")])
    widths = [max(len(row[c]) for row in cells) for c in range(len(header))]
    numeric = {3, 4, 5, 6}
    lines = []
    for i, row in enumerate(cells):
        parts = [cell.rjust(widths[c]) if c in numeric else cell.ljust(widths[c]) for c, cell in enumerate(row)]
        lines.append("  ".join(parts).rstrip())
        if i == 0:
            lines.append("-" * len(lines[0]))
    # One line per (impl, status, reason), listing the rows it applies to.
    reasons: dict[tuple, list[str]] = {}
    for r in rows:
        if r["status"] != "ok":
            reasons.setdefault((r["impl"], r["status"], r.get("note", "")), []).append(f"{r['workload']} {r['kv_dtype']}")
    notes = [f"{impl} {status}: {note} [{', '.join(where)}]" for (impl, status, note), where in reasons.items()]
    return "\n".join(lines + ([""] + notes if notes else []))


def json_target(path: str, gpu: str) -> str:
    """A directory (existing or ending in '/') gets <gpu-slug>.peers.json, beside kvattn-bench's <gpu-slug>.json."""
    if path.endswith("/") or os.path.isdir(path):
        os.makedirs(path, exist_ok=True)
        return os.path.join(path, f"{slugify(gpu)}.peers.json")
    return path


def _finite_or_none(obj):
    """JSON has no NaN/inf: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    return obj


def write_json(path: str, record: dict) -> str:
    target = json_target(path, record["gpu"])
    with open(target, "w") as f:
        json.dump(_finite_or_none(record), f, indent=1, allow_nan=False)
        f.write("\n")
    return target


def save_png(path: str, rows: list[dict], title: str) -> str | None:
    """Grouped bars per workload: TFLOP/s (top) and TB/s (bottom), one bar per (impl, kv dtype)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as e:  # noqa: BLE001
        print(f"matplotlib not available ({e}): no PNG written")
        return None
    ok = [r for r in rows if r["status"] == "ok"]
    if not ok:
        print("no successful rows: no PNG written")
        return None
    workloads = list(dict.fromkeys(r["workload"] for r in ok))
    series = list(dict.fromkeys((r["impl"], r["kv_dtype"]) for r in ok))
    value = {(r["workload"], r["impl"], r["kv_dtype"]): r for r in ok}
    fig, axes = plt.subplots(2, 1, figsize=(max(10, 1.6 * len(workloads)), 9), sharex=True)
    width = 0.8 / len(series)
    for ax, metric, label in ((axes[0], "tflops", "TFLOP/s"), (axes[1], "tbps", "TB/s")):
        for s, (impl, kv) in enumerate(series):
            xs, ys = [], []
            for x, wl in enumerate(workloads):
                r = value.get((wl, impl, kv))
                if r is not None and r.get(metric) is not None:
                    xs.append(x - 0.4 + width * (s + 0.5))
                    ys.append(r[metric])
            ax.bar(xs, ys, width, label=f"{impl} {kv}")
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_title(title)
    axes[0].legend(fontsize=8, ncol=3)
    axes[1].set_xticks(range(len(workloads)))
    axes[1].set_xticklabels(workloads, rotation=30, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
