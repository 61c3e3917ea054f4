"""GPU timing with CUDA events (L2 flushed before every timed call) and the ceilings measured in the same run."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

FLUSH_BYTES = 256 << 20  # several times the L2 of any current GPU

# --sustain: seconds of back-to-back calls before each timing (ceilings and rows), so that
# what is timed runs in the power-capped steady state of sustained load (kvattn-bench's
# --sustain does the same; docs/benchmarks.md, "Power regime").
_sustain_s = 0.0


def set_sustain(seconds: float) -> None:
    global _sustain_s
    _sustain_s = float(seconds)


# --cooldown: seconds of idle GPU before each timing's warm-up. Without it a row starts in whatever power
# state the rows before it left, so later rows of a workload run hotter.
_cooldown_s = 0.0


def set_cooldown(seconds: float) -> None:
    global _cooldown_s
    _cooldown_s = float(seconds)


def _cool_down() -> None:
    if _cooldown_s > 0:
        torch.cuda.synchronize()
        time.sleep(_cooldown_s)


def _sustain(fn) -> None:
    if _sustain_s <= 0:
        return
    start = time.monotonic()
    while time.monotonic() - start < _sustain_s:
        for _ in range(8):
            fn()
        torch.cuda.synchronize()


@dataclass
class Timing:
    ms: float
    min_ms: float
    max_ms: float
    reps: int


def time_gpu(fn, reps: int | None = None, budget_ms: float = 1000.0, max_reps: int = 100, warmup: int = 3) -> Timing:
    """Median over reps of fn()'s GPU time; reps defaults to about budget_ms worth, within [5, max_reps]."""
    flush = torch.empty(FLUSH_BYTES, dtype=torch.uint8, device="cuda")

    def run(n: int) -> list[float]:
        pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)]
        for start, end in pairs:
            flush.zero_()  # evict the previous call's inputs from L2 (not timed)
            start.record()
            fn()
            end.record()
        torch.cuda.synchronize()
        return [start.elapsed_time(end) for start, end in pairs]

    _cool_down()
    warm = statistics.median(run(warmup))
    if reps is None:
        reps = int(min(max(budget_ms / max(warm, 1e-3), 5), max_reps))
    _sustain(fn)
    times = run(reps)
    return Timing(statistics.median(times), min(times), max(times), reps)


def _median_ms(fn, reps: int = 20) -> float:
    return time_gpu(fn, reps=reps).ms


def measure_ceilings() -> dict[str, float | None]:
    """Device copy (read + write), bf16 GEMM and fp8 e4m3 GEMM at 8192^3, on random data."""
    out: dict[str, float | None] = {"copy_tbps": None, "bf16_gemm_tflops": None, "fp8_gemm_tflops": None}
    n = 8192
    gemm_flop = 2.0 * n ** 3
    try:
        nbytes = 1 << 30
        src = torch.empty(nbytes, dtype=torch.uint8, device="cuda").random_(0, 255)
        dst = torch.empty_like(src)
        out["copy_tbps"] = 2.0 * nbytes / (_median_ms(lambda: dst.copy_(src)) * 1e9)
        del src, dst
    except Exception as e:  # noqa: BLE001 - a ceiling that fails is reported, not fatal
        print(f"ceiling copy failed: {e}")
    try:
        a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
        b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
        out["bf16_gemm_tflops"] = gemm_flop / (_median_ms(lambda: torch.matmul(a, b)) * 1e9)
        del a, b
    except Exception as e:  # noqa: BLE001
        print(f"ceiling bf16 GEMM failed: {e}")
    try:
        a = torch.randn(n, n, device="cuda").to(torch.float8_e4m3fn)
        b = torch.randn(n, n, device="cuda").to(torch.float8_e4m3fn).t()  # column-major, as _scaled_mm wants
        one = torch.ones((), device="cuda")
        out["fp8_gemm_tflops"] = gemm_flop / (
            _median_ms(lambda: torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)) * 1e9)
    except Exception as e:  # noqa: BLE001
        print(f"ceiling fp8 GEMM failed: {e}")
    return out
