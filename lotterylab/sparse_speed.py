"""Does a sparse ticket run faster? Time a layer's dense matmul against ``torch.sparse`` (CSR) at several densities.

Unstructured sparsity saves arithmetic only if the sparse kernel beats the dense one, which on CPUs
and GPUs needs very low density: dense matrix multiplication is so well optimised that a CSR product
with a third of the weights is often slower. :func:`time_sparse_matmul` measures it on your device.

Example:
    >>> import torch
    >>> rows = time_sparse_matmul(torch.randn(30, 20), [1.0, 0.1], batch=8, repeats=2, seed=0)
    >>> [r.density for r in rows]
    [1.0, 0.1]
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lotterylab.errors import LotteryLabError, check_fraction, check_positive_int
from lotterylab.seeding import make_generator

__all__ = ["SparseTiming", "time_sparse_matmul"]


@dataclass(frozen=True)
class SparseTiming:
    """Median seconds of one product ``x @ W.T`` at one density, dense and CSR, and their ratio."""

    density: float
    dense_s: float
    sparse_s: float

    @property
    def speedup(self) -> float:
        """Dense time over sparse time: above 1 the sparse kernel wins."""
        return self.dense_s / self.sparse_s


def _median_time(fn, repeats: int, sync, inner: int = 10) -> float:
    """Median over ``repeats`` samples of the mean time of ``inner`` back-to-back calls."""
    fn()                                  # warm-up (allocations, kernel selection)
    times = []
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        sync()
        times.append((time.perf_counter() - t) / inner)
    return sorted(times)[len(times) // 2]


@torch.no_grad()
def time_sparse_matmul(weight: torch.Tensor, densities: Sequence[float], *, batch: int = 256, repeats: int = 20,
                       seed: int = 0) -> list[SparseTiming]:
    """For each density, keep that fraction of ``weight``'s largest-magnitude entries and time ``x @ W.T``
    dense and as a CSR sparse product, on ``weight``'s device with a random batch of ``batch`` inputs."""
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise LotteryLabError("weight must be a 2-D tensor (out_features, in_features).")
    if isinstance(densities, (str, float, int)) or not densities:
        raise LotteryLabError(f"densities={densities!r} must be a non-empty list of fractions in (0, 1].")
    for d in densities:
        check_fraction("densities", d, low_inclusive=False, high_inclusive=True)
    check_positive_int("batch", batch)
    check_positive_int("repeats", repeats)
    x = torch.randn(batch, weight.shape[1], generator=make_generator(seed)).to(weight.device, weight.dtype)
    sync = torch.cuda.synchronize if weight.device.type == "cuda" else (lambda: None)
    order = weight.abs().flatten().argsort(descending=True, stable=True)
    rows = []
    for d in densities:
        keep = torch.zeros(weight.numel(), dtype=torch.bool, device=weight.device)
        keep[order[: max(1, round(d * weight.numel()))]] = True
        w = weight * keep.view_as(weight)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            w_csr = w.to_sparse_csr()
        w_t = w.t().contiguous()
        dense_s = _median_time(lambda w_t=w_t: x @ w_t, repeats, sync)
        sparse_s = _median_time(lambda w_csr=w_csr: torch.sparse.mm(w_csr, x.t()), repeats, sync)
        rows.append(SparseTiming(float(d), dense_s, sparse_s))
    return rows
