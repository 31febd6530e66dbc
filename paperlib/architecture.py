"""Architectures compared (paper Sec. 7, App. G): where each one's AMI peaks, and Table G.1.

:func:`peak_layers` reads the scores table of :func:`paperlib.experiment.run` and gives, per
architecture family, hierarchy and factor, the layer with the highest AMI (mean over seeds), its
relative depth and the AMI there, with the spread over seeds. :func:`accuracy_beside_paper` sets
the measured superclass accuracy of every model beside the paper's Table G.1
(:data:`PAPER_TABLE_G1`). Both are pure functions of tables; claim 6 (:func:`paperlib.claims.architecture`)
and the architecture chapter call them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["PAPER_TABLE_G1", "PAPER_ARCH_NAMES", "peak_layers", "accuracy_beside_paper"]

#: Table G.1 of the paper: superclass accuracy (%) on living-17 / nonliving-26 / entity-13 /
#: entity-13 shuffled, per architecture family (None where the paper has no number).
PAPER_TABLE_G1: dict[str, dict[str, float | None]] = {
    "resnet": {"living17": 93.2, "nonliving26": 85.9, "entity13": 92.2, "entity13-shuffled": 88.3},
    "vgg": {"living17": 83.1, "nonliving26": 53.4, "entity13": 86.3, "entity13-shuffled": 76.5},
    "vgg_bn": {"living17": None, "nonliving26": None, "entity13": 86.6, "entity13-shuffled": 78.1},
    "vgg_ln": {"living17": None, "nonliving26": None, "entity13": 77.2, "entity13-shuffled": 73.6},
    "vit": {"living17": None, "nonliving26": None, "entity13": 81.3, "entity13-shuffled": 72.6},
}
#: The paper's name of each family's architecture.
PAPER_ARCH_NAMES = {
    "resnet": "ResNet-50",
    "vgg": "VGG-16",
    "vgg_bn": "VGG-16-BN",
    "vgg_ln": "VGG-16-LN",
    "vit": "ViT-B/32",
}


def peak_layers(scores: pd.DataFrame, metric: str = "ami") -> pd.DataFrame:
    """The layer where each model family's mean profile peaks.

    Parameters
    ----------
    scores : pandas.DataFrame
        Columns ``family``, ``arch``, ``hierarchy``, ``seed``, ``layer``, ``depth``, ``rel_depth``,
        ``factor`` and ``metric`` (the table of :func:`paperlib.experiment.run`).
    metric : {"ami", "purity"}

    Returns
    -------
    pandas.DataFrame
        One row per (``family``, ``arch``, ``hierarchy``, ``factor``): ``peak_layer``,
        ``peak_depth`` (0-based), ``peak_rel_depth``, ``peak`` (the mean over seeds at the peak),
        ``max_seed_sd`` (the largest standard deviation over seeds of any layer, ``ddof=1``; NaN
        with one seed), ``n_layers`` and ``n_seeds``. Ties go to the earlier layer.

    Examples
    --------
    >>> df = pd.DataFrame({"family": "vgg", "arch": "vgg_mini", "hierarchy": "standard", "seed": 0,
    ...                    "layer": ["a", "b", "c"], "depth": [0, 1, 2], "rel_depth": [0, .5, 1],
    ...                    "factor": 1, "ami": [.1, .3, .2]})
    >>> peak_layers(df)[["peak_layer", "peak_rel_depth", "peak"]].values.tolist()
    [['b', 0.5, 0.3]]
    """
    need = ["family", "arch", "hierarchy", "seed", "layer", "depth", "rel_depth", "factor", metric]
    missing = [c for c in need if c not in scores]
    if missing:
        raise ValueError(f"the scores table lacks column(s) {missing}")
    rows = []
    for key, g in scores.groupby(["family", "arch", "hierarchy", "factor"], sort=False):
        prof = (
            g.groupby(["depth", "layer", "rel_depth"])[metric].agg(["mean", "std"]).reset_index().sort_values("depth")
        )
        i = int(np.argmax(prof["mean"].to_numpy()))
        rows.append(
            dict(
                zip(["family", "arch", "hierarchy", "factor"], key),
                peak_layer=prof["layer"].iloc[i],
                peak_depth=int(prof["depth"].iloc[i]),
                peak_rel_depth=float(prof["rel_depth"].iloc[i]),
                peak=float(prof["mean"].iloc[i]),
                max_seed_sd=float(prof["std"].max()),
                n_layers=len(prof),
                n_seeds=int(g["seed"].nunique()),
            )
        )
    return pd.DataFrame(rows)


def accuracy_beside_paper(accuracy: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Measured superclass accuracy (%) per family and hierarchy beside the paper's Table G.1.

    Parameters
    ----------
    accuracy : pandas.DataFrame
        The accuracy table of :func:`paperlib.experiment.run` (``family``, ``arch``, ``hierarchy``,
        ``seed``, ``accuracy`` in 0..1).
    dataset : str
        The dataset the models trained on; the paper's column is the same dataset's (entity-13 for
        the shuffled hierarchy), else none.

    Returns
    -------
    pandas.DataFrame
        One row per (family, hierarchy): ``architecture`` (the paper's name), ``arch`` (ours),
        ``hierarchy``, ``measured %`` (mean over seeds), ``seeds`` and ``paper %`` (NaN where the
        paper has no number for this dataset and hierarchy).
    """
    rows = []
    for (fam, arch, hier), g in accuracy.groupby(["family", "arch", "hierarchy"], sort=False):
        col = dataset if hier == "standard" else f"{dataset}-shuffled"
        paper = PAPER_TABLE_G1.get(fam, {}).get(col)
        rows.append(
            {
                "architecture": PAPER_ARCH_NAMES.get(fam, fam),
                "arch": arch,
                "hierarchy": hier,
                "measured %": round(100 * float(g["accuracy"].mean()), 1),
                "seeds": int(g["seed"].nunique()),
                "paper %": np.nan if paper is None else paper,
            }
        )
    return pd.DataFrame(rows)
