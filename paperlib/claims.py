"""Checks of the paper's claims against what a notebook measured.

Each check takes the tidy tables of :func:`paperlib.experiment.run` (``scores`` and ``accuracy``),
decides whether the paper's claim holds at the scale that ran and returns a :class:`ClaimCheck`
with one of three verdicts (:data:`VERDICTS`):

- *reproduced*: every condition the check states holds;
- *not reproduced*: a condition fails for some architecture or setting;
- *inconclusive*: a model is below the accuracy gate (:func:`accuracy_gate`), so its
  representations say little about a trained network, or the measured difference lies within the
  spread across seeds.

The check writes its own explanation of the verdict, and its measured text gives our numbers, the
seeds and every model's accuracy, in plain prose the book prints and glues.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["VERDICTS", "CLAIMS", "ClaimCheck", "AccuracyGate", "accuracy_gate", "shuffling", "GlueText"]

VERDICTS = ("reproduced", "not reproduced", "inconclusive")

CLAIMS = {
    1: "Clusterability rises with depth but is not aligned with linear-probe accuracy (Fig. 1).",
    2: "Shuffled hierarchies raise subclass AMI, most near the end of the network (Fig. 2).",
    3: "Subclass labels help OOD clustering only a little over superclass labels, except on Pets (Fig. 3).",
    4: "Squared error lowers clusterability in and out of distribution (Fig. 4-6).",
    5: "Softmax is not the best loss for OOD clustering; dropout, label smoothing, sigmoid can beat it (Fig. 6).",
    6: "VGG peaks at fc6; ResNet-50 peaks at the end; normalisation shifts VGG's peak earlier; ViT is lower (Fig. 7).",
    7: "Seeds give similar AMI profiles but low cross-seed ARI, except late layers when shuffled (Fig. 8).",
}

_EPS = 1e-9  # tolerance for rel_depth at the third boundaries (d / (n - 1) vs 1 / 3)


@dataclass
class ClaimCheck:
    """A claim, what the paper reports, what was measured, and the verdict at this scale.

    Attributes
    ----------
    number : int
        The claim's number in :data:`CLAIMS`.
    claim : str
        The claim in one sentence.
    paper : str
        What the paper reports (figure, dataset, models, result).
    measured : str
        What this run measured: the numbers the verdict rests on, the seeds, every model's accuracy.
    verdict : str
        One of :data:`VERDICTS`.
    explanation : str
        Why this verdict, in one or two sentences (which condition failed, which model is under the
        accuracy gate, ...).
    seeds : tuple of int
        The training seeds the check saw.
    """

    number: int
    claim: str
    paper: str
    measured: str
    verdict: str
    explanation: str
    seeds: tuple[int, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")
        self.seeds = tuple(int(s) for s in self.seeds)

    def markdown(self) -> str:
        """The check as a short Markdown block of prose (no code spans).

        Returns
        -------
        str
            Claim and verdict in bold, then one paragraph each for the paper's result, the measured
            result and the explanation of the verdict.
        """
        text = (
            f"**Claim {self.number}: {self.verdict} at this scale.** {self.claim}\n\n"
            f"Paper: {self.paper}\n\nMeasured: {self.measured}\n\nWhy {self.verdict}: {self.explanation}"
        )
        return text.replace("`", "'")


@dataclass
class AccuracyGate:
    """The outcome of :func:`accuracy_gate`.

    Attributes
    ----------
    gate : float
        The chance-corrected accuracy every model must reach.
    rule : str
        The rule in words, with the raw-accuracy thresholds of the superclass counts present.
    failing : tuple of str
        Models under the gate, each as its label with its accuracy (e.g. ``"vgg16 (shuffled,
        seed 0) at 0.412"``), in the table's order.
    text : str
        One sentence: the rule and every model's accuracy, under-gate ones marked.
    table : pandas.DataFrame
        The accuracy table with ``model`` (label), ``chance``, ``corrected`` and ``passes`` added.
    """

    gate: float
    rule: str
    failing: tuple[str, ...]
    text: str
    table: pd.DataFrame

    @property
    def passed(self) -> bool:
        """Whether every model reaches the gate."""
        return not self.failing


def _model_labels(acc: pd.DataFrame) -> pd.Series:
    """``arch (hierarchy, seed s[, loss])`` per row; the loss only when the table has several."""
    with_loss = "loss" in acc and acc["loss"].nunique() > 1

    def label(r) -> str:
        parts = []
        if "hierarchy" in acc:
            parts.append(str(r["hierarchy"]))
        if "seed" in acc:
            parts.append(f"seed {r['seed']}")
        if with_loss:
            parts.append(str(r["loss"]))
        return f"{r['arch']} ({', '.join(parts)})" if parts else str(r["arch"])

    return acc.apply(label, axis=1)


def accuracy_gate(accuracy: pd.DataFrame, gate: float = 0.5) -> AccuracyGate:
    """Which models are accurate enough on their superclass task for a claim to be judged.

    The rule: a model passes when its chance-corrected superclass accuracy
    ``(acc - 1/n) / (1 - 1/n)`` is at least ``gate``, with ``n`` its number of superclasses; that is,
    when its raw accuracy is at least ``1/n + gate * (1 - 1/n)`` (0.625 with 4 superclasses and the
    default gate of 0.5). A model under the gate has hardly learned its task, so the clusters of its
    representations say little about what a trained network learns, and a claim check that
    involves it is inconclusive.

    Parameters
    ----------
    accuracy : pandas.DataFrame
        The accuracy table of :func:`paperlib.experiment.run`: one row per model with ``arch``,
        ``accuracy`` and ``n_superclasses``; ``hierarchy``, ``seed`` and ``loss`` name the model
        when present (``family`` and ``epochs`` are ignored).
    gate : float, default 0.5
        Minimum chance-corrected accuracy, in [0, 1].

    Returns
    -------
    AccuracyGate
        The models under the gate and a sentence listing every model's accuracy.

    Raises
    ------
    ValueError
        If the table is empty, lacks a required column, has fewer than 2 superclasses for a model,
        or ``gate`` is outside [0, 1].
    """
    if not 0 <= gate <= 1:
        raise ValueError(f"gate must lie in [0, 1], got {gate}")
    missing = [c for c in ("arch", "accuracy", "n_superclasses") if c not in accuracy]
    if missing:
        raise ValueError(f"the accuracy table lacks column(s) {missing}; it needs arch, accuracy, n_superclasses")
    if accuracy.empty:
        raise ValueError("the accuracy table is empty: no model to gate")
    acc = accuracy.reset_index(drop=True).copy()
    n = acc["n_superclasses"].astype(int)
    if (n < 2).any():
        raise ValueError("every model needs at least 2 superclasses for a chance-corrected accuracy")
    acc["model"] = _model_labels(acc)
    acc["chance"] = 1.0 / n
    acc["corrected"] = (acc["accuracy"] - acc["chance"]) / (1 - acc["chance"])
    acc["passes"] = acc["corrected"] >= gate - _EPS
    thresholds = ", ".join(
        f">= {1 / k + gate * (1 - 1 / k):.3f} with {k} superclasses" for k in sorted(n.unique())
    )
    rule = f"chance-corrected accuracy >= {gate:.2f}, i.e. {thresholds}"
    failing = tuple(f"{r.model} at {r.accuracy:.3f}" for r in acc.itertuples() if not r.passes)
    listing = ", ".join(
        f"{r.model} {r.accuracy:.3f}" + ("" if r.passes else " (under the gate)") for r in acc.itertuples()
    )
    text = f"Superclass accuracy (gate: {rule}): {listing}."
    return AccuracyGate(gate=gate, rule=rule, failing=failing, text=text, table=acc)


def _seed_text(seeds: list[int], per_hierarchy: int) -> str:
    listed = ", ".join(str(s) for s in seeds)
    if per_hierarchy < 2:
        return f"Seeds: {listed} ({per_hierarchy} seed: no spread estimate)"
    return f"Seeds: {listed} ({per_hierarchy} per hierarchy)"


def shuffling(
    scores: pd.DataFrame, accuracy: pd.DataFrame, *, margin: float = 0.02, gate: float = 0.5
) -> ClaimCheck:
    """Claim 2: shuffling the hierarchy raises subclass AMI, most near the end of the network.

    The check reads the whole AMI profile. For every architecture and overclustering factor (a
    *cell*) it takes the gain at each layer, shuffled minus standard AMI, each the mean over seeds.
    A cell passes when both hold:

    - the gain exceeds ``margin`` in more than half of the layers;
    - the mean gain over the last third of the layers (``rel_depth >= 2/3``) exceeds the mean gain
      over the first third (``rel_depth <= 1/3``).

    With at least 2 seeds for each hierarchy, a passing cell is inconclusive when its mean gain over
    layers is within the seed spread: ``|mean gain| <= sd_standard + sd_shuffled``, where each ``sd``
    is the standard deviation over seeds (``ddof=1``) of the per-seed mean AMI over layers. With one
    seed there is no spread estimate and the text says so. A cell that fails a condition counts as
    failed whatever the spread: the paper's effect is a gain at every layer, largest at the end.

    The verdict: *inconclusive* if any model is under the accuracy gate (:func:`accuracy_gate`);
    else *not reproduced* if any cell fails; else *inconclusive* if any cell is within the seed
    spread; else *reproduced*.

    Parameters
    ----------
    scores : pandas.DataFrame
        The scores table of :func:`paperlib.experiment.run` with both hierarchies: columns ``arch``,
        ``hierarchy`` (``"standard"`` and ``"shuffled"``), ``seed``, ``layer``, ``rel_depth``,
        ``factor``, ``ami``; one loss only (a ``loss`` column, if any, must hold one value).
    accuracy : pandas.DataFrame
        The accuracy table of :func:`paperlib.experiment.run` for the same models (see
        :func:`accuracy_gate`).
    margin : float, default 0.02
        The AMI gain a layer must exceed to count as raised.
    gate : float, default 0.5
        Minimum chance-corrected superclass accuracy of every model.

    Returns
    -------
    ClaimCheck
        Claim 2 with its verdict, explanation, seeds, and measured text giving per architecture and
        factor the fraction of layers with gain above ``margin``, the first- and last-third mean
        gains, the mean gain and seed spread, plus the seeds and every model's accuracy.

    Raises
    ------
    ValueError
        If a column is missing, the table holds several losses, an architecture lacks one of the two
        hierarchies, or a profile has fewer than 2 layers.
    """
    need = ["arch", "hierarchy", "seed", "layer", "rel_depth", "factor", "ami"]
    missing = [c for c in need if c not in scores]
    if missing:
        raise ValueError(f"the scores table lacks column(s) {missing}")
    if "loss" in scores and scores["loss"].nunique() > 1:
        raise ValueError(f"claim 2 compares hierarchies under one loss; the table holds {sorted(scores['loss'].unique())}")
    gate_result = accuracy_gate(accuracy, gate)

    seeds = sorted(int(s) for s in scores["seed"].unique())
    seeds_per_hier = scores.groupby("hierarchy")["seed"].nunique()
    cells, fails, shaky = [], [], []
    for (arch, factor), g in scores.groupby(["arch", "factor"], sort=True):
        hiers = set(g["hierarchy"])
        if not {"standard", "shuffled"} <= hiers:
            raise ValueError(f"{arch}, factor {factor}: needs both hierarchies, has {sorted(hiers)}")
        g = g[g["hierarchy"].isin(["standard", "shuffled"])]
        prof = g.groupby(["layer", "rel_depth", "hierarchy"])["ami"].mean().unstack("hierarchy").dropna()
        if len(prof) < 2:
            raise ValueError(f"{arch}, factor {factor}: needs at least 2 layers scored under both hierarchies")
        gain = (prof["shuffled"] - prof["standard"]).rename("gain").reset_index().sort_values("rel_depth")
        gv, depth = gain["gain"].to_numpy(), gain["rel_depth"].to_numpy()
        n_layers, n_up = len(gv), int((gv > margin).sum())
        early = float(gv[depth <= 1 / 3 + _EPS].mean())
        late = float(gv[depth >= 2 / 3 - _EPS].mean())
        mean_gain = float(gv.mean())
        most_up, late_more = n_up > n_layers / 2, late > early
        n_seeds = int(g.groupby("hierarchy")["seed"].nunique().min())
        spread = None
        if n_seeds >= 2:
            per_seed = g.groupby(["hierarchy", "seed"])["ami"].mean()
            spread = float(per_seed["standard"].std(ddof=1) + per_seed["shuffled"].std(ddof=1))
        name = f"{arch}, factor {factor}"
        part = (
            f"{name}: gain > {margin:.2f} in {n_up} of {n_layers} layers, first-third mean gain {early:+.3f}, "
            f"last-third {late:+.3f}, mean {mean_gain:+.3f}"
        )
        part += f" (seed spread {spread:.3f})" if spread is not None else ""
        cells.append(part)
        if not most_up:
            fails.append(f"for {name} the gain exceeds {margin:.2f} in only {n_up} of {n_layers} layers")
        if not late_more:
            fails.append(
                f"for {name} the last-third mean gain ({late:+.3f}) does not exceed the first-third one ({early:+.3f})"
            )
        if most_up and late_more and spread is not None and abs(mean_gain) <= spread:
            shaky.append(f"for {name} the mean gain {mean_gain:+.3f} lies within the seed spread {spread:.3f}")

    min_seeds = int(seeds_per_hier.min())
    one_seed = " With 1 seed there is no spread estimate, so seed noise is not ruled out." if min_seeds < 2 else ""
    if not gate_result.passed:
        verdict = "inconclusive"
        one = len(gate_result.failing) == 1
        explanation = (
            f"{'A model is' if one else 'Models are'} under the accuracy gate ({gate_result.rule}): "
            f"{'; '.join(gate_result.failing)}; {'its' if one else 'their'} clusters say little about "
            "a trained network."
        )
    elif fails:
        verdict = "not reproduced"
        explanation = _sentence("; ".join(fails)) + one_seed
    elif shaky:
        verdict = "inconclusive"
        explanation = _sentence("; ".join(shaky)) + " More seeds are needed to tell the gain from seed noise."
    else:
        verdict = "reproduced"
        explanation = (
            f"For every architecture and factor shuffling raises AMI by more than {margin:.2f} in most layers, "
            "and more in the last third of the network than in the first." + one_seed
        )
    measured = (
        "Shuffled minus standard AMI per layer, mean over seeds; "
        + "; ".join(cells)
        + f". {_seed_text(seeds, min_seeds)}. {gate_result.text}"
    )
    return ClaimCheck(
        number=2,
        claim=CLAIMS[2],
        paper=(
            "Fig. 2, entity-13, VGG-16 and ResNet-50: shuffling the hierarchy raises subclass AMI at every "
            "layer, most near the end of the network."
        ),
        measured=measured,
        verdict=verdict,
        explanation=explanation,
        seeds=tuple(seeds),
    )


def _sentence(text: str) -> str:
    """Capitalise the first letter and end with a full stop."""
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


class GlueText(str):
    """A string that displays as itself, for ``myst_nb.glue``.

    Glued plain strings show with quotes (their ``repr``) and IPython ``Markdown`` objects show as
    ``<...Markdown object>`` when pasted into another page; this class gives both the plain-text and
    the Markdown representation as the bare text.
    """

    def __repr__(self) -> str:
        return str(self)

    def _repr_markdown_(self) -> str:
        return str(self)
