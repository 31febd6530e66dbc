"""Benchmark: the ``cifar`` profile's training timed per model, on a CIFAR-100 fixture of the real size (issue 22).

CIFAR-100 cannot be fetched where this runs, so :func:`paperlib.testing.write_cifar100_fixture`
writes 50,000 training and 10,000 test images of 32x32 (500 and 100 per fine class, CIFAR-100's
own sizes) in CIFAR-100's own file format (``cifar-100-python/{train,test,meta}``), and
:func:`paperlib.train.train_model` trains each of the profile's models on it (width 64, ViT 256,
batch 256, bf16 on CUDA, the whole training split) for ``--epochs`` epochs. Reported per model: the
seconds of each epoch (the first includes loading and warm-up), the images/s of the later epochs,
and the projection of the profile's full training (its 100 epochs at the later epochs' rate).
Each model's row is appended as one JSON line to ``--out`` as soon as it is done.

``--small``: the same code path on a tiny fixture (2 training and 1 test image per class, width 4,
batch 32, one epoch); seconds on a CPU, for the tests. Its numbers are CPU numbers, not estimates.

Usage::

    python bench/bench_cifar_profile.py --device cuda --out bench/logs/cifar.jsonl [--epochs 2] [--families resnet vit]
    python bench/bench_cifar_profile.py --device cpu --small
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import _benchutil as bu  # noqa: E402  (puts the repository on sys.path)

from paperlib import config, testing, train  # noqa: E402

FAMILIES = ("resnet", "vgg", "vit", "vgg_bn", "vgg_ln")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--small", action="store_true", help="tiny CPU-sized run of the same code path (tests)")
    p.add_argument("--families", nargs="*", default=list(FAMILIES), choices=FAMILIES)
    p.add_argument("--epochs", type=int, default=2, help="epochs timed per model (default 2: the first warms up)")
    p.add_argument("--compile", default=None, action=argparse.BooleanOptionalAction, help="default: the profile's")
    p.add_argument("--root", default=None, help="work folder (default a temporary one)")
    p.add_argument("--out", default=None, help="JSON lines file the rows are appended to")
    args = p.parse_args(argv)

    full = config.get_profile("cifar")
    over = {"epochs": args.epochs, "warmup_epochs": min(1.0, args.epochs / 2)}
    per_class = {"train": 500, "test": 100}
    if args.small:
        over.update(batch_size=32, widths={a: 4 for a in full.widths})
        per_class = {"train": 2, "test": 1}
        args.epochs = over["epochs"] = 1
    prof = config.get_profile("cifar", **over)
    compile_ = prof.compile if args.compile is None else args.compile
    bu.set_threads(1 if args.small else None, args.device)
    print(bu.machine_line(), flush=True)
    card = bu.machine()["cuda_device"] or "CPU"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.root or tmp)
        t0 = time.perf_counter()
        testing.write_cifar100_fixture(work / "data", per_class)
        n_train = 100 * per_class["train"]
        print(
            f"fixture: {n_train} training + {100 * per_class['test']} test images, 32x32, CIFAR-100 format, "
            f"in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        for fam in args.families:
            cfg = prof.train_config(fam)
            stamps = [time.perf_counter()]
            try:
                train.train_model(
                    cfg,
                    data_root=work / "data",
                    cache_dir=work / "cache",
                    device=args.device,
                    num_workers=prof.num_workers,
                    progress=False,
                    compile=compile_,
                    on_epoch_end=lambda e, r, s=stamps: s.append(time.perf_counter()),
                )
            except Exception as e:  # one model failing leaves the others' rows
                row = {"family": fam, "error": f"{type(e).__name__}: {e}"}
            else:
                epoch_s = [b - a for a, b in zip(stamps, stamps[1:])]
                later = epoch_s[1:] or epoch_s
                per_epoch = sum(later) / len(later)
                steps = max(1, n_train // cfg.batch_size)
                row = {
                    "family": fam,
                    "arch": cfg.arch,
                    "width": cfg.width,
                    "batch_size": cfg.batch_size,
                    "amp": cfg.amp,
                    "compile": compile_,
                    "epoch_s": epoch_s,
                    "img_s": steps * cfg.batch_size / per_epoch,
                    "projected_min_full": per_epoch * full.epochs / 60,
                    "full_epochs": full.epochs,
                }
                print(
                    f"{fam:7} {cfg.arch:12} width {cfg.width:4}: epochs "
                    + " ".join(f"{s:.1f}" for s in epoch_s)
                    + f" s; {row['img_s']:.0f} img/s; the profile's {full.epochs} epochs: "
                    f"{row['projected_min_full']:.1f} min{' (CPU, tiny size: not an estimate)' if args.small else ''}",
                    flush=True,
                )
            row.update(card=card, device=args.device, small=args.small, n_train=n_train)
            rows.append(row)
            if "error" in row:
                print(f"{fam:7} ERROR {row['error']}", flush=True)
            if args.out:
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                with open(args.out, "a") as f:
                    f.write(json.dumps(row, sort_keys=True) + "\n")
    bu.emit(
        {
            "name": "cifar_profile",
            "card": card,
            "rows": len(rows),
            "errors": sum("error" in r for r in rows),
            "small": args.small,
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
