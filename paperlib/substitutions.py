"""Every substitution between the paper's setting and this book's, as one table (book/substitutions.md).

The cells that differ per profile are computed from :mod:`paperlib.config` (profiles and the
experiment registry), so the table cannot drift from the configuration; what is not configuration
(what the paper did, a recipe written in a module) is written here, once.
``python scripts/substitutions_table.py`` writes the table into ``book/substitutions.md`` between its
markers; ``--check`` exits 1 when the page differs from what this module renders (a test).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from . import config, names

__all__ = ["substitution_rows", "substitution_table"]


def _families(p: config.Profile) -> str:
    return ", ".join(f"`{a}`" + (f" (w{p.widths[a]})" if p.widths.get(a) else "") for a in p.archs.values())


def _epochs(p: config.Profile) -> str:
    scaled = "".join(f", {fam} {max(1, round(p.epochs * s))}" for fam, s in p.epoch_scale.items())
    return f"{p.epochs}{scaled}"


def _lr(p: config.Profile) -> str:
    parts = [f"{fam} x{s:g}" for fam, s in p.lr_scale.items() if s != 1.0]
    parts += [f"{loss} x{s:g}" for loss, s in p.loss_lr_scale.items() if s != 1.0]
    return "the paper's" if not parts else "the paper's, scaled: " + ", ".join(parts)


def _fig3_datasets(p: config.Profile) -> str:
    if p.name != "paper":
        return f"`{p.dataset}` (the profile's)"
    return ", ".join(f"`{d}`" for d in config.EXPERIMENTS["fig3_transfer"]["datasets"])


#: (what, the paper's setting, ours per profile: a function of the profile or one text for every profile)
_ROWS: list[tuple[str, str, Callable[[config.Profile], str] | str]] = [
    (
        "training data",
        "BREEDS entity-13, living-17, nonliving-26 from ImageNet (App. A)",
        lambda p: (
            (
                ", ".join(
                    f"`{d}`" for d in dict.fromkeys(d for e in config.EXPERIMENTS.values() for d in e["datasets"])
                )
                if p.name == "paper"
                else f"`{p.dataset}`"
            )
            + (f", {p.train_per_subclass} training images per subclass" if p.train_per_subclass else "")
        ),
    ),
    (
        "validation images scored",
        "every BREEDS validation image",
        lambda p: f"{p.val_per_subclass} per subclass" if p.val_per_subclass else "every validation image",
    ),
    ("architectures", "ResNet-50, VGG-16 (plain, BN, LN), ViT-B/32 (App. A)", _families),
    ("image size", "224 px", lambda p: f"{p.image_size} px"),
    ("epochs", "400 for every model (App. A)", _epochs),
    ("batch size", "256", lambda p: str(p.batch_size)),
    ("learning rate", "ResNet 0.1, VGG 0.01, ViT 1e-3, squared error 1e-3 (App. A)", _lr),
    (
        "augmentation",
        "random resized crop + flip (the authors' code)",
        lambda p: {"rrc_flip": "random resized crop + flip", "crop_flip": "pad-4 random crop + flip"}[p.augment],
    ),
    ("EMA decay", "0.99", lambda p: f"{p.ema_decay:g}"),
    ("gradient clipping", "none", lambda p: f"global norm {p.grad_clip:g}" if p.grad_clip else "none"),
    ("precision", "float32", lambda p: "bf16 autocast" if p.amp else "float32"),
    ("Fig. 3 training sets (`fig3_transfer`)", "ImageNet and the BREEDS sets", _fig3_datasets),
    (
        "Fig. 3 out-of-distribution sets",
        "tf_flowers, UC Merced, Oxford-IIIT Pets, Cars196",
        lambda p: (
            ", ".join(f"`{s}`" for s in p.ood_sets)
            + (f" ({p.ood_per_class} images per class)" if p.ood_per_class else "")
        ),
    ),
    (
        "Fig. 3 supervised ResNet-50 on all of ImageNet",
        "evaluated beside the BREEDS models",
        "not trained (only the BREEDS-scale models)",
    ),
    (
        "Fig. 3 BYOL model",
        "Grill et al.'s released ResNet-50 checkpoint, trained on all of ImageNet (Sec. 6.1)",
        lambda p: (
            f"trained here on the same training images for {p.byol_epochs or _epochs(p)} epochs, "
            "or your checkpoint (`byol_checkpoint`)"
        ),
    ),
    (
        "BYOL optimiser",
        "LARS, lr 0.2 x batch/256, weight decay 1.5e-6 (Grill et al.)",
        "the book's trainer: SGD momentum 0.9, weight decay 1e-4 (`paperlib.byol`)",
    ),
    (
        "BYOL views",
        "Grill et al.'s (Table 6): random resized crop (area 0.08-1), flip, colour jitter p 0.8, greyscale p 0.2, "
        "blur p 1.0 / 0.1, solarisation p 0 / 0.2 (first / second view)",
        lambda p: (
            (
                "Grill et al.'s jitter, greyscale, blur (p 1.0 / 0.1) and solarisation (p 0 / 0.2) after the "
                "profile's crop (area 0.05-1, not 0.08-1) + flip"
                if p.byol_views == "grill"
                else "the profile's crop + flip, colour jitter and greyscale; no blur or solarisation"
            )
            + f" (`byol_views={p.byol_views!r}`)"
        ),
    ),
    (
        "Fig. 6 models (nine losses)",
        "Kornblith et al. (2021)'s released checkpoints, trained on all of ImageNet (Sec. 6.3)",
        lambda p: (
            f"trained here on `{p.dataset}`, seeds {list(p.loss_seeds)}, with Kornblith et al.'s recipe "
            "(`recipe='kornblith'`: squared error x 10 at the common lr, "
            f"weight decay {config.KORNBLITH_WEIGHT_DECAY:g}, kernel-only cosine head)"
        ),
    ),
    (
        "Fig. 4/5 squared error",
        "loss scaled 1/10 at lr 0.001 (App. A)",
        lambda p: f"lr x{p.loss_lr_scale.get('squared_error', 1.0):g} of the paper's (`loss_lr_scale`)",
    ),
    (
        "linear probe (Fig. 1)",
        "a linear classifier per layer",
        "multinomial logistic regression on standardised features, L2 1e-4, solved to convergence (L-BFGS in the "
        "features' row space) where a layer's training features fit `ProbeConfig.exact_max_bytes`, else streamed SGD "
        "(`paperlib.probe`)",
    ),
]


def substitution_rows() -> pd.DataFrame:
    """The substitutions as a DataFrame: one row per setting, the paper's value and each profile's.

    Returns
    -------
    pandas.DataFrame
        Columns ``what``, ``paper`` and one per profile of :data:`paperlib.names.PROFILES`
        (``smoke``, ``quick``, ``cifar``, ``paper profile``); one row per substitution.
    """
    profiles = {n: config.get_profile(n) for n in names.PROFILES}
    rows = []
    for what, paper, ours in _ROWS:
        row = {"what": what, "paper": paper}
        for n, p in profiles.items():
            row[f"{n} profile" if n == "paper" else n] = ours(p) if callable(ours) else ours
        rows.append(row)
    return pd.DataFrame(rows)


def substitution_table() -> str:
    """:func:`substitution_rows` as one Markdown table; a profile's cell equal to the one on its left reads "=".

    Examples
    --------
    >>> substitution_table().splitlines()[0].startswith("| what | the paper |")
    True
    """
    df = substitution_rows()
    cols = list(df.columns)
    head = ["what", "the paper"] + cols[2:]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in df.iterrows():
        cells = [r["what"], r["paper"]]
        for i, c in enumerate(cols[2:]):
            left = cols[2 + i - 1] if i else None
            cells.append("=" if left is not None and r[c] == r[left] else r[c])
        lines.append("| " + " | ".join(str(x).replace("|", "\\|") for x in cells) + " |")
    return "\n".join(lines) + "\n"
