"""Benchmark: paperlib's real training step vs a bare forward + backward + optimizer step.

Measures, side by side in one run, interleaved (A B, then B A, ...), medians over ``--repeats``:

* ``paperlib``: the per-batch sequence of :func:`paperlib.train.train_model`:
  :func:`paperlib.data.iterate_batches` with ``device=`` (seeded order; in-memory uint8 images
  moved to the device, then augmented there; a new epoch's generator every epoch), ``lr_at`` for
  every parameter group, then :func:`paperlib.train.train_step` itself (normalise, channels_last on
  CUDA, forward + loss under bf16 autocast when CUDA and the config's ``amp``, backward, the
  optimizer step, :meth:`paperlib.train.EMA.update`, loss and accuracy kept on the device). The
  model is built by ``train._build``.
* ``bare``: the same model and optimizer (a second instance, same seed), forward + loss +
  backward + ``step`` on normalised float batches pre-staged on the device; no data pipeline,
  no learning-rate update, no EMA, no host synchronisation.

Prints seconds per step and images/s of both and the ratio paperlib / bare.
Goal: ratio <= 1.10x. On CUDA the paperlib images/s is the "ResNet-50 training img/s at 224 px"
number (goal >= 4500 img/s bf16 on one H100): ``--device cuda`` defaults to the ``paper`` profile
(resnet50, 224 px, batch 256, bf16, channels_last, rrc_flip) on ``--synthetic-imagenet`` data,
random uint8 224x224 images pre-staged on the device.

Default (CPU, one torch thread, see ``_benchutil.set_threads``): the ``quick`` profile's ResNet
(``resnet_mini``, width 6, 32 px, batch 128, crop_flip augmentation, SGD) on in-memory synthetic
32 px images, 15 interleaved blocks of 2 steps each; about a minute on 2 CPU cores. A breakdown of
the paperlib step (data, then ``train.train_step``; ``--no-components`` skips it) gives
the same overhead measured within each step, which is steadier on a shared machine.

Usage::

    python bench/bench_train_step.py [--profile quick] [--arch resnet_mini] [--width 6]
        [--batch-size 128] [--steps 2] [--repeats 15] [--device cpu] [--threads 1] [--no-components]
    python bench/bench_train_step.py --device cuda            # paper profile, synthetic ImageNet
"""

from __future__ import annotations

import argparse
import itertools
import time

import _benchutil as bu  # noqa: E402  (puts the repository on sys.path)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from paperlib import config, data, losses, train  # noqa: E402


def make_config(args) -> config.TrainConfig:
    """The TrainConfig of the measured run: the profile's, with the command line's overrides."""
    prof = config.get_profile(args.profile)
    cfg = prof.train_config(args.arch or "resnet")
    changes = {}
    if args.width is not None:
        changes["width"] = args.width
    if args.batch_size is not None:
        changes["batch_size"] = args.batch_size
    if args.image_size is not None:
        changes["image_size"] = args.image_size
    if args.augment is not None:
        changes["augment"] = args.augment
    if args.amp is not None:
        changes["amp"] = args.amp
    if args.synthetic_imagenet:
        changes.setdefault("augment", "rrc_flip")
        changes["dataset"] = "entity13"  # ImageNet normalisation
    return cfg.replace(**changes)


def make_split(cfg: config.TrainConfig, args, device: torch.device) -> tuple[data.Split, np.ndarray, int]:
    """In-memory uint8 training images, their superclass targets and the number of classes."""
    if args.synthetic_imagenet:
        n_classes = 13
        n = args.n_images or 4 * cfg.batch_size
        g = torch.Generator().manual_seed(args.seed)
        side = args.source_size or cfg.image_size
        images = torch.randint(0, 256, (n, 3, side, side), dtype=torch.uint8, generator=g)
        subclass = np.arange(n, dtype=np.int64) % (4 * n_classes)
        targets = subclass // 4
        # Pre-staged on the device: iterate_batches indexes and augments there.
        return data.Split(cfg.dataset, "train", subclass, images=images.to(device)), targets, n_classes
    # Synthetic hierarchical images (as the smoke profile's), 12 subclasses in 4 superclasses; the
    # profile's dataset name is kept so normalize() uses its statistics.
    n_sub = 12
    per = max(1, (args.n_images or 1440) // n_sub)
    subclass = np.repeat(np.arange(n_sub), per).astype(np.int64)
    images = data.synthetic_images(subclass, seed=args.seed + 1, size=cfg.image_size)
    return data.Split(cfg.dataset, "train", subclass, images=images), subclass // 3, 4


def paperlib_batches(cfg: config.TrainConfig, split: data.Split, targets: np.ndarray, device: torch.device):
    """Endless (epoch, i, x, y) from data.iterate_batches, called and seeded per epoch exactly as train.py."""
    for epoch in itertools.count():
        torch.manual_seed(train._epoch_seed(cfg, epoch))
        gen = torch.Generator().manual_seed(train._epoch_seed(cfg, epoch))
        batches = data.iterate_batches(
            split,
            targets,
            batch_size=cfg.batch_size,
            train=True,
            augment=cfg.augment,
            image_size=cfg.image_size,
            generator=gen,
            device=device,
        )
        for i, (x, y) in enumerate(batches):
            yield epoch, i, x, y


class PaperlibStep:
    """train_model's per-batch body, step by step, on the functions train.py calls."""

    def __init__(self, cfg, split, targets, n_classes, device, compile=False):
        self.cfg, self.device = cfg, device
        self.model = train._build(cfg, n_classes, device)
        self.model.train()
        self.net = torch.compile(self.model) if compile else self.model  # as train_model(compile=True)
        self.opt = train._optimizer(cfg, self.model)
        self.ema = train.EMA(self.model, cfg.ema_decay)
        self.loss_fn = losses.get_spec(cfg.loss)  # as train_model: the loss and its parameter penalty
        self.amp = cfg.amp and device.type == "cuda"
        self.steps_per_epoch = max(1, len(split) // cfg.batch_size)
        self.total = cfg.epochs * self.steps_per_epoch
        self.warmup = int(round(cfg.warmup_epochs * self.steps_per_epoch))
        self.batches = paperlib_batches(cfg, split, targets, device)
        self.tot_loss, self.tot_correct, self.tot_n = 0.0, 0, 0  # device tensors after the first step
        self.timers: dict[str, float] = {}

    def _lap(self, name: str, t0: float, timing: bool) -> float:
        if not timing:
            return t0
        bu.sync(self.device)
        t = time.perf_counter()
        self.timers[name] = self.timers.get(name, 0.0) + t - t0
        return t

    def __call__(self, timing: bool = False) -> None:
        cfg, device, opt = self.cfg, self.device, self.opt
        t = time.perf_counter() if timing else 0.0
        epoch, i, x, y = next(self.batches)
        t = self._lap("data: iterate_batches + augment", t, timing)
        step = (epoch * self.steps_per_epoch + i) % max(1, self.total)
        for g in opt.param_groups:
            g["lr"] = train.lr_at(step, self.total, self.warmup, cfg.lr)
        loss, correct = train.train_step(
            self.net, self.model, opt, self.ema, self.loss_fn, x, y, dataset=cfg.dataset, device=device, amp=self.amp
        )
        self.tot_loss += loss * len(y)
        self.tot_correct += correct
        self.tot_n += len(y)
        self._lap("train.train_step (normalise, forward, backward, step, EMA)", t, timing)


class BareStep:
    """Forward + loss + backward + optimizer step on pre-staged normalised device tensors."""

    def __init__(self, cfg, split, targets, n_classes, device, n_staged: int = 2, compile=False):
        self.device = device
        self.model = train._build(cfg, n_classes, device)
        self.model.train()
        self.net = torch.compile(self.model) if compile else self.model
        self.opt = train._optimizer(cfg, self.model)
        self.loss_fn = losses.get_loss(cfg.loss)
        self.amp = cfg.amp and device.type == "cuda"
        staged = []
        for _, _, x, y in itertools.islice(paperlib_batches(cfg, split, targets, device), n_staged):
            x = data.normalize(x.to(device), cfg.dataset)
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            staged.append((x, y.to(device)))
        self.staged = itertools.cycle(staged)

    def __call__(self) -> None:
        x, y = next(self.staged)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            loss = self.loss_fn(self.net(x), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()


def run_steps(fn, n: int, device) -> float:
    bu.sync(device)
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    bu.sync(device)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help='"cpu" (default) or "cuda"')
    p.add_argument(
        "--profile", default=None, help="profile whose ResNet config is measured (default: quick on CPU, paper on CUDA)"
    )
    p.add_argument("--arch", default=None, help="architecture or family (default: the profile's resnet)")
    p.add_argument("--width", type=int, default=None, help="width of a mini model (default: the profile's)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the profile's (quick 128, paper 256)")
    p.add_argument("--image-size", type=int, default=None, help="default: the profile's (32 / 224)")
    p.add_argument("--augment", default=None, choices=["crop_flip", "rrc_flip", "none"], help="default: the profile's")
    p.add_argument("--amp", default=None, action=argparse.BooleanOptionalAction, help="bf16 autocast (CUDA only)")
    p.add_argument(
        "--synthetic-imagenet",
        action="store_true",
        help="random uint8 images pre-staged on the device, rrc_flip, ImageNet normalisation (implied by --profile paper)",
    )
    p.add_argument(
        "--source-size",
        type=int,
        default=None,
        help="side of the synthetic ImageNet images (default: the model's input side, 224; the paper "
        "profile's decode-once cache stores 256)",
    )
    p.add_argument(
        "--n-images",
        type=int,
        default=None,
        help="in-memory training images (default 1440, or 4 batches for synthetic ImageNet)",
    )
    p.add_argument("--steps", type=int, default=None, help="steps per timed block (default 2 CPU, 20 CUDA)")
    p.add_argument(
        "--repeats", type=int, default=None, help="interleaved A/B blocks; medians reported (default 15 CPU, 5 CUDA)"
    )
    p.add_argument(
        "--warmup", type=int, default=None, help="untimed steps of each before timing (default 2 CPU, 5 CUDA)"
    )
    p.add_argument(
        "--components",
        default=True,
        action=argparse.BooleanOptionalAction,
        help="also time the parts of the paperlib step (default on)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default 1 on CPU, see _benchutil.set_threads; 0 = torch's default)",
    )
    p.add_argument(
        "--cudnn-benchmark",
        default=True,
        action=argparse.BooleanOptionalAction,
        help="torch.backends.cudnn.benchmark for both (default on, as train.py on CUDA)",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile both models (train_model(compile=True), paperlib train --compile)",
    )
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    device = train.resolve_device(args.device)
    bu.set_threads(args.threads, device)
    if args.profile is None:
        args.profile = "paper" if device.type == "cuda" else "quick"
    if args.profile == "paper":
        args.synthetic_imagenet = True
    if device.type == "cuda":  # train.py turns cuDNN autotuning on for CUDA
        torch.backends.cudnn.benchmark = args.cudnn_benchmark
    steps = args.steps or (20 if device.type == "cuda" else 2)
    args.repeats = args.repeats or (5 if device.type == "cuda" else 15)
    bu.seed_everything(args.seed)

    cfg = make_config(args)
    split, targets, n_classes = make_split(cfg, args, device)
    A = PaperlibStep(cfg, split, targets, n_classes, device, compile=args.compile)
    B = BareStep(cfg, split, targets, n_classes, device, compile=args.compile)
    amp = cfg.amp and device.type == "cuda"

    print(bu.machine_line())
    print(
        f"config: profile={args.profile} arch={cfg.arch} width={cfg.width} image_size={cfg.image_size} "
        f"batch={cfg.batch_size} augment={cfg.augment} optimizer={cfg.optimizer} amp(bf16)={amp} "
        f"channels_last={device.type == 'cuda'} loss={cfg.loss} compile={args.compile} "
        f"cudnn.benchmark={torch.backends.cudnn.benchmark}"
    )
    print(
        f"data: {len(split)} in-memory uint8 images {tuple(split.images.shape[1:])} on {split.images.device} "
        f"({'random, synthetic ImageNet' if args.synthetic_imagenet else 'synthetic hierarchical'}); "
        f"device={device}; steps/block={steps}, repeats={args.repeats} (interleaved, medians)"
    )

    for _ in range(args.warmup if args.warmup is not None else (5 if device.type == "cuda" else 2)):
        A()
        B()
    ta, tb = [], []
    for r in range(args.repeats):
        order = [("A", A), ("B", B)] if r % 2 == 0 else [("B", B), ("A", A)]
        for name, fn in order:
            (ta if name == "A" else tb).append(run_steps(fn, steps, device) / steps)
    ratios = [a / b for a, b in zip(ta, tb)]
    a, b, ratio = bu.median(ta), bu.median(tb), bu.median(ratios)
    bs = cfg.batch_size
    rows = [
        ("paperlib step (train.py per-batch sequence)", f"{a * 1e3:9.1f} ms/step  {bs / a:9.0f} img/s"),
        ("bare fwd+bwd+step, pre-staged device tensors", f"{b * 1e3:9.1f} ms/step  {bs / b:9.0f} img/s"),
        ("ratio  paperlib / bare (median of per-repeat)", f"{ratio:9.3f} x  (goal <= 1.10x)"),
        ("per-repeat ratios", " ".join(f"{x:.3f}" for x in ratios)),
    ]
    if device.type == "cuda" and cfg.arch == "resnet50" and cfg.image_size == 224:
        rows.append(
            ("ResNet-50 training img/s at 224 px (paperlib)", f"{bs / a:9.0f} img/s  (goal >= 4500 bf16 on one H100)")
        )
    width = max(len(n) for n, _ in rows) + 2
    for n, v in rows:
        print(f"{n + ':':<{width}}{v}")

    breakdown_ratio = None
    if args.components:
        A.timers.clear()
        n = max(steps, 8)
        for _ in range(n):
            A(timing=True)
        total = sum(A.timers.values())
        print(
            f"breakdown of the paperlib step ({n} steps, device synchronised between parts, so the sum "
            f"is a little above the step time):"
        )
        for k, v in A.timers.items():
            print(f"  {k:<62}{v / n * 1e3:9.2f} ms  {100 * v / total:5.1f} %")
        compute = A.timers["train.train_step (normalise, forward, backward, step, EMA)"]
        breakdown_ratio = total / compute
        print(
            f"  => step / its train.train_step part: {breakdown_ratio:.3f} x (the data pipeline's share, measured "
            f"within each step; the A/B ratio above also counts normalise and EMA)"
        )

    bu.emit(
        {
            "name": "train_step",
            "ratio": ratio,
            "goal": 1.10,
            "goal_op": "<=",
            "met": ratio <= 1.10,
            "paperlib_img_s": bs / a,
            "bare_img_s": bs / b,
            "device": str(device),
            "arch": cfg.arch,
            "batch_size": bs,
            "image_size": cfg.image_size,
            "amp": amp,
            "ratio_from_breakdown": breakdown_ratio,
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
