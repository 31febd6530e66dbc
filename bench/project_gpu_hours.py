"""Projected GPU-hours of each paper experiment (``paperlib.config.EXPERIMENTS`` at profile ``paper``).

A projection, not a measurement: models x epochs x training images / throughput. Throughput per
architecture family on one H100 (bf16, 224 px, batch 256):

* ResNet-50: **measured**, 4,636 img/s compiled (bench/RESULTS.md, GPU section, 2026-11-27).
* VGG-16 (and +BN, +LN), ViT-B/32: **estimates**, not measured on a GPU yet: ResNet-50's measured
  rate scaled by forward FLOPs (ResNet-50 4.1, VGG-16 15.5, ViT-B/32 4.4 GFLOPs per image), so VGG-16
  at about 1,230 img/s and ViT-B/32 at about 4,320 img/s.

Training images per BREEDS dataset (:func:`train_images`): the classes the shipped hierarchy keeps
(``paperlib/resources/breeds/<name>.json``: entity-13 with 4 subclasses per superclass is 52 ImageNet
classes, living-17 68, nonliving-26 104) times the mean training images per class of the BREEDS
paper's split (Santurkar et al. 2021, Table 1: entity-13 334,712 images over its 260 classes, living-17
88,400 over 68, nonliving-26 132,765 over 104). The paper trains on entity-13 with 4 subclasses per
superclass, so the full 260-class split (five times as many images) is not what it costs. Scoring
time (Ward on the validation images) is not counted. Run: ``python bench/project_gpu_hours.py``.

With ``--rates FILE`` (the JSON lines ``bench/bench_archs.py --out FILE`` writes on a GPU) the measured
training rates replace the figures above: per family the paperlib step's img/s, compiled where measured,
else eager (``--small`` rows and failed rows are ignored); a family the file lacks keeps its FLOP-scaled
estimate, from the file's ResNet-50 rate when it has one.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from paperlib import breeds
from paperlib.config import EXPERIMENTS, experiment_configs, get_profile

RESNET50_IMG_S = 4636.0  # measured, H100, compiled, bf16 (bench/RESULTS.md)
GFLOPS = {"resnet": 4.1, "vgg": 15.5, "vgg_bn": 15.5, "vgg_ln": 15.5, "vit": 4.4}
MEASURED = {"resnet"}
#: BREEDS's own training split per dataset: (images, ImageNet classes), Santurkar et al. 2021, Table 1.
BREEDS_TRAIN = {"entity13": (334_712, 260), "living17": (88_400, 68), "nonliving26": (132_765, 104)}


def train_images(dataset: str) -> int:
    """Training images of ``dataset`` as the ``paper`` profile reads it: the classes of the shipped
    hierarchy times the mean images per class of BREEDS's split (ImageNet's classes hold 732-1,300)."""
    images, classes = BREEDS_TRAIN[dataset]
    return round(breeds.load_breeds(dataset).n_subclasses * images / classes)


def read_rates(path: str | Path) -> dict[str, float]:
    """Training img/s per family from ``bench_archs.py``'s JSON lines: the compiled paperlib step where
    measured, else the eager one; rows of ``--small`` runs and failed rows are ignored."""
    best: dict[str, tuple[bool, float]] = {}
    for line in Path(path).read_text().splitlines():
        r = json.loads(line) if line.strip() else {}
        if r.get("small") or "error" in r or not str(r.get("kind", "")).startswith("train"):
            continue
        compiled = r["kind"] == "train_compiled"
        if r["family"] not in best or compiled >= best[r["family"]][0]:
            best[r["family"]] = (compiled, float(r["paperlib_img_s"]))
    return {f: v for f, (_, v) in best.items()}


def img_per_s(family: str, rates: dict[str, float] | None = None) -> float:
    rates = rates or {}
    if family in rates:
        return rates[family]
    return rates.get("resnet", RESNET50_IMG_S) * GFLOPS["resnet"] / GFLOPS[family]


def main(rates_file: str | Path | None = None) -> None:
    rates = read_rates(rates_file) if rates_file else {}
    measured = MEASURED | set(rates)
    if rates:
        print(f"measured rates from {rates_file}: " + ", ".join(f"{f} {v:,.0f} img/s" for f, v in rates.items()))
    prof = get_profile("paper")
    print(f"{'experiment':28} {'models':>6}  {'by family':34} {'GPU-hours':>10}  basis")
    total_models: dict = {}
    for name in EXPERIMENTS:
        cfgs = experiment_configs(prof, name)
        hours, fams = 0.0, {}
        for c in cfgs:
            fam = prof.family(c.arch)
            fams[fam] = fams.get(fam, 0) + 1
            hours += c.epochs * train_images(c.dataset) / img_per_s(fam, rates) / 3600
            total_models[(c.arch, c.dataset, c.hierarchy, c.loss, c.seed)] = (fam, c)
        basis = (
            "measured rate"
            if set(fams) <= measured
            else ("ResNet-50 measured, others estimated" if not rates else "partly measured, others estimated")
        )
        by = ", ".join(f"{n} {f}" for f, n in fams.items())
        print(f"{name:28} {len(cfgs):>6}  {by:34} {hours:>10,.0f}  {basis}")
    hours = sum(c.epochs * train_images(c.dataset) / img_per_s(f, rates) / 3600 for f, c in total_models.values())
    print(
        f"{'all experiments (distinct)':28} {len(total_models):>6}  {'':34} {hours:>10,.0f}  "
        "models shared by experiments counted once"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default=None, help="JSON lines of bench_archs.py --out (measured training rates)")
    main(ap.parse_args().rates)
