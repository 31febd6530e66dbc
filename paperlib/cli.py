"""Command line: python -m paperlib COMMAND (or the paperlib script).

Commands share the notebooks' configuration (profiles, cache, data root), so a cluster job needs no
notebook and a notebook never retrains what a job already trained:

  data      check (and with --download, fetch) the data a profile needs.
  train     train the models of a grid (cached by configuration; resumes after a kill); with
            --launcher slurm|local as one job per model (a SLURM job array, or local processes,
            through submitit; see paperlib.launch), each scored after training.
  status    per model of a grid or --experiment: cached, running, queued, failed or missing.
  extract   train if needed and save validation embeddings of chosen probe points (.npz), in
            float32 unless --bf16.
  score     train if needed, cluster every layer and write the per-layer scores as CSV.
  report    the same probe for your own model (paperlib architecture or timm name, optional
            checkpoint) and your own image folder ROOT/<superclass>/<subclass>/*.jpg:
            profile.csv and profile.png (see paperlib.report).
  cache     list the cached artifacts (size, age, state, code/data current or stale) or
            prune them (--stale, --older-than DAYS, --kind; --dry-run).

This text is the top-level --help, so it is plain text, not reStructuredText.
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


_DEVICE_HELP = "cuda, cuda:N, mps or cpu (default auto: CUDA, then Apple's MPS, then the CPU)"
_NO_PROGRESS_HELP = "no progress bars (for logs and batch jobs)"
_POOL_HELP = "how a convolutional map becomes one vector: {} (default {})"
_L2_HELP = "scale embeddings to unit norm before clustering (default; the paper's choice)"


def _grid_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="quick", help=f"{', '.join(names.PROFILES)} (default quick)")
    p.add_argument("--arch", nargs="+", default=["resnet"], help="families (resnet, vgg, ...) or architecture names")
    p.add_argument(
        "--hierarchy",
        nargs="+",
        default=["standard"],
        choices=names.LABELS,
        help="training labels: a hierarchy's superclasses, or subclass (train only: read out of distribution)",
    )
    p.add_argument("--seed", nargs="+", type=int, default=[0], help="training seeds, one model each (default 0)")
    p.add_argument("--loss", nargs="+", default=["softmax"], help=f"{', '.join(names.LOSSES)} (default softmax)")
    p.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
    p.add_argument(
        "--dataset",
        default=None,
        type=_dataset,
        help=f"override the profile's dataset: {', '.join(names.DATASETS)}, or {names.FOLDER_PREFIX}ROOT for "
        "your own ROOT/<superclass>/<subclass>/*.jpg (ROOT/train and ROOT/val if split)",
    )
    p.add_argument("--data-root", default=None, help="data root (default $PAPERLIB_DATA)")
    p.add_argument("--cache-dir", default=None, help="artifact cache (default $PAPERLIB_CACHE)")
    p.add_argument("--device", default="auto", help=_DEVICE_HELP)
    p.add_argument("--no-progress", action="store_true", help=_NO_PROGRESS_HELP)
    p.add_argument(
        "--skip-bad-images",
        action="store_true",
        help=f"with {names.FOLDER_PREFIX}ROOT: leave out image files that cannot be decoded (default: stop "
        "before any training and list them); they are then no part of the data's identity",
    )


def _experiment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--experiment",
        action="append",
        default=None,
        metavar="NAME",
        help="every model of a named paper experiment instead of the grid (repeatable; see --list-experiments)",
    )
    p.add_argument("--list-experiments", action="store_true", help="print the named experiments and exit")


def _slurm_extra(unknown: list[str]) -> tuple[tuple[str, object], ...]:
    """``--slurm-NAME VALUE`` / ``--slurm-NAME=VALUE`` / ``--slurm-NAME`` -> ``(("NAME", VALUE or True), ...)``."""
    out, i = [], 0
    while i < len(unknown):
        arg = unknown[i]
        if not arg.startswith("--slurm-") or len(arg) <= len("--slurm-"):
            raise ValueError(f"unrecognized argument {arg!r} (only train takes further --slurm-NAME options)")
        name, eq, value = arg[len("--slurm-") :].partition("=")
        if not eq:
            if i + 1 < len(unknown) and not unknown[i + 1].startswith("--"):
                value, i = unknown[i + 1], i + 1
            else:
                value = True
        out.append((name, value))
        i += 1
    return tuple(out)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m paperlib``."""
    from . import __version__

    ap = argparse.ArgumentParser(
        prog="paperlib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="check or download the data of a profile")
    d.add_argument("--profile", default="quick", help=f"{', '.join(names.PROFILES)} (default quick)")
    d.add_argument("--data-root", default=None, help="data root (default $PAPERLIB_DATA)")
    d.add_argument(
        "--download",
        action="store_true",
        help="download what torchvision can (CIFAR-100, and the quick profile's CIFAR-10 and SVHN test sets)",
    )
    d.add_argument(
        "--dataset",
        default=None,
        type=_dataset,
        help=f"check this dataset instead of the profile's (e.g. {names.FOLDER_PREFIX}ROOT)",
    )
    d.add_argument(
        "--skip-bad-images",
        action="store_true",
        help=f"with {names.FOLDER_PREFIX}ROOT: leave out image files that cannot be decoded, as train does "
        "(default: list them and stop)",
    )

    t = sub.add_parser(
        "train",
        help="train the models of a grid (here, or as jobs: --launcher)",
        epilog="Further #SBATCH options pass through as --slurm-NAME VALUE (or --slurm-NAME for a "
        "flag), e.g. --slurm-constraint a100 --slurm-mail-type END.",
    )
    _grid_args(t)
    _experiment_args(t)
    t.add_argument(
        "--compile",
        default=None,
        action=argparse.BooleanOptionalAction,
        help="train through torch.compile on CUDA (default: the profile's, on for paper; not part of "
        "the cache key; see bench/RESULTS.md)",
    )
    j = t.add_argument_group(
        "jobs",
        "with --launcher, one job per model not cached yet (see paperlib.launch); "
        "each job trains its model, resuming from its last epoch checkpoint after a "
        "preemption or time limit, then scores it",
    )
    j.add_argument(
        "--launcher",
        default=None,
        choices=names.LAUNCHERS,
        help="slurm: one SLURM job array through submitit (returns once submitted); local: submitit's "
        "local executor, parallel processes on this machine (waits for them). Default: train here, "
        "one model after another",
    )
    j.add_argument(
        "--job-dir", default=None, help="submitit's folder for logs and pickles (default <cache>/jobs/submitit)"
    )
    j.add_argument("--partition", default=None, help="SLURM partition (default: the cluster's default)")
    j.add_argument("--account", default=None, help="SLURM account to charge (default: yours)")
    j.add_argument("--qos", default=None, help="SLURM quality of service (default: the account's)")
    j.add_argument("--nodes", type=int, default=1, help="nodes per model (DDP across them; default 1)")
    j.add_argument(
        "--gpus-per-node",
        type=int,
        default=None,
        help="GPUs per node, one DDP rank each (default 1 for slurm, 0 for local)",
    )
    j.add_argument(
        "--cpus-per-task",
        type=int,
        default=None,
        help="CPU cores per task (default 8 for slurm; local: this machine's cores / --parallel)",
    )
    j.add_argument("--mem-gb", type=float, default=None, help="memory per node in GB (default: the partition's)")
    j.add_argument(
        "--time-min",
        type=int,
        default=24 * 60,
        help="time limit per job in minutes (default 1440); a job reaching it is requeued and resumes",
    )
    j.add_argument(
        "--parallel",
        type=int,
        default=None,
        help="at most this many jobs at once (slurm: --array=0-N%%P, default 256; local: processes, default 2)",
    )
    j.add_argument(
        "--signal-delay-s",
        type=int,
        default=120,
        help="seconds between the preemption/time-limit signal and the kill (default 120)",
    )
    j.add_argument(
        "--setup",
        action="append",
        default=[],
        help="a shell line the job runs first (repeatable), e.g. 'source .venv/bin/activate'",
    )
    j.add_argument("--no-score", action="store_true", help="train only; do not score the models in their jobs")
    j.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be submitted (for slurm, the sbatch script) and submit nothing",
    )

    st = sub.add_parser("status", help="per model of a grid: cached, running, queued, failed or missing")
    _grid_args(st)
    _experiment_args(st)

    e = sub.add_parser("extract", help="validation embeddings of one model at chosen probe points, as .npz")
    _grid_args(e)
    e.add_argument(
        "--layers",
        nargs="+",
        default=["penultimate"],
        help="probe points (default penultimate, as every layer's embeddings are large on disk; 'all' for every one)",
    )
    e.add_argument(
        "--pool",
        default="avg",
        choices=names.POOLS,
        help=_POOL_HELP.format(", ".join(names.POOLS), "avg") + "; flattened maps are large on disk; "
        "score and report cluster the flattened maps, as the paper does",
    )
    e.add_argument(
        "--l2-normalize",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="scale embeddings to unit norm (default, as they are clustered)",
    )
    e.add_argument(
        "--bf16",
        action="store_true",
        help="bf16 autocast on CUDA (default: float32, as the authors; training's bf16 is not used)",
    )
    e.add_argument("--out", required=True, help=".npz file: one array per layer, plus subclass and superclass labels")

    s = sub.add_parser("score", help="per-layer AMI and purity of the models of a grid, as CSV")
    _grid_args(s)
    # 1..10 is experiment.ALL_FACTORS (not imported: it would load torch), what every cluster job scores and
    # the cache holds; a subset is read out of that entry, so the default costs no more than fewer factors
    s.add_argument(
        "--factors",
        nargs="+",
        type=int,
        default=list(range(1, 11)),
        help="overclustering factors: subclasses x factor clusters per superclass (default 1 to 10, "
        "every factor the cluster jobs score and cache; report's default is 1 3 5)",
    )
    s.add_argument(
        "--pool", default="flatten", choices=names.POOLS, help=_POOL_HELP.format(", ".join(names.POOLS), "flatten")
    )
    s.add_argument("--l2-normalize", action=argparse.BooleanOptionalAction, default=True, help=_L2_HELP)
    s.add_argument("--out", default="-", help="CSV file (default stdout)")

    r = sub.add_parser(
        "report",
        help="per-layer clustering profile of your own model on your own image folder",
        description="Cluster every probe point of a model within each superclass of a two-level "
        "image folder ROOT/<superclass>/<subclass>/*.{jpg,jpeg,png} (Ward, "
        "subclasses x factor clusters) and score against the subclasses (AMI, purity).",
    )
    r.add_argument(
        "--model", required=True, help="a paperlib architecture (resnet_mini, resnet50, ...) or a timm model name"
    )
    r.add_argument("--checkpoint", default=None, help="state dict / checkpoint file to load (default: random weights)")
    r.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="allow a checkpoint that is not plain tensor data to be unpickled in full (can run code)",
    )
    r.add_argument(
        "--skip-bad-images",
        action="store_true",
        help="skip image files that cannot be decoded (default: stop and list them)",
    )
    r.add_argument("--folder", required=True, help="ROOT of ROOT/<superclass>/<subclass>/<image>")
    r.add_argument(
        "--factors",
        nargs="+",
        type=int,
        default=[1, 3, 5],
        help="overclustering factors (default 1 3 5, unlike score's 1 to 10: nothing of your model is "
        "cached, every factor is computed anew, and profile.png draws one line per factor)",
    )
    r.add_argument(
        "--pool", default="flatten", choices=names.POOLS, help=_POOL_HELP.format(", ".join(names.POOLS), "flatten")
    )
    r.add_argument("--l2-normalize", action=argparse.BooleanOptionalAction, default=True, help=_L2_HELP)
    r.add_argument(
        "--layers",
        nargs="+",
        default=None,
        help="probe points to score (default all: the report is a per-layer profile)",
    )
    r.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="input side (default: the model's own, e.g. 224, or 32 for the mini models)",
    )
    r.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default 64)")
    r.add_argument("--max-per-subclass", type=int, default=None, help="use at most N images per subclass")
    r.add_argument("--num-workers", type=int, default=0, help="image decoding workers")
    r.add_argument("--out-dir", required=True, help="output folder for profile.csv and profile.png")
    r.add_argument("--device", default="auto", help=_DEVICE_HELP)
    r.add_argument("--no-progress", action="store_true", help=_NO_PROGRESS_HELP)
    c = sub.add_parser("cache", help="list or prune the artifact cache")
    csub = c.add_subparsers(dest="action", required=True)
    for name, text in (("list", "one row per cached artifact"), ("prune", "remove stale or old artifacts")):
        a = csub.add_parser(name, help=text)
        a.add_argument("--cache-dir", default=None, help="artifact cache (default $PAPERLIB_CACHE)")
        a.add_argument("--data-root", default=None, help="data root, to check data identities (default $PAPERLIB_DATA)")
        a.add_argument(
            "--kind",
            nargs="+",
            default=None,
            choices=names.ARTIFACT_KINDS,
            help=f"only these kinds of artifact: {', '.join(names.ARTIFACT_KINDS)} (default all)",
        )
        a.add_argument(
            "--check-data",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="compare data identities for every dataset (default: only synthetic and CIFAR-100)",
        )
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
        rows = inventory.entries(
            args.cache_dir,
            kinds=tuple(args.kind or names.ARTIFACT_KINDS),
            verify=args.verify,
            check_data=args.check_data,
            data_root=args.data_root,
        )
        print(f"{'kind':8} {'key':16} {'size':>9} {'age':>8} {'state':8} {'code':7} {'data':7} summary")
        for e in rows:
            print(
                f"{e.kind:8} {e.key:16} {_size(e.bytes):>9} {_age(e.age_days):>8} {e.state:8} {e.code:7} {e.data:7} "
                f"{e.summary}"
            )
        stale = [e for e in rows if e.stale]
        print(
            f"{len(rows)} entries, {_size(sum(e.bytes for e in rows))}; {len(stale)} stale "
            f"({_size(sum(e.bytes for e in stale))})"
        )
        return 0
    gone = inventory.prune(
        args.cache_dir,
        stale=args.stale,
        older_than=args.older_than,
        kinds=args.kind,
        dry_run=args.dry_run,
        check_data=args.check_data,
        data_root=args.data_root,
    )
    verb = "would remove" if args.dry_run else "removed"
    for e in gone:
        print(f"{verb} {e.kind}/{e.key} ({_size(e.bytes)}, {e.code} code, {e.data} data): {e.summary}")
    for e, why in gone.skipped:
        print(f"skipped {e.kind}/{e.key} ({why}): {e.summary}")
    for e, why in gone.failed:
        print(f"could not remove {e.kind}/{e.key}: {why}", file=sys.stderr)
    print(
        f"{verb} {len(gone)} entries, {'would free' if args.dry_run else 'freed'} {_size(sum(e.bytes for e in gone))}"
        + (f"; {len(gone.skipped)} in use, kept" if gone.skipped else "")
    )
    if gone.failed:
        print(
            f"paperlib: error: {len(gone.failed)} entries could not be removed (is the cache read-only?)",
            file=sys.stderr,
        )
        return 1
    return 0


def _report(args) -> int:
    from . import report

    report.report(
        args.model,
        args.folder,
        checkpoint=args.checkpoint,
        factors=args.factors,
        pool=args.pool,
        image_size=args.image_size,
        batch_size=args.batch_size,
        max_per_subclass=args.max_per_subclass,
        out_dir=args.out_dir,
        device=args.device,
        layers=args.layers,
        l2_normalize=args.l2_normalize,
        num_workers=args.num_workers,
        progress=not args.no_progress,
        trust_checkpoint=args.trust_checkpoint,
        skip_bad_images=args.skip_bad_images,
    )
    return 0


def _extract(args, prof, cfg) -> int:
    from . import cache, experiment, extract, train

    layers = None if args.layers == ["all"] else args.layers
    extract.resolve_layers(cfg.arch, layers)  # before any training: at paper scale a model is 400 epochs away
    if Path(args.out).suffix != ".npz":
        raise ValueError(f"--out must end in .npz, got {args.out}")
    tr = train.train_model(
        cfg,
        data_root=args.data_root,
        cache_dir=args.cache_dir,
        device=args.device,
        num_workers=prof.num_workers,
        progress=not args.no_progress,
        compile=prof.compile,
    )
    split = experiment.validation_split(
        cfg.dataset,
        prof.val_per_subclass,
        cfg.decode_size,
        args.data_root,
        args.cache_dir,
        progress=not args.no_progress,
        num_workers=prof.num_workers,
    )
    emb, logits = extract.extract(
        tr.model,
        split,
        layers=layers,
        pool=args.pool,
        l2_normalize=args.l2_normalize,
        batch_size=prof.eval_batch_size,
        image_size=cfg.image_size,
        device=train.resolve_device(args.device),
        amp=args.bf16,
        num_workers=prof.num_workers,
    )
    sup = tr.hierarchy.superclass_labels(split.subclass)
    out = {f"layer/{k}": v for k, v in emb.items()}
    out.update(subclass=split.subclass, superclass=sup, logits=logits)
    path = Path(args.out)
    cache.save(path, out)
    print(f"{len(split)} images, layers {list(emb)} -> {path}")
    return 0


def _overrides(args) -> dict:
    over = {"epochs": args.epochs} if getattr(args, "epochs", None) is not None else {}
    if getattr(args, "dataset", None) is not None:
        over["dataset"] = args.dataset
    return over


def _profile(args):
    from . import config

    return config.get_profile(args.profile, **_overrides(args))


def _launch(args, prof, cfgs, extra) -> int:
    """``train --launcher``: one job per model not cached yet (paperlib.launch)."""
    import os

    from . import launch

    local = args.launcher == "local"
    parallel = args.parallel or (2 if local else 256)
    gpus = args.gpus_per_node if args.gpus_per_node is not None else (0 if local else 1)
    cpus = args.cpus_per_task or (max(1, (os.cpu_count() or 1) // parallel) if local else 8)
    res = launch.Resources(
        partition=args.partition,
        nodes=args.nodes,
        gpus_per_node=gpus,
        cpus_per_task=cpus,
        mem_gb=args.mem_gb,
        time_min=args.time_min,
        account=args.account,
        qos=args.qos,
        array_parallelism=parallel,
        signal_delay_s=args.signal_delay_s,
        extra=extra,
        setup=tuple(args.setup),
    )
    score = not args.no_score
    todo = launch.pending(
        cfgs, prof.name, _overrides(args), cache_dir=args.cache_dir, data_root=args.data_root, score=score
    )
    print(
        f"{len(cfgs)} models, {len(cfgs) - len(todo)} cached{'' if score else ' (trained)'}, "
        f"{len(todo)} to {'submit' if not args.dry_run else 'submit (dry run: nothing is submitted)'}"
    )
    if args.dry_run:
        if not local and todo:
            print(launch.sbatch_script(todo, res, cache_dir=args.cache_dir, job_dir=args.job_dir))
        for c in todo:
            print(f"  {c.arch} {c.dataset}/{c.hierarchy} seed {c.seed} {c.loss}")
        return 0
    jobs = launch.submit(
        cfgs,
        prof.name,
        launcher=args.launcher,
        resources=res,
        overrides=_overrides(args),
        cache_dir=args.cache_dir,
        data_root=args.data_root,
        job_dir=args.job_dir,
        score=score,
        device=args.device,
        compile=args.compile,
        progress=not args.no_progress,
    )
    for j in jobs:
        print(f"job {j.job_id}: log {j.paths.stderr}")
    if local:
        rows = launch.status(cfgs, prof.name, _overrides(args), cache_dir=args.cache_dir, data_root=args.data_root)
        print(launch.status_table(rows))
        return 0 if all(r.state == "cached" for r in rows) else 1
    print(f"submitted {len(jobs)} jobs; follow them with: python -m paperlib status (same grid arguments)")
    return 0


def _grid(args, prof) -> list:
    """The models the command line names: ``--experiment`` (each model once), else every combination
    of ``--arch``, ``--hierarchy``, ``--seed`` and ``--loss``. Needs no torch."""
    from . import config

    if getattr(args, "experiment", None):
        cfgs = []
        for name in args.experiment:
            cfgs += [c for c in config.experiment_configs(prof, name) if c not in cfgs]
        return cfgs
    return [
        prof.train_config(a, hierarchy=h, seed=s, loss=loss)
        for a in args.arch
        for h in args.hierarchy
        for s in args.seed
        for loss in args.loss
    ]


#: Options that name a folder (made if missing), checked before any work: a file there is an error.
_FOLDER_OPTIONS = ("cache_dir", "data_root", "out_dir", "job_dir")


def _check_folders(args) -> None:
    """Raise ``ValueError`` if an option of :data:`_FOLDER_OPTIONS` names an existing file."""
    for attr in _FOLDER_OPTIONS:
        value = getattr(args, attr, None)
        if value and Path(value).expanduser().exists() and not Path(value).expanduser().is_dir():
            raise ValueError(f"--{attr.replace('_', '-')} {value} is a file; name a folder (it is made if missing)")


def _os_error(exc: OSError) -> str:
    """One line for an ``OSError``: what went wrong, where, and what to check."""
    where = f": {exc.filename}" if exc.filename else ""
    what = exc.strerror or str(exc)
    return (
        f"{what}{where} (check that the folders given, --cache-dir, --data-root, --out-dir or the dataset's, "
        "exist where needed and can be read and written)"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and not (args.command == "train" and args.launcher == "slurm"):
        parser.error(
            f"unrecognized arguments: {' '.join(unknown)}"
            + (
                " (--slurm-NAME options go with train --launcher slurm)"
                if any(u.startswith("--slurm-") for u in unknown)
                else ""
            )
        )
    from . import config  # no torch: profile names and values are checked in a fraction of a second

    try:
        _check_folders(args)
        if args.command == "report":
            return _report(args)
        if args.command == "cache":
            return _cache(args)
        prof = _profile(args)
        # the grid before torch loads: an unknown --arch, --loss or --experiment is refused at once
        cfgs = None if args.command == "data" or getattr(args, "list_experiments", False) else _grid(args, prof)
        if getattr(args, "skip_bad_images", False):
            from .data import folder

            folder.set_skip_bad_images(True)  # before the folder is read; the jobs it starts inherit it
        from . import data, experiment, train

        if args.command == "data":
            root = data.ensure_data(prof.dataset, args.data_root, download=args.download)
            print(
                f"{prof.dataset}: ready under {root}"
                if prof.dataset != "synthetic"
                else "synthetic: made in code, nothing to fetch"
            )
            if args.dataset is None:  # the profile's own data: also its out-of-distribution sets
                for name in prof.ood_sets:
                    data.ensure_ood(name, args.data_root, download=args.download)
                    print(
                        f"{name} (out of distribution): ready"
                        + ("" if name in names.SYNTHETIC_OOD_SETS else f" under {config.data_root(args.data_root)}")
                    )
            return 0
        if getattr(args, "list_experiments", False):
            for name in sorted(config.EXPERIMENTS):
                print(f"{name}: {len(config.experiment_configs(prof, name))} models at profile {prof.name}")
            return 0
        experiment.validate_grid(cfgs, args.data_root)
        if args.command == "extract":
            if len(cfgs) != 1:
                raise ValueError(f"extract takes one model; the grid names {len(cfgs)}")
            return _extract(args, prof, cfgs[0])
        if args.command == "status":
            from . import launch

            print(
                launch.status_table(
                    launch.status(cfgs, prof.name, _overrides(args), cache_dir=args.cache_dir, data_root=args.data_root)
                )
            )
            return 0
        if args.command == "train" and args.launcher:
            return _launch(args, prof, cfgs, _slurm_extra(unknown))
        if args.command == "train":
            for cfg in cfgs:
                tr = train.train_model(
                    cfg,
                    data_root=args.data_root,
                    cache_dir=args.cache_dir,
                    device=args.device,
                    num_workers=prof.num_workers,
                    progress=not args.no_progress,
                    compile=prof.compile if args.compile is None else args.compile,
                )
                print(f"{cfg.arch} {cfg.hierarchy} seed {cfg.seed} {cfg.loss}: {tr.path}")
            return 0
        scores, acc, _ = experiment.run(
            prof,
            args.arch,
            hierarchies=args.hierarchy,
            seeds=args.seed,
            losses=args.loss,
            factors=args.factors,
            pool=args.pool,
            l2_normalize=args.l2_normalize,
            data_root=args.data_root,
            cache_dir=args.cache_dir,
            device=args.device,
            progress=not args.no_progress,
        )
        out = sys.stdout if args.out == "-" else open(Path(args.out), "w")
        scores.to_csv(out, index=False)
        for r in acc.itertuples():
            print(f"superclass accuracy {r.arch} {r.hierarchy} seed {r.seed}: {r.accuracy:.3f}", file=sys.stderr)
        return 0
    except (ValueError, FileNotFoundError) as exc:
        print(f"paperlib: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder that cannot be read or written: say which, not a traceback
        print(f"paperlib: error: {_os_error(exc)}", file=sys.stderr)
        return 2
