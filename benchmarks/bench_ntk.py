"""Benchmark: the empirical NTK on MNIST images, torch.func (chunked) vs an explicit Jacobian.

Both compute ``K = J J^T`` on ``--n`` training images of the MNIST subset for a one-hidden-layer
ReLU network (``lotterylab.models.TangentMLP``, NTK parameterisation) of width ``--width``:

* ``explicit loop``  one ``torch.autograd.grad`` call per (image, output) builds the rows of the
                     full Jacobian ``J`` (n k x P), then ``J @ J.T`` (the textbook way);
* ``torch.func``     ``lotterylab.tangent.empirical_ntk``'s generic path: ``vmap(jacrev)`` over
                     chunks of ``--chunk`` images, contracted chunk by chunk (no Python loop over
                     images); forced here with an all-ones mask on the first layer;
* ``closed form``    ``empirical_ntk`` as the chapter calls it: for a one-output, one-hidden-layer
                     ``TangentMLP`` it skips the Jacobian and multiplies small matrices of activations
                     (``O(n^2 width)`` instead of ``O(n^2 P)``; only with ``--outputs 1``).

With ``--outputs 1`` (default) the network has one output (the chapter's odd/even task);
``--outputs 10`` times the 10-class case with ``reduction="full"`` (an n x n x 10 x 10 kernel). Each
way runs once as warm-up and then ``--repeats`` times; the table gives medians and the ratio, and the
two kernels are compared (largest absolute difference relative to the largest entry). Measured on the
course's 2-core CPU (defaults, 2 threads, before the closed form existed): 1.37 s explicit vs 1.31 s
torch.func, ratio 1.0x; the 10-output case (--n 64 --width 256 --outputs 10) is also 1.0x. Both are
dominated by the same n^2 P contraction, so torch.func buys no speed here; what it buys is bounded memory (the full n x P Jacobian is never needed
when it does not fit, see ``max_cache_bytes``) and no Python loop over examples. A measurement,
not a test: nothing is asserted. Run it with ``make bench`` or ``.venv/bin/python
benchmarks/bench_ntk.py [--n 256] [--width 1024] [--outputs 1] [--chunk 32] [--repeats 3] [--threads N]``.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from lotterylab.data import load_mnist_subset
from lotterylab.device import get_device
from lotterylab.models import TangentMLP
from lotterylab.tangent import empirical_ntk

SEED = 0


def explicit_ntk(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``J J^T`` from a full Jacobian built with one backward pass per (input, output)."""
    params = list(model.parameters())
    rows = []
    for xi in x:
        out = model(xi[None])[0]
        for c in range(out.shape[0]):
            grads = torch.autograd.grad(out[c], params, retain_graph=c < out.shape[0] - 1)
            rows.append(torch.cat([g.reshape(-1) for g in grads]))
    J = torch.stack(rows)                                     # (n k, P)
    K = J @ J.T                                               # (n k, n k)
    k = model(x[:1]).shape[1]
    n = x.shape[0]
    return K if k == 1 else K.reshape(n, k, n, k).permute(0, 2, 1, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--outputs", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)
    x = load_mnist_subset(seed=SEED, device=device).X_train[:args.n]
    net = TangentMLP(784, [args.width], args.outputs, seed=SEED).to(device)
    n_params = sum(p.numel() for p in net.parameters())
    print(f"empirical NTK: {args.n} MNIST images, 784-{args.width}-{args.outputs} ReLU net ({n_params:,} parameters), "
          f"{device.type}, {torch.get_num_threads()} threads")

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    all_ones = {"layers.0.weight": torch.ones_like(net.layers[0].weight)}      # forces the generic path
    ways = {"explicit loop": lambda: explicit_ntk(net, x),
            "torch.func": lambda: empirical_ntk(net, x, masks=all_ones, chunk_size=args.chunk)}
    if args.outputs == 1 and len(net.layers) == 2:
        ways["closed form"] = lambda: empirical_ntk(net, x, chunk_size=args.chunk)
    times = {name: [] for name in ways}
    kernels = {}
    for name, fn in ways.items():                            # warm-up
        kernels[name] = fn()
        sync()
    for r in range(args.repeats):
        order = list(ways) if r % 2 == 0 else list(ways)[::-1]
        for name in order:
            t0 = time.perf_counter()
            ways[name]()
            sync()
            times[name].append(time.perf_counter() - t0)
    ref = kernels["explicit loop"]
    diff = float((kernels["torch.func"] - ref).abs().max() / ref.abs().max())
    med = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"{'way':>14} | {'median s':>9} | {'runs':>20}")
    for name in ways:
        print(f"{name:>14} | {med[name]:9.3f} | " + ", ".join(f"{t:.2f}" for t in times[name]))
    print(f"speed-up of torch.func over the explicit loop: {med['explicit loop'] / med['torch.func']:.1f}x")
    if "closed form" in ways:
        closed = float((kernels["closed form"] - ref).abs().max() / ref.abs().max())
        print(f"speed-up of the closed form over the explicit loop: {med['explicit loop'] / med['closed form']:.0f}x "
              f"(largest difference / largest entry: {closed:.1e})")
    print(f"kernel shape {tuple(kernels['torch.func'].shape)}; largest difference / largest entry: {diff:.1e} "
          f"({'agree' if diff < 1e-4 else 'DISAGREE'})")


if __name__ == "__main__":
    main()
