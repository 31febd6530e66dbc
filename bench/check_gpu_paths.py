"""Check, on a GPU, that the GPU-only code paths give what their CPU counterparts give.

* :func:`paperlib.extract.extract` with ``keep="device"`` returns the same embeddings as
  ``keep="host"`` (the same forward pass; only where the rows are written differs);
* :func:`paperlib.cluster.ward_labels` on those CUDA tensors (Gram matrix on the GPU) cuts the same
  clusters as on the host copies (Gram matrix by the CPU's BLAS), at every factor, for every probe
  point of the ``paper`` profile's ResNet-50 (random weights, random images: 120 images, 4 x 30).

Prints one line per layer and ``RESULT``; exits 1 on a mismatch. Not a test: tests never need a GPU.

Usage::

    python bench/check_gpu_paths.py [--n 120] [--arch resnet50]
"""

from __future__ import annotations

import argparse

import _benchutil as bu  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from paperlib import cluster, data, extract, models  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=120)
    p.add_argument("--arch", default="resnet50")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    model = models.build_model(args.arch, 13).cuda().eval()
    images = torch.randint(0, 256, (args.n, 3, 224, 224), dtype=torch.uint8)
    split = data.Split("entity13", "val", np.arange(args.n) % 4, images=images)
    kw = dict(pool="flatten", l2_normalize=True, batch_size=50, device="cuda", amp=True)
    dev, _ = extract.extract(model, split, keep="device", **kw)
    host, _ = extract.extract(model, split, keep="host", **kw)
    ks = cluster.n_clusters_for(4, range(1, 11))
    ok = True
    print(bu.machine_line())
    for name in host:
        same_emb = bool(torch.equal(dev[name].cpu(), torch.from_numpy(host[name])))
        lab_gpu = cluster.ward_labels(dev[name], ks)
        lab_cpu = cluster.ward_labels(host[name], ks)
        ari = min(adjusted_rand_score(a, b) for a, b in zip(lab_gpu, lab_cpu))
        ok &= same_emb and ari > 0.999
        print(
            f"{name:<16} dim {host[name].shape[1]:>8}  device == host embeddings: {same_emb}  "
            f"min ARI(GPU Gram, CPU Gram) over factors: {ari:.6f}"
        )
    bu.emit({"name": "gpu_paths", "ok": bool(ok), "layers": len(host), "arch": args.arch})
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
