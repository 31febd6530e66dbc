#!/usr/bin/env python
"""Write the shipped BREEDS class lists ``paperlib/resources/breeds/<name>.json``.

``<name>`` is each of ``living17``, ``nonliving26`` and ``entity13``.

Each file is :meth:`paperlib.hierarchy.Hierarchy.to_dict` of ``build_breeds`` (``breeds_builder.py``,
beside this script) plus ``"wnids"`` (list of lists parallel to ``"groups"``), ``"superclass_wnids"``,
``"source"`` (how it was derived) and ``"info_sha256"`` (hashes of the input files). The output is
deterministic.

Usage::

    python scripts/make_breeds.py [INFO_DIR] [--out OUT_DIR]

``INFO_DIR`` defaults to ``<repo>/../shared/data/breeds``, ``OUT_DIR`` to
``<repo>/paperlib/resources/breeds``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(Path(__file__).resolve().parent) not in sys.path:  # breeds_builder.py lives beside this script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
DEFAULT_INFO_DIR = REPO.parent / "shared" / "data" / "breeds"
DEFAULT_OUT_DIR = REPO / "paperlib" / "resources" / "breeds"

SOURCE = (
    "Derived by paperlib.breeds.build_breeds (scripts/make_breeds.py) from the BREEDS-Benchmarks "
    "modified ImageNet hierarchy (imagenet_class_hierarchy/modified: class_hierarchy.txt, "
    "dataset_class_info.json, node_names.txt), reproducing "
    "robustness.tools.breeds_helpers.make_{name}(info_dir, split=None) of MadryLab/robustness "
    "(level={level}, ancestor={ancestor}, Nsubclasses={n_subclasses}, balanced=True, "
    "random_seed=2); "
    "full class list, no source/target split; subclasses in BREEDS order (RandomState(2).choice "
    "draw order){keep_note}. Subclass ids are ImageNet class indices 0..999."
)


def payload(name: str, info_dir: Path) -> dict:
    """JSON-ready content of ``<name>.json``."""
    from breeds_builder import build_breeds_with_wnids

    from paperlib.breeds import BREEDS_SPECS

    spec = BREEDS_SPECS[name]
    h, wnids, sup_wnids = build_breeds_with_wnids(name, info_dir)
    keep_note = (
        f"; only the first {spec['keep']} of the {spec['n_subclasses']} drawn per superclass kept "
        "(paper's 4-subclass variant)"
        if spec["keep"] < spec["n_subclasses"]
        else ""
    )
    d = h.to_dict()
    d["wnids"] = wnids
    d["superclass_wnids"] = sup_wnids
    d["source"] = SOURCE.format(name=name, keep_note=keep_note, **spec)
    d["info_sha256"] = {
        f: hashlib.sha256((info_dir / f).read_bytes()).hexdigest()
        for f in ("class_hierarchy.txt", "dataset_class_info.json", "node_names.txt")
    }
    return d


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("info_dir", nargs="?", type=Path, default=DEFAULT_INFO_DIR)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR)
    args = p.parse_args(argv)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from paperlib.breeds import BREEDS_DATASETS

    args.out.mkdir(parents=True, exist_ok=True)
    for name in BREEDS_DATASETS:
        d = payload(name, args.info_dir.resolve())
        path = args.out / f"{name}.json"
        path.write_text(json.dumps(d, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        sizes = sorted(set(len(g) for g in d["groups"]))
        print(f"{path}: {len(d['groups'])} superclasses x {sizes} subclasses")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
