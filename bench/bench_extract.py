"""Benchmark: paperlib.extract.extract at every probe point vs one bare forward pass.

Measures, side by side in one run, interleaved (rotating order), medians over ``--repeats``:

* ``bare``: ``model(x)`` under ``torch.no_grad()`` over the same images, same batch size, on
  normalised float batches pre-staged on the device (bf16 autocast and channels_last on CUDA, as
  extract uses them); nothing is copied back.
* ``extract flatten``: :func:`paperlib.extract.extract` with ``pool="flatten"`` at all probe points
  (hooks, uint8 -> normalised batches via ``data.iterate_batches`` / ``data.normalize``, every
  block's flattened map copied to host numpy and concatenated, logits too);
* ``extract avg``: the same with ``pool="avg"``;
* ``extract flatten_device`` (CUDA only): ``pool="flatten"`` with ``keep="device"``, the embeddings
  left on the GPU as the scoring pipeline leaves them there (``keep="auto"``) for their Gram matrices.

Prints the seconds of each, the ratios extract / bare (goal <= 1.15x for both), the bytes of the
returned embeddings, and the peak memory of each: ``torch.cuda.max_memory_allocated`` on CUDA;
on CPU the growth of the peak resident set size during one call (Linux: the peak is reset through
``/proc/self/clear_refs``, then read with ``resource.getrusage``); ``--no-memory`` skips it.

Default (CPU, one torch thread, see ``_benchutil.set_threads``): the ``quick`` profile's ResNet
(``resnet_mini``, width 6, 32 px) on 500 synthetic 32 px images (one CIFAR-100 superclass's
validation images) in one batch of 500 (quick's ``eval_batch_size``); under a minute on 2 CPU
cores. ``--device cuda`` defaults to the ``paper`` profile: ``resnet50`` at 224 px, bf16, batch
256, on 200 random uint8 images (one entity-13 superclass's validation images, 4 x 50).

Usage::

    python bench/bench_extract.py [--profile quick] [--arch resnet_mini] [--width 6]
        [--n-images 500] [--batch-size 500] [--repeats 5] [--device cpu] [--no-memory]
    python bench/bench_extract.py --device cuda
"""

from __future__ import annotations

import argparse
import gc
import resource

import _benchutil as bu  # noqa: E402  (puts the repository on sys.path)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from paperlib import data, extract, train  # noqa: E402
from paperlib.config import TrainConfig, get_profile  # noqa: E402


def setup(args):
    """Model (eval mode, built as train._build does), the split and the pre-staged bare batches."""
    device = train.resolve_device(args.device)
    bu.set_threads(args.threads, device)
    bu.seed_everything(args.seed)
    prof = get_profile(args.profile or ("paper" if device.type == "cuda" else "quick"))
    arch = prof.arch(args.arch or "resnet")
    width = args.width if args.width is not None else prof.widths.get(arch)
    size = args.image_size or prof.image_size
    args.batch_size = args.batch_size or prof.eval_batch_size
    # one superclass's validation images: CIFAR-100 5 x 100 (quick), entity-13 4 x 50 (paper)
    n = args.n_images or (500 if prof.dataset == "cifar100" else 200 if prof.name == "paper" else 480)
    if size <= 64:  # synthetic hierarchical images, as the smoke profile's validation split
        subclass = np.arange(n, dtype=np.int64) % 12
        images = data.synthetic_images(subclass, seed=args.seed + 2, size=size)
        dataset, n_classes = "synthetic", 4
    else:  # random "ImageNet" images, uint8 on the host
        g = torch.Generator().manual_seed(args.seed)
        images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
        subclass = np.arange(n, dtype=np.int64) % 52
        dataset, n_classes = "entity13", 13
    split = data.Split(dataset, "val", subclass, images=images)
    cfg = TrainConfig(dataset=dataset, arch=arch, width=width, image_size=size, seed=args.seed)
    model = train._build(cfg, n_classes, device).eval()
    amp = args.amp if args.amp is not None else prof.amp
    staged = []
    for i in range(0, n, args.batch_size):
        x = data.normalize(images[i : i + args.batch_size].to(device), dataset)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        staged.append(x)
    return device, model, split, staged, amp, f"{arch} (width {width})" if width else arch, size


def make_runners(args, device, model, split, staged, amp):
    def bare():
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
            for x in staged:
                model(x)
        return None

    def ext(pool, keep="host"):
        return lambda: extract.extract(
            model, split, pool=pool, batch_size=args.batch_size, device=device, amp=amp, keep=keep
        )

    runs = {"bare": bare, "flatten": ext("flatten"), "avg": ext("avg")}
    if device.type == "cuda":
        runs["flatten_device"] = ext("flatten", "device")
    return runs


def _rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmRSS")


def cpu_peak_growth(fn) -> int | None:
    """Growth of the peak resident set during ``fn()``: reset the peak (Linux ``clear_refs`` 5), run,
    read ``ru_maxrss``. None where the peak cannot be reset."""
    gc.collect()
    try:  # give freed heap pages back first, so the baseline is what is really in use
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        before = _rss_bytes()
    except OSError:
        return None
    out = fn()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    del out
    return max(0, peak - before)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help='"cpu" (default) or "cuda"')
    p.add_argument(
        "--profile",
        default=None,
        help="profile whose ResNet and eval batch are used (default quick on CPU, paper on CUDA)",
    )
    p.add_argument("--arch", default=None, help="architecture or family (default: the profile's resnet)")
    p.add_argument("--width", type=int, default=None, help="mini-model width (default: the profile's)")
    p.add_argument("--image-size", type=int, default=None, help="default: the profile's (32 / 224)")
    p.add_argument(
        "--n-images",
        type=int,
        default=None,
        help="default: one superclass's validation images (quick 500, paper 200, smoke 480)",
    )
    p.add_argument(
        "--batch-size", type=int, default=None, help="default: the profile's eval_batch_size (quick 500, paper 256)"
    )
    p.add_argument(
        "--amp",
        default=None,
        action=argparse.BooleanOptionalAction,
        help="bf16 autocast (default: the profile's; CUDA only)",
    )
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds; medians reported")
    p.add_argument("--memory", default=True, action=argparse.BooleanOptionalAction, help="measure peak memory")
    p.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default 1 on CPU; 0 = torch's default)"
    )
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    device, model, split, staged, amp, arch, size = setup(args)
    runs = make_runners(args, device, model, split, staged, amp)
    names = list(runs)
    print(bu.machine_line())
    print(
        f"config: arch={arch} image_size={size} "
        f"images={len(split)} batch={args.batch_size} probe points={len(model.probe_points)} device={device} "
        f"amp(bf16)={amp and device.type == 'cuda'}; repeats={args.repeats} (rotating order, medians)"
    )

    # warm-up (allocator, cuDNN autotuning) and the embedding sizes
    sizes = {}
    for k in names:
        out = runs[k]()
        if out is not None:
            emb, logits = out
            sizes[k] = sum(v.nbytes for v in emb.values()) + logits.nbytes
        del out
    times = {k: [] for k in names}
    for r in range(args.repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for k in order:
            t, out = bu.timed(runs[k], device)
            del out
            times[k].append(t)
    med = {k: bu.median(v) for k, v in times.items()}
    kinds = [k for k in names if k != "bare"]
    ratio = {k: bu.median([a / b for a, b in zip(times[k], times["bare"])]) for k in kinds}

    mem: dict[str, int] = {}
    mem_what = ""
    if args.memory and device.type == "cuda":
        mem_what = "torch.cuda.max_memory_allocated above the allocated baseline"
        for k in names:
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            out = runs[k]()
            torch.cuda.synchronize()
            mem[k] = torch.cuda.max_memory_allocated() - base
            del out
    elif args.memory:
        mem_what = "growth of the peak resident set (ru_maxrss, reset before each call) above the RSS before it"
        for k in names:
            m = cpu_peak_growth(runs[k])
            if m is None:
                mem_what = "skipped: cannot reset the peak RSS here"
                break
            mem[k] = m

    rows = [
        (f"bare model(x), no_grad, {len(split)} images", f"{med['bare']:9.3f} s  {len(split) / med['bare']:9.0f} img/s")
    ]
    for k in kinds:
        rows.append(
            (
                f"extract pool={k}, all {len(model.probe_points)} probe points",
                f"{med[k]:9.3f} s  {len(split) / med[k]:9.0f} img/s  returns {sizes[k] / 2**20:8.1f} MiB",
            )
        )
    for k in kinds:
        rows.append((f"ratio  extract {k} / bare", f"{ratio[k]:9.3f} x  (goal <= 1.15x)"))
    for k in names:
        if k in mem:
            rows.append((f"peak memory {k}", f"{mem[k] / 2**20:9.1f} MiB"))
    width = max(len(n) for n, _ in rows) + 2
    for n, v in rows:
        print(f"{n + ':':<{width}}{v}")
    if mem_what:
        print(f"(peak memory: {mem_what})")

    worst = max(ratio.values())
    bu.emit(
        {
            "name": "extract",
            "ratio": worst,
            **{f"ratio_{k}": v for k, v in ratio.items()},
            "goal": 1.15,
            "goal_op": "<=",
            "met": worst <= 1.15,
            "seconds": med,
            "peak_memory_bytes": mem,
            "device": str(device),
            "arch": arch,
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
