"""Command line: ``python -m paperlib <command>`` (or the ``paperlib`` script).

Commands share the notebooks' configuration (profiles, cache, data root), so a cluster job needs no
notebook and a notebook never retrains what a job already trained:

``data``   check (and with ``--download``, fetch) the data a profile needs.
``train``  train the models of a grid (cached by configuration; resumes after a kill).
``extract`` train if needed and save validation embeddings of chosen probe points (.npz), in
           float32 unless ``--bf16``.
``score``  train if needed, cluster every layer and write the per-layer scores as CSV.
``report`` the same probe for your own model (paperlib architecture or timm name, optional
           checkpoint) and your own image folder ROOT/<superclass>/<subclass>/*.jpg:
           profile.csv and profile.png (see paperlib.report).
``cache``  ``list`` the cached artifacts (size, age, state, code/data current or stale) or
           ``prune`` them (``--stale``, ``--older-than DAYS``, ``--kind``; ``--dry-run``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# imports nothing: the valid names, for argparse's choices, before torch loads
from . import names

__all__ = ["main", "build_parser"]


def _dataset(value: str) -> str:
    try:
        return names.check("dataset", value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _grid_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="quick", help=f"{', '.join(names.PROFILES)} (default quick)")
    p.add_argument("--arch", nargs="+", default=["resnet"], help="families (resnet, vgg, ...) or architecture names")
    p.add_argument("--hierarchy", nargs="+", default=["standard"], choices=names.LABELS,
                   help="training labels: a hierarchy's superclasses, or subclass (train only: read out of distribution)")
    p.add_argument("--seed", nargs="+", type=int, default=[0])
    p.add_argument("--loss", nargs="+", default=["softmax"], help=f"{', '.join(names.LOSSES)} (default softmax)")
    p.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
    p.add_argument("--dataset", default=None, type=_dataset,
                   help=f"override the profile's dataset: {', '.join(names.DATASETS)}, or {names.FOLDER_PREFIX}ROOT for "
                        "your own ROOT/<superclass>/<subclass>/*.jpg (ROOT/train and ROOT/val if split)")
    p.add_argument("--data-root", default=None, help="data root (default $PAPERLIB_DATA)")
    p.add_argument("--cache-dir", default=None, help="artifact cache (default $PAPERLIB_CACHE)")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m paperlib``."""
    ap = argparse.ArgumentParser(prog="paperlib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="check or download the data of a profile")
    d.add_argument("--profile", default="quick", help=f"{', '.join(names.PROFILES)} (default quick)")
    d.add_argument("--data-root", default=None)
    d.add_argument("--download", action="store_true",
                   help="download what torchvision can (CIFAR-100, and the quick profile's CIFAR-10 and SVHN test sets)")
    d.add_argument("--dataset", default=None, type=_dataset, help="check this dataset instead of the profile's "
                   f"(e.g. {names.FOLDER_PREFIX}ROOT)")

    t = sub.add_parser("train", help="train the models of a grid")
    _grid_args(t)
    t.add_argument("--experiment", default=None,
                   help="train every model of a named paper experiment instead of the grid (see --list-experiments)")
    t.add_argument("--list-experiments", action="store_true", help="print the named experiments and exit")
    t.add_argument("--compile", default=None, action=argparse.BooleanOptionalAction,
                   help="train through torch.compile on CUDA (default: the profile's, on for paper; not part of "
                        "the cache key; see bench/RESULTS.md)")

    e = sub.add_parser("extract", help="validation embeddings of one model at chosen probe points, as .npz")
    _grid_args(e)
    e.add_argument("--layers", nargs="+", default=["penultimate"], help="probe points (default penultimate; 'all' for every one)")
    e.add_argument("--pool", default="avg", choices=names.POOLS, help="default avg (flattened maps are large)")
    e.add_argument("--l2-normalize", action=argparse.BooleanOptionalAction, default=True,
                   help="scale embeddings to unit norm (default, as they are clustered)")
    e.add_argument("--bf16", action="store_true",
                   help="bf16 autocast on CUDA (default: float32, as the authors; training's bf16 is not used)")
    e.add_argument("--out", required=True, help=".npz file: one array per layer, plus subclass and superclass labels")

    s = sub.add_parser("score", help="per-layer AMI and purity of the models of a grid, as CSV")
    _grid_args(s)
    s.add_argument("--factors", nargs="+", type=int, default=list(range(1, 11)))
    s.add_argument("--pool", default="flatten", choices=names.POOLS)
    s.add_argument("--l2-normalize", action=argparse.BooleanOptionalAction, default=True,
                   help="scale embeddings to unit norm before clustering (default; the paper's choice)")
    s.add_argument("--out", default="-", help="CSV file (default stdout)")

    r = sub.add_parser("report", help="per-layer clustering profile of your own model on your own image folder",
                       description="Cluster every probe point of a model within each superclass of a two-level "
                                   "image folder ROOT/<superclass>/<subclass>/*.{jpg,jpeg,png} (Ward, "
                                   "subclasses x factor clusters) and score against the subclasses (AMI, purity).")
    r.add_argument("--model", required=True, help="a paperlib architecture (resnet_mini, resnet50, ...) or a timm model name")
    r.add_argument("--checkpoint", default=None, help="state dict / checkpoint file to load (default: random weights)")
    r.add_argument("--trust-checkpoint", action="store_true",
                   help="allow a checkpoint that is not plain tensor data to be unpickled in full (can run code)")
    r.add_argument("--skip-bad-images", action="store_true",
                   help="skip image files that cannot be decoded (default: stop and list them)")
    r.add_argument("--folder", required=True, help="ROOT of ROOT/<superclass>/<subclass>/<image>")
    r.add_argument("--factors", nargs="+", type=int, default=[1, 3, 5], help="overclustering factors (default 1 3 5)")
    r.add_argument("--pool", default="flatten", choices=names.POOLS)
    r.add_argument("--l2-normalize", action=argparse.BooleanOptionalAction, default=True,
                   help="scale embeddings to unit norm before clustering (default; the paper's choice)")
    r.add_argument("--layers", nargs="+", default=None, help="probe points to score (default all)")
    r.add_argument("--image-size", type=int, default=None,
                   help="input side (default: the model's own, e.g. 224, or 32 for the mini models)")
    r.add_argument("--batch-size", type=int, default=64)
    r.add_argument("--max-per-subclass", type=int, default=None, help="use at most N images per subclass")
    r.add_argument("--num-workers", type=int, default=0, help="image decoding workers")
    r.add_argument("--out-dir", required=True, help="output folder for profile.csv and profile.png")
    r.add_argument("--device", default="auto")
    r.add_argument("--no-progress", action="store_true")
    c = sub.add_parser("cache", help="list or prune the artifact cache")
    csub = c.add_subparsers(dest="action", required=True)
    for name, text in (("list", "one row per cached artifact"), ("prune", "remove stale or old artifacts")):
        a = csub.add_parser(name, help=text)
        a.add_argument("--cache-dir", default=None, help="artifact cache (default $PAPERLIB_CACHE)")
        a.add_argument("--data-root", default=None, help="data root, to check data identities (default $PAPERLIB_DATA)")
        a.add_argument("--kind", nargs="+", default=None, choices=names.ARTIFACT_KINDS)
        a.add_argument("--check-data", action=argparse.BooleanOptionalAction, default=None,
                       help="compare data identities for every dataset (default: only synthetic and CIFAR-100)")
    lst = csub.choices["list"]
    lst.add_argument("--verify", action="store_true", help="check every file's checksum (reads them all)")
    pr = csub.choices["prune"]
    pr.add_argument("--stale", action="store_true", help="entries of another code version or data identity")
    pr.add_argument("--older-than", type=float, default=None, metavar="DAYS", help="entries not written for DAYS days")
    pr.add_argument("--dry-run", action="store_true", help="print what would be removed, remove nothing")
    return ap


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _age(days: float) -> str:
    return f"{days * 24 * 60:.0f} min" if days < 1 / 24 else f"{days * 24:.1f} h" if days < 2 else f"{days:.0f} d"


def _cache(args) -> int:
    from . import inventory

    if args.action == "list":
        rows = inventory.entries(args.cache_dir, kinds=tuple(args.kind or names.ARTIFACT_KINDS), verify=args.verify,
                                 check_data=args.check_data, data_root=args.data_root)
        print(f"{'kind':8} {'key':16} {'size':>9} {'age':>8} {'state':8} {'code':7} {'data':7} summary")
        for e in rows:
            print(f"{e.kind:8} {e.key:16} {_size(e.bytes):>9} {_age(e.age_days):>8} {e.state:8} {e.code:7} {e.data:7} "
                  f"{e.summary}")
        stale = [e for e in rows if e.stale]
        print(f"{len(rows)} entries, {_size(sum(e.bytes for e in rows))}; {len(stale)} stale "
              f"({_size(sum(e.bytes for e in stale))})")
        return 0
    gone = inventory.prune(args.cache_dir, stale=args.stale, older_than=args.older_than, kinds=args.kind,
                           dry_run=args.dry_run, check_data=args.check_data, data_root=args.data_root)
    verb = "would remove" if args.dry_run else "removed"
    for e in gone:
        print(f"{verb} {e.kind}/{e.key} ({_size(e.bytes)}, {e.code} code, {e.data} data): {e.summary}")
    print(f"{verb} {len(gone)} entries, {'would free' if args.dry_run else 'freed'} {_size(sum(e.bytes for e in gone))}")
    return 0


def _report(args) -> int:
    from . import report

    report.report(
        args.model, args.folder, checkpoint=args.checkpoint, factors=args.factors, pool=args.pool,
        image_size=args.image_size, batch_size=args.batch_size, max_per_subclass=args.max_per_subclass,
        out_dir=args.out_dir, device=args.device, layers=args.layers, l2_normalize=args.l2_normalize,
        num_workers=args.num_workers, progress=not args.no_progress,
        trust_checkpoint=args.trust_checkpoint, skip_bad_images=args.skip_bad_images,
    )
    return 0


def _extract(args, prof, cfg) -> int:
    from . import cache, experiment, extract, train

    layers = None if args.layers == ["all"] else args.layers
    extract.resolve_layers(cfg.arch, layers)  # before any training: at paper scale a model is 400 epochs away
    if Path(args.out).suffix != ".npz":
        raise ValueError(f"--out must end in .npz, got {args.out}")
    tr = train.train_model(cfg, data_root=args.data_root, cache_dir=args.cache_dir, device=args.device,
                           num_workers=prof.num_workers, progress=not args.no_progress, compile=prof.compile)
    split = experiment.validation_split(cfg.dataset, prof.val_per_subclass, cfg.decode_size, args.data_root,
                                        args.cache_dir, progress=not args.no_progress, num_workers=prof.num_workers)
    emb, logits = extract.extract(tr.model, split, layers=layers, pool=args.pool, l2_normalize=args.l2_normalize,
                                  batch_size=prof.eval_batch_size, image_size=cfg.image_size,
                                  device=train.resolve_device(args.device), amp=args.bf16, num_workers=prof.num_workers)
    sup = tr.hierarchy.superclass_labels(split.subclass)
    out = {f"layer/{k}": v for k, v in emb.items()}
    out.update(subclass=split.subclass, superclass=sup, logits=logits)
    path = Path(args.out)
    cache.save(path, out)
    print(f"{len(split)} images, layers {list(emb)} -> {path}")
    return 0


def _profile(args):
    from . import config

    over = {"epochs": args.epochs} if getattr(args, "epochs", None) is not None else {}
    if getattr(args, "dataset", None) is not None:
        over["dataset"] = args.dataset
    return config.get_profile(args.profile, **over)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    from . import config  # no torch: profile names and values are checked in a fraction of a second

    try:
        if args.command == "report":
            return _report(args)
        if args.command == "cache":
            return _cache(args)
        prof = _profile(args)
        from . import data, experiment, train
        if args.command == "data":
            root = data.ensure_data(prof.dataset, args.data_root, download=args.download)
            print(f"{prof.dataset}: ready under {root}" if prof.dataset != "synthetic" else "synthetic: made in code, nothing to fetch")
            if args.dataset is None:  # the profile's own data: also its out-of-distribution sets
                for name in prof.ood_sets:
                    data.ensure_ood(name, args.data_root, download=args.download)
                    print(f"{name} (out of distribution): ready" + ("" if name == "synthetic_ood" else
                                                                     f" under {config.data_root(args.data_root)}"))
            return 0
        if getattr(args, "list_experiments", False):
            for name in sorted(config.EXPERIMENTS):
                print(f"{name}: {len(config.experiment_configs(prof, name))} models at profile {prof.name}")
            return 0
        if getattr(args, "experiment", None):
            cfgs = config.experiment_configs(prof, args.experiment)
        else:
            cfgs = [prof.train_config(a, hierarchy=h, seed=s, loss=l)
                    for a in args.arch for h in args.hierarchy for s in args.seed for l in args.loss]
        experiment.validate_grid(cfgs, args.data_root)
        if args.command == "extract":
            if len(cfgs) != 1:
                raise ValueError(f"extract takes one model; the grid names {len(cfgs)}")
            return _extract(args, prof, cfgs[0])
        if args.command == "train":
            for cfg in cfgs:
                tr = train.train_model(cfg, data_root=args.data_root, cache_dir=args.cache_dir, device=args.device,
                                       num_workers=prof.num_workers, progress=not args.no_progress,
                                       compile=prof.compile if args.compile is None else args.compile)
                print(f"{cfg.arch} {cfg.hierarchy} seed {cfg.seed} {cfg.loss}: {tr.path}")
            return 0
        scores, acc, _ = experiment.run(
            prof, args.arch, hierarchies=args.hierarchy, seeds=args.seed, losses=args.loss, factors=args.factors,
            pool=args.pool, l2_normalize=args.l2_normalize, data_root=args.data_root, cache_dir=args.cache_dir,
            device=args.device, progress=not args.no_progress,
        )
        out = sys.stdout if args.out == "-" else open(Path(args.out), "w")
        scores.to_csv(out, index=False)
        for r in acc.itertuples():
            print(f"superclass accuracy {r.arch} {r.hierarchy} seed {r.seed}: {r.accuracy:.3f}", file=sys.stderr)
        return 0
    except (ValueError, FileNotFoundError) as exc:
        print(f"paperlib: error: {exc}", file=sys.stderr)
        return 2
