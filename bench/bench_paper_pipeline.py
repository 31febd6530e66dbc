"""Benchmark: the ``paper`` profile end to end on an ImageNet-layout fixture (a short dry run).

What a user of the ``paper`` profile runs, on generated data, timed stage by stage:

1. an ImageNet-layout folder of generated JPEGs for BREEDS ``entity13`` (real wnids, all 260
   subclasses) is written (:func:`paperlib.testing.write_imagenet_fixture`);
2. :func:`paperlib.train.train_model` trains the profile's ResNet-50 (224 px, batch 256, bf16,
   ``rrc_flip``, decode-once cache at 256 px, the profile's decoding workers) for ``--epochs``;
   the per-epoch wall time gives images/s of the *whole* training loop, data included;
3. :func:`paperlib.experiment.run` loads the cached model (trains nothing), extracts every probe
   point of the validation split in one pass, Ward-clusters each superclass at factors 1..10 and
   scores AMI and purity.

The images are colour patches, so the accuracy means nothing; the point is that the path runs on the
device and what each stage costs. Prints one ``RESULT`` line.

Usage::

    python bench/bench_paper_pipeline.py --device cuda [--epochs 3] [--train-per-class 20]
        [--val-per-class 4] [--source-size 96] [--arch resnet] [--no-compile] [--num-workers 8]
    python bench/bench_paper_pipeline.py --device cpu --epochs 1 --train-per-class 1 --val-per-class 2 \\
        --image-size 32 --batch-size 64     # the same code path on a CPU, in about a minute
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _benchutil as bu  # noqa: E402  (puts the repository on sys.path)
import torch  # noqa: E402

from paperlib import config, experiment, testing, train  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--arch", default="resnet", help="family or architecture (default the profile's resnet)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-per-class", type=int, default=20, help="training JPEGs per subclass (260 subclasses)")
    p.add_argument("--val-per-class", type=int, default=4)
    p.add_argument("--source-size", type=int, default=96, help="side of the generated JPEGs")
    p.add_argument("--image-size", type=int, default=None, help="model input side (default the profile's, 224)")
    p.add_argument("--batch-size", type=int, default=None, help="default the profile's, 256")
    p.add_argument("--num-workers", type=int, default=None, help="decoding workers (default the profile's, 8)")
    p.add_argument(
        "--compile",
        default=None,
        action=argparse.BooleanOptionalAction,
        help="train_model(compile=...) (default the profile's: on)",
    )
    p.add_argument("--root", default=None, help="work folder (default a temporary one)")
    p.add_argument(
        "--small",
        action="store_true",
        help="tiny CPU-sized run of the same code path (tests): 1 epoch, 1 training and 1 validation JPEG "
        "per subclass at 40 px, 32 px input, batch 16, no workers, no compilation",
    )
    args = p.parse_args(argv)
    if args.small:
        args.epochs, args.train_per_class, args.val_per_class, args.source_size = 1, 1, 1, 40
        args.image_size, args.batch_size, args.num_workers, args.compile = 32, 16, 0, False
        bu.set_threads(1, args.device)

    over = {"epochs": args.epochs, "warmup_epochs": min(1.0, args.epochs / 2)}
    for k in ("image_size", "batch_size", "num_workers"):
        if getattr(args, k) is not None:
            over[k] = getattr(args, k)
    prof = config.get_profile("paper", **over)
    if args.compile is None:
        args.compile = prof.compile
    print(bu.machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.root or tmp)
        data_root, cache_dir = work / "imagenet", work / "cache"
        t0 = time.perf_counter()
        testing.write_imagenet_fixture(
            data_root, "entity13", {"train": args.train_per_class, "val": args.val_per_class}, size=args.source_size
        )
        t_fixture = time.perf_counter() - t0
        cfg = prof.train_config(args.arch)
        stamps = [time.perf_counter()]
        t0 = time.perf_counter()
        tr = train.train_model(
            cfg,
            data_root=data_root,
            cache_dir=cache_dir,
            device=args.device,
            num_workers=prof.num_workers,
            progress=False,
            compile=args.compile,
            on_epoch_end=lambda e, r: stamps.append(time.perf_counter()),
        )
        t_train = time.perf_counter() - t0
        n_train = 260 * args.train_per_class
        steps = max(1, n_train // cfg.batch_size)
        epoch_s = [b - a for a, b in zip(stamps, stamps[1:])]
        later = epoch_s[1:] or epoch_s
        img_s = steps * cfg.batch_size / (sum(later) / len(later))
        t0 = time.perf_counter()
        scores, acc, _ = experiment.run(
            prof, [args.arch], data_root=data_root, cache_dir=cache_dir, device=args.device, progress=False
        )
        t_eval = time.perf_counter() - t0
        n_layers = scores["layer"].nunique()
        print(
            f"config: {cfg.arch} {cfg.image_size} px, batch {cfg.batch_size}, amp={cfg.amp}, augment={cfg.augment}, "
            f"decode_size={cfg.decode_size}, workers={prof.num_workers}, compile={args.compile}, device={args.device}"
        )
        print(
            f"fixture: {n_train} train + {260 * args.val_per_class} val JPEGs ({args.source_size} px) in {t_fixture:.1f} s"
        )
        print(
            f"train: {args.epochs} epochs x {steps} steps in {t_train:.1f} s; per epoch "
            + " ".join(f"{s:.1f}" for s in epoch_s)
            + f" s (the first includes decode-once and warm-up); later epochs {img_s:.0f} img/s, data included"
        )
        print(
            "history: "
            + "; ".join(f"epoch {h['epoch']} loss {h['loss']:.3f} acc {h['train_acc']:.3f}" for h in tr.history)
        )
        print(
            f"evaluate: {n_layers} probe points x factors 1..10 (load, extract, Ward, scores) in {t_eval:.1f} s; "
            f"validation accuracy {float(acc['accuracy'].iloc[0]):.3f}"
        )
        print(scores[scores.factor == 1][["layer", "ami", "purity"]].to_string(index=False))
        if torch.cuda.is_available():
            print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    bu.emit(
        {
            "name": "paper_pipeline",
            "train_img_s": img_s,
            "train_s": t_train,
            "eval_s": t_eval,
            "epochs": args.epochs,
            "n_train": n_train,
            "layers": int(n_layers),
            "arch": cfg.arch,
            "device": args.device,
            "compile": args.compile,
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
