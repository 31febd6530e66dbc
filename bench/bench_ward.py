"""Benchmark: one Ward tree cut at ten overclustering factors vs scikit-learn fitted once.

Measures, side by side in one run on the same random float32 data (seeded):

* ``sklearn``: one ``AgglomerativeClustering(n_clusters=k, linkage="ward")`` fit, ``k = 4 * f0``;
* ``ward_tree``: building one tree with :func:`paperlib.cluster.ward_tree`;
* ``ward_labels x10``: :func:`paperlib.cluster.ward_labels` at all ten factors (``k = 4 * f``,
  ``f = 1..10``), i.e. one tree plus ten cuts.

and prints the ratios "all ten factors / one tree" (goal: <= 1.1x, the cuts are nearly free) and
"sklearn one fit / ours all factors" (how much faster the whole factor sweep is than a single
scikit-learn fit; the paper's way needs ten such fits). It also checks that our labels at ``k`` are
the scikit-learn partition (ARI = 1).

Default size ``--n 500 --d 65536`` is a superclass of a few hundred images with a wide, flattened
feature map; it runs in well under a minute on 2 CPU cores. Times are the minimum over ``--repeats``.

Usage::

    python bench/bench_ward.py [--n 500] [--d 65536] [--repeats 1] [--device cuda] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def _timed(fn, repeats: int):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="samples (images in one superclass)")
    parser.add_argument("--d", type=int, default=65536, help="features per sample")
    parser.add_argument("--repeats", type=int, default=1, help="timing repeats (minimum reported)")
    parser.add_argument("--device", default=None, help='torch device for the Gram matrix, e.g. "cuda"')
    parser.add_argument("--subclasses", type=int, default=4, help="subclasses per superclass")
    parser.add_argument("--sklearn-factor", type=int, default=1, help="factor of the single sklearn fit")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import torch
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import adjusted_rand_score

    from paperlib.cluster import n_clusters_for, ward_labels, ward_tree

    factors = list(range(1, 11))
    ks = n_clusters_for(args.subclasses, factors)
    k0 = args.subclasses * args.sklearn_factor
    rng = np.random.default_rng(args.seed)
    X = rng.standard_normal((args.n, args.d), dtype=np.float32)

    def sync():
        if args.device is not None and str(args.device).startswith("cuda"):
            torch.cuda.synchronize()

    if args.device is not None:  # warm-up: CUDA context, cuBLAS handles
        ward_tree(X[: min(args.n, 8), : min(args.d, 64)], device=args.device)
        sync()

    t_sk, sk = _timed(lambda: AgglomerativeClustering(n_clusters=k0, linkage="ward").fit_predict(X), args.repeats)
    t_tree, _ = _timed(lambda: (ward_tree(X, device=args.device), sync())[0], args.repeats)
    t_all, labels = _timed(lambda: (ward_labels(X, ks, device=args.device), sync())[0], args.repeats)
    agree = adjusted_rand_score(sk, labels[ks.index(k0)])

    print(
        f"data: n={args.n} d={args.d} float32 seed={args.seed}; device={args.device or 'cpu'}; "
        f"torch threads={torch.get_num_threads()}; repeats={args.repeats} (min)"
    )
    rows = [
        (f"sklearn AgglomerativeClustering(ward), one fit, k={k0}", f"{t_sk:9.3f} s"),
        ("ward_tree, one tree", f"{t_tree:9.3f} s"),
        (f"ward_labels, all ten factors (k={ks[0]}..{ks[-1]})", f"{t_all:9.3f} s"),
        ("ratio  all ten factors / one tree", f"{t_all / t_tree:9.3f} x  (goal <= 1.1x)"),
        ("ratio  sklearn one fit / ours all factors", f"{t_sk / t_all:9.3f} x"),
        ("ratio  sklearn ten fits (est. 10 x one) / ours", f"{10 * t_sk / t_all:9.3f} x"),
    ]
    width = max(len(name) for name, _ in rows) + 2
    for name, value in rows:
        print(f"{name + ':':<{width}}{value}")
    print(f"agreement with sklearn at k={k0}: ARI = {agree:.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
