#!/usr/bin/env python3
"""Precision probe for a possible FP8 Q K^T (docs/perf-notes.md, Session 5, section 5).

A bf16 q splits exactly into two e4m3 parts once each row is scaled by a power of two
into e4m3's range: q * 2^c = hi + lo (8 significant bits = 4 + 4). S = hi K^T + lo K^T
could then run on FP8 tensor cores with the cache's e4m3 K as is. The open question is
the FP8 tensor cores' accumulation precision. This script measures it with cuBLASLt's
FP8 GEMM through torch._scaled_mm with use_fast_accum=True (plain WGMMA accumulation,
no promotion) at K = head dim, against a float64 reference of the same bf16 q and
e4m3 K, and prints the split's own exactness. Needs torch with CUDA on an sm_89+ GPU.

    python3 tools/dev/fp8_qk_split_precision.py
"""
import torch

E4M3 = torch.float8_e4m3fn


def split_rows(q: torch.Tensor):
    """q (bf16, [M, D]) -> hi, lo (e4m3) and the per-row exponent c: q * 2^c = hi + lo."""
    qf = q.float()
    amax = qf.abs().amax(dim=1, keepdim=True).clamp_min(2.0**-100)
    c = torch.floor(torch.log2(224.0 / amax))  # row max in [224, 448)
    scaled = qf * torch.exp2(c)
    hi = scaled.to(E4M3)
    lo = (scaled - hi.float()).to(E4M3)
    return hi, lo, c


def probe(m: int, n: int, d: int, q_scale: float, seed: int) -> None:
    g = torch.Generator(device="cuda").manual_seed(seed)
    q = (torch.randn(m, d, device="cuda", generator=g) * q_scale).to(torch.bfloat16)
    k = (torch.randn(n, d, device="cuda", generator=g) * 2.0).to(E4M3)
    hi, lo, c = split_rows(q)
    inv = torch.exp2(-c).double()
    exact_split = ((hi.double() + lo.double()) * inv - q.double()).abs().max().item()
    ref = q.double() @ k.double().t()
    mag = q.double().abs() @ k.double().abs().t()  # sum |q_d k_d|, the scale of accumulation error
    one = torch.ones((), device="cuda")
    kt = k.t()  # column-major view, as _scaled_mm wants its second operand
    results = {}
    for fast in (True, False):
        s = (torch._scaled_mm(hi, kt, scale_a=one, scale_b=one, out_dtype=torch.float32, use_fast_accum=fast) +
             torch._scaled_mm(lo, kt, scale_a=one, scale_b=one, out_dtype=torch.float32, use_fast_accum=fast))
        err = (s.double() * inv - ref).abs()
        results[fast] = ((err / mag).max().item(), (err / ref.abs().amax(dim=1, keepdim=True)).max().item())
    fp32 = (q.float() @ k.float().t()).double()
    err32 = (fp32 - ref).abs()
    print(f"M={m} N={n} D={d} |q|~{q_scale:g}: split max |hi+lo-q| = {exact_split:.3g}; "
          f"err / sum|qk|: fast-accum {results[True][0]:.3g}, promoted {results[False][0]:.3g}, "
          f"fp32 {(err32 / mag).max().item():.3g}; err / row max|S|: fast-accum {results[True][1]:.3g}, "
          f"promoted {results[False][1]:.3g}")


def main() -> None:
    print(torch.cuda.get_device_name(), torch.__version__)
    for d in (64, 128, 256):
        for q_scale in (1.0, 1e-3, 30.0):
            probe(2048, 2048, d, q_scale, seed=d + int(q_scale * 1000))


if __name__ == "__main__":
    main()
