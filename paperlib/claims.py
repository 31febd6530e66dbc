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

from . import names

__all__ = [
    "VERDICTS",
    "CLAIMS",
    "ClaimCheck",
    "AccuracyGate",
    "accuracy_gate",
    "shuffling",
    "within_network",
    "consistency",
    "architecture",
    "squared_error",
    "loss_ranking",
    "transfer",
    "self_supervised_context",
    "GlueText",
]

VERDICTS = ("reproduced", "not reproduced", "inconclusive")

CLAIMS = {
    1: "Clusterability rises with depth but, unlike linear-probe accuracy, not monotonically (Fig. 1).",
    2: "Shuffled hierarchies raise subclass AMI, most near the end of the network (Fig. 2).",
    3: "Subclass labels help OOD clustering only a little over superclass labels, except on Pets (Fig. 3).",
    4: "Squared error matches softmax except in the last layers, and lowers clusterability out of distribution (Fig. 4-6).",
    5: "Softmax is not the best loss for OOD clustering; dropout, label smoothing, sigmoid can beat it; squared error is the worst (Fig. 6).",
    6: "VGG peaks at fc6; ResNet-50 peaks at its last block; batch norm shifts VGG's peak earlier at a similar maximum; ViT is lower (Fig. 7).",
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
    rows : tuple of dict
        The numbers of ``measured`` as table rows (column name to value, the same columns in every
        row), for :meth:`table`; empty where the check has no table.
    note : str
        With ``rows``: the rest of ``measured`` (what the numbers are, the seeds, the accuracy gate),
        shown with the table.
    """

    number: int
    claim: str
    paper: str
    measured: str
    verdict: str
    explanation: str
    seeds: tuple[int, ...] = field(default_factory=tuple)
    rows: tuple[dict, ...] = field(default_factory=tuple)
    note: str = ""

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
        if self.rows:
            table = self.table()
            lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
            lines += ["| " + " | ".join(row) + " |" for row in table.itertuples(index=False)]
            measured = f"{self.note}\n\n" + "\n".join(lines)
        else:
            measured = self.measured
        text = (
            f"**Claim {self.number}: {self.verdict} at this scale.** {self.claim}\n\n"
            f"Paper: {self.paper}\n\nMeasured: {measured}\n\nWhy {self.verdict}: {self.explanation}"
        )
        return text.replace("`", "'")

    def table(self) -> pd.DataFrame:
        """The measured numbers as a table of text (gains signed, three decimals), one row per :attr:`rows`.

        Returns
        -------
        pandas.DataFrame
            ``len(rows)`` rows, the rows' columns, every cell a string (``""`` for a missing value).
        """

        def cell(v) -> str:
            if v is None or (isinstance(v, float) and np.isnan(v)):
                return ""
            if isinstance(v, float):
                return f"{v:+.3f}"
            return str(v)

        return pd.DataFrame([{k: cell(v) for k, v in r.items()} for r in self.rows])


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
    """``arch (hierarchy, seed s[, loss])`` per row; the loss only when the table has several supervised
    ones; ``training`` (labels or self-supervised objective) in place of the hierarchy when the table has it."""
    supervised = acc[~acc["loss"].isin(names.SELF_SUPERVISED)] if "loss" in acc else acc
    with_loss = "loss" in acc and supervised["loss"].nunique() > 1
    how = "training" if "training" in acc else "hierarchy" if "hierarchy" in acc else None

    def label(r) -> str:
        parts = []
        if how is not None:
            parts.append(str(r[how]))
        if "seed" in acc:
            parts.append(f"seed {r['seed']}")
        if with_loss and r["loss"] not in names.SELF_SUPERVISED:
            parts.append(str(r["loss"]))
        return f"{r['arch']} ({', '.join(parts)})" if parts else str(r["arch"])

    return acc.apply(label, axis=1)


#: The chance-corrected accuracy gate where the accuracy table names none (profiles name theirs).
DEFAULT_GATE = 0.5


def accuracy_gate(accuracy: pd.DataFrame, gate: float | None = None) -> AccuracyGate:
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
        ``accuracy`` and ``n_superclasses``; ``hierarchy`` (or ``training``), ``seed`` and ``loss`` name
        the model when present (``family`` and ``epochs`` are ignored); an ``accuracy_of`` other than
        ``"classifier"`` (a BYOL model's linear readout) is said next to its accuracy.
    gate : float, optional
        Minimum chance-corrected accuracy, in [0, 1]. Default: the table's ``gate`` column (the
        profile's :attr:`paperlib.config.Profile.accuracy_gate`, which :func:`paperlib.experiment.run`
        writes), else 0.5.

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
    if gate is None:
        gate = float(accuracy["gate"].max()) if "gate" in accuracy and len(accuracy) else DEFAULT_GATE
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
    thresholds = ", ".join(f">= {1 / k + gate * (1 - 1 / k):.3f} with {k} superclasses" for k in sorted(n.unique()))
    rule = f"chance-corrected accuracy >= {gate:.2f}, i.e. {thresholds}"
    failing = tuple(f"{r.model} at {r.accuracy:.3f}" for r in acc.itertuples() if not r.passes)
    of = acc["accuracy_of"] if "accuracy_of" in acc else pd.Series("classifier", index=acc.index)
    listing = ", ".join(
        f"{r.model} {r.accuracy:.3f}"
        + ("" if o == "classifier" else f" ({str(o).split(' (')[0]})")
        + ("" if r.passes else " (under the gate)")
        for r, o in zip(acc.itertuples(), of)
    )
    text = f"Superclass accuracy (gate: {rule}): {listing}."
    return AccuracyGate(gate=gate, rule=rule, failing=failing, text=text, table=acc)


def _seed_text(seeds: list[int], per_hierarchy: int) -> str:
    listed = ", ".join(str(s) for s in seeds)
    if per_hierarchy < 2:
        return f"Seeds: {listed} ({per_hierarchy} seed: no spread estimate)"
    return f"Seeds: {listed} ({per_hierarchy} per hierarchy)"


def shuffling(
    scores: pd.DataFrame, accuracy: pd.DataFrame, *, margin: float = 0.02, gate: float | None = None
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
        raise ValueError(
            f"claim 2 compares hierarchies under one loss; the table holds {sorted(scores['loss'].unique())}"
        )
    gate_result = accuracy_gate(accuracy, gate)

    seeds = sorted(int(s) for s in scores["seed"].unique())
    seeds_per_hier = scores.groupby("hierarchy")["seed"].nunique()
    cells, fails, shaky, rows = [], [], [], []
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
        rows.append(
            {
                "architecture": arch,
                "factor": int(factor),
                f"layers gaining > {margin:.2f}": f"{n_up} of {n_layers}",
                "first third": early,
                "last third": late,
                "gain": mean_gain,
                "seed spread": abs(spread) if spread is not None else None,
                "seeds": n_seeds,
            }
        )
        if not most_up:
            fails.append(f"for {name} the gain exceeds {margin:.2f} in only {n_up} of {n_layers} layers")
        if not late_more:
            fails.append(
                f"for {name} the last-third mean gain ({late:+.3f}) does not exceed the first-third one ({early:+.3f})"
            )
        if most_up and late_more and spread is not None and abs(mean_gain) <= spread:
            shaky.append(f"for {name} the mean gain {mean_gain:+.3f} lies within the seed spread {spread:.3f}")

    min_seeds = int(seeds_per_hier.min())
    verdict, explanation = _decide(
        gate_result,
        fails,
        shaky,
        n_seeds=min_seeds,
        reproduced=(
            f"For every architecture and factor shuffling raises AMI by more than {margin:.2f} in most layers, "
            "and more in the last third of the network than in the first."
        ),
        shaky_tail=" More seeds are needed to tell the gain from seed noise.",
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
        rows=tuple(rows),
        note=(
            "shuffled minus standard AMI per layer, mean over seeds (gain: over all layers; first and last "
            f"third: over the layers there). {_seed_text(seeds, min_seeds)}. {gate_result.text}"
        ),
    )


def _one_seed(n_seeds: int) -> str:
    return " With 1 seed there is no spread estimate, so seed noise is not ruled out." if n_seeds < 2 else ""


def _decide(
    gate_result: AccuracyGate,
    fails: list[str],
    shaky: list[str],
    reproduced: str,
    *,
    n_seeds: int,
    unchecked: str | None = None,
    shaky_tail: str = "",
) -> tuple[str, str]:
    """The verdict and its explanation, in the order every check uses: the accuracy gate, then what
    could not be checked, then failed conditions, then conditions met only within the seed spread."""
    if not gate_result.passed:
        return "inconclusive", _gate_explanation(gate_result)
    if unchecked:
        return "inconclusive", unchecked
    if fails:
        return "not reproduced", _sentence("; ".join(fails)) + _one_seed(n_seeds)
    if shaky:
        return "inconclusive", _sentence("; ".join(shaky)) + shaky_tail
    return "reproduced", reproduced + _one_seed(n_seeds)


def _gate_explanation(gate_result: AccuracyGate) -> str:
    one = len(gate_result.failing) == 1
    return (
        f"{'A model is' if one else 'Models are'} under the accuracy gate ({gate_result.rule}): "
        f"{'; '.join(gate_result.failing)}; {'its' if one else 'their'} clusters say little about "
        "a trained network."
    )


def _thirds(values: np.ndarray, depth: np.ndarray) -> tuple[float, float]:
    """Mean of ``values`` over the first third (``depth <= 1/3``) and the last third (``>= 2/3``)."""
    return float(values[depth <= 1 / 3 + _EPS].mean()), float(values[depth >= 2 / 3 - _EPS].mean())


def _check_columns(df: pd.DataFrame, need: list[str], what: str) -> None:
    missing = [c for c in need if c not in df]
    if missing:
        raise ValueError(f"the {what} table lacks column(s) {missing}")


def within_network(
    scores: pd.DataFrame,
    probe: pd.DataFrame,
    accuracy: pd.DataFrame,
    *,
    margin: float = 0.02,
    tolerance: float = 0.01,
    gate: float | None = None,
) -> ClaimCheck:
    """Claim 1: clusterability rises with depth but, unlike linear-probe accuracy, not monotonically.

    The sentence tested (Sec. 4, "Clustering in different layers"): "Our clustering metrics and linear
    probe accuracy both generally increase with depth, but while linear probe accuracy is nearly
    monotonic, subclass clustering is not (Figure 1)."

    For every architecture, hierarchy and factor (a *cell*) the check takes the AMI profile over
    layers and the probe-accuracy profile (each the mean over seeds, layers in order of depth) and asks:

    - *AMI rises with depth*: the mean AMI over the last third of the layers (``rel_depth >= 2/3``)
      exceeds the mean over the first third (``<= 1/3``) by more than ``margin``;
    - *the probe is nearly monotonic*: its largest drop between consecutive layers is at most
      ``tolerance``;
    - *clustering is not*: AMI drops by more than ``tolerance`` between some pair of consecutive layers.

    The verdict: *inconclusive* if any model is under the accuracy gate; else *reproduced* if every
    cell meets all three conditions; else *not reproduced*, naming the cells and conditions that fail.

    Parameters
    ----------
    scores : pandas.DataFrame
        :func:`paperlib.experiment.run`'s scores: ``arch``, ``hierarchy``, ``seed``, ``layer``,
        ``rel_depth``, ``factor``, ``ami``.
    probe : pandas.DataFrame
        Linear-probe accuracy per layer for the same models: ``arch``, ``hierarchy``, ``seed``,
        ``layer``, ``probe_acc``.
    accuracy : pandas.DataFrame
        The accuracy table of the same models (see :func:`accuracy_gate`).
    margin, tolerance, gate : float
        The rise the last third must show, the largest drop between consecutive layers that still
        counts as monotonic, the gate.

    Returns
    -------
    ClaimCheck
    """
    _check_columns(scores, ["arch", "hierarchy", "seed", "layer", "rel_depth", "factor", "ami"], "scores")
    _check_columns(probe, ["arch", "hierarchy", "seed", "layer", "probe_acc"], "probe")

    gate_result = accuracy_gate(accuracy, gate)
    pmean = probe.groupby(["arch", "hierarchy", "layer"])["probe_acc"].mean()
    cells, fails = [], []
    for (arch, hier, factor), g in scores.groupby(["arch", "hierarchy", "factor"], sort=True):
        prof = g.groupby(["layer", "rel_depth"])["ami"].mean().reset_index().sort_values("rel_depth")
        try:
            acc = pmean.loc[(arch, hier)].reindex(prof["layer"]).to_numpy()
        except KeyError:
            raise ValueError(f"no probe accuracy for {arch} ({hier})") from None
        if np.isnan(acc).any() or len(prof) < 3:
            raise ValueError(f"{arch} ({hier}): needs probe accuracy at every scored layer, and at least 3 layers")
        ami, depth = prof["ami"].to_numpy(), prof["rel_depth"].to_numpy()
        early, late = _thirds(ami, depth)
        probe_drop, ami_drop = _largest_drop(acc), _largest_drop(ami)
        best_ami, best_probe = prof["layer"].iloc[int(np.argmax(ami))], prof["layer"].iloc[int(np.argmax(acc))]
        name = f"{arch} {hier}, factor {factor}"
        cells.append(
            f"{name}: AMI first third {early:.3f}, last third {late:.3f}; largest drop between consecutive "
            f"layers: AMI {ami_drop:.3f}, probe {probe_drop:.3f}; best layer by AMI {best_ami}, by probe "
            f"{best_probe}"
        )
        if not late > early + margin:
            fails.append(f"for {name} AMI does not rise with depth (last third {late:.3f} vs first {early:.3f})")
        if not probe_drop <= tolerance:
            fails.append(
                f"for {name} probe accuracy is not nearly monotonic (it drops by {probe_drop:.3f} "
                f"between consecutive layers, more than {tolerance:.2f})"
            )
        if not ami_drop > tolerance:
            fails.append(
                f"for {name} AMI is as monotonic as the probe (no drop between consecutive layers "
                f"beyond {tolerance:.2f})"
            )
    seeds = sorted(int(s) for s in scores["seed"].unique())
    if not gate_result.passed:
        verdict, explanation = "inconclusive", _gate_explanation(gate_result)
    elif fails:
        verdict, explanation = "not reproduced", _sentence("; ".join(fails))
    else:
        verdict = "reproduced"
        explanation = (
            f"In every cell AMI rises by more than {margin:.2f} from the first third of the layers to "
            f"the last but drops by more than {tolerance:.2f} somewhere between consecutive layers, "
            f"while probe accuracy never drops by more than {tolerance:.2f}."
        )
    per_hier = int(scores.groupby(["arch", "hierarchy"])["seed"].nunique().min())
    measured = "; ".join(cells) + f". {_seed_text(seeds, per_hier)}. {gate_result.text}"
    return ClaimCheck(
        number=1,
        claim=CLAIMS[1],
        paper=(
            'Sec. 4: "Our clustering metrics and linear probe accuracy both generally increase with depth, but '
            'while linear probe accuracy is nearly monotonic, subclass clustering is not (Figure 1)." Fig. 1 '
            "(ResNet-50, entity-13-shuffled) and D.9 (entity-13)."
        ),
        measured=measured,
        verdict=verdict,
        explanation=explanation,
        seeds=tuple(seeds),
    )


def _largest_drop(profile: np.ndarray) -> float:
    """The largest decrease between consecutive entries of ``profile`` (0 if it never decreases)."""
    return float(max(0.0, np.max(-np.diff(np.asarray(profile, dtype=float)))))


def consistency(
    scores: pd.DataFrame,
    ari: pd.DataFrame,
    accuracy: pd.DataFrame,
    *,
    similar: float = 0.05,
    low: float = 0.5,
    margin: float = 0.1,
    gate: float | None = None,
) -> ClaimCheck:
    """Claim 7: seeds give similar AMI profiles but low cross-seed ARI, except late layers when shuffled.

    Per architecture and factor (a *cell*), with both hierarchies and at least 2 seeds:

    - *similar AMI profiles*: for each hierarchy, the standard deviation of AMI across seeds,
      averaged over layers, is at most ``similar``;
    - *low cross-seed ARI*: on the standard hierarchy the ARI between seeds, averaged over seed pairs
      and layers, is below ``low``;
    - *except late layers when shuffled*: the shuffled hierarchy's mean ARI over the last third of
      the layers exceeds the standard hierarchy's there by more than ``margin``;
    - *especially for the later layers*: the shuffled hierarchy's ARI rises from the first third of
      the layers to the last by more than ``margin`` (a flat, high shuffled ARI, driven by the input
      rather than by depth, does not count).

    The sentence tested (Sec. 8, "Consistency across training runs"): "Figure 8 also demonstrates
    that randomizing subclass-superclass mapping helps boost cluster similarity across training runs
    (bottom right plot), especially for the later layers in the networks."

    The verdict: *inconclusive* if a model is under the accuracy gate or there are fewer than 2
    seeds; else *reproduced* if every cell meets the three conditions; else *not reproduced*.

    Parameters
    ----------
    scores : pandas.DataFrame
        ``arch``, ``hierarchy``, ``seed``, ``layer``, ``rel_depth``, ``factor``, ``ami``.
    ari : pandas.DataFrame
        ARI between the cluster assignments of two seeds: ``arch``, ``hierarchy``, ``factor``,
        ``layer``, ``rel_depth``, ``seed_a``, ``seed_b``, ``ari``.
    accuracy : pandas.DataFrame
        The accuracy table (see :func:`accuracy_gate`).

    Returns
    -------
    ClaimCheck
    """
    _check_columns(scores, ["arch", "hierarchy", "seed", "layer", "rel_depth", "factor", "ami"], "scores")
    _check_columns(ari, ["arch", "hierarchy", "factor", "layer", "rel_depth", "seed_a", "seed_b", "ari"], "ARI")
    gate_result = accuracy_gate(accuracy, gate)
    seeds = sorted(int(s) for s in scores["seed"].unique())
    per_hier = int(scores.groupby(["arch", "hierarchy"])["seed"].nunique().min())
    cells, fails = [], []
    for (arch, factor), g in scores.groupby(["arch", "factor"], sort=True):
        hiers = set(g["hierarchy"])
        if not {"standard", "shuffled"} <= hiers:
            raise ValueError(f"{arch}, factor {factor}: needs both hierarchies, has {sorted(hiers)}")
        name = f"{arch}, factor {factor}"
        sd = {
            h: float(g[g["hierarchy"] == h].groupby("layer")["ami"].std(ddof=1).mean())
            for h in ("standard", "shuffled")
        }
        a = ari[(ari["arch"] == arch) & (ari["factor"] == factor)]
        early_ari, late_ari, mean_ari = {}, {}, {}
        for h in ("standard", "shuffled"):
            prof = a[a["hierarchy"] == h].groupby(["layer", "rel_depth"])["ari"].mean().reset_index()
            if prof.empty:
                raise ValueError(f"{name}: no ARI for the {h} hierarchy")
            mean_ari[h] = float(prof["ari"].mean())
            early_ari[h], late_ari[h] = _thirds(prof["ari"].to_numpy(), prof["rel_depth"].to_numpy())
        cells.append(
            f"{name}: AMI seed sd {sd['standard']:.3f} (standard) and {sd['shuffled']:.3f} (shuffled); mean ARI "
            f"between seeds {mean_ari['standard']:.3f} (standard) and {mean_ari['shuffled']:.3f} (shuffled); "
            f"last-third ARI {late_ari['standard']:.3f} vs {late_ari['shuffled']:.3f}; shuffled ARI first third "
            f"{early_ari['shuffled']:.3f}, last third {late_ari['shuffled']:.3f}"
        )
        if per_hier < 2:
            continue
        if max(sd.values()) > similar:
            fails.append(
                f"for {name} AMI differs across seeds by more than {similar:.2f} on average (sd {max(sd.values()):.3f})"
            )
        if not mean_ari["standard"] < low:
            fails.append(
                f"for {name} the standard hierarchy's ARI between seeds is not low ({mean_ari['standard']:.3f})"
            )
        if not late_ari["shuffled"] > late_ari["standard"] + margin:
            fails.append(
                f"for {name} shuffling does not raise late-layer ARI by more than {margin:.2f} "
                f"({late_ari['shuffled']:.3f} vs {late_ari['standard']:.3f})"
            )
        if not late_ari["shuffled"] > early_ari["shuffled"] + margin:
            fails.append(
                f"for {name} the shuffled hierarchy's ARI does not rise from the first third of the layers "
                f"to the last by more than {margin:.2f} ({early_ari['shuffled']:.3f} to "
                f"{late_ari['shuffled']:.3f})"
            )
    verdict, explanation = _decide(
        gate_result,
        fails,
        [],
        n_seeds=per_hier,
        reproduced=(
            f"In every cell the AMI profiles of the seeds agree (sd <= {similar:.2f}), the standard "
            f"hierarchy's clusters differ between seeds (ARI < {low}), and shuffling makes the late "
            f"layers' clusters agree more (by > {margin:.2f}), its ARI rising from the first third "
            f"of the layers to the last (by > {margin:.2f})."
        ),
        unchecked="The claim compares seeds; this run trained only one per model." if per_hier < 2 else None,
    )
    measured = "; ".join(cells) + f". {_seed_text(seeds, per_hier)}. {gate_result.text}"
    return ClaimCheck(
        number=7,
        claim=CLAIMS[7],
        paper=(
            'Sec. 8: "randomizing subclass-superclass mapping helps boost cluster similarity across training '
            'runs (bottom right plot), especially for the later layers in the networks." '
            "Fig. 8 and H.1-H.3 (entity-13, VGG-16 and ResNet-50, 3 seeds): AMI per layer is much the same "
            "across seeds, but the ARI between two seeds' clusters is low, except in the last layers of "
            "models trained on the shuffled hierarchy."
        ),
        measured=measured,
        verdict=verdict,
        explanation=explanation,
        seeds=tuple(seeds),
    )


def architecture(
    scores: pd.DataFrame,
    accuracy: pd.DataFrame,
    *,
    near: float = 0.01,
    similar: float = 0.05,
    floor: float = 0.045,
    gate: float | None = None,
) -> ClaimCheck:
    """Claim 6: VGG peaks at fc6, ResNet at its last block, batch norm moves VGG's peak earlier at a
    similar maximum, ViT is lower.

    The sentences tested (Sec. 7.1-7.3): "the first fully connected layer (out of three) in VGG-16 is
    where subclass clustering is most aligned with ground truth. In contrast, clusterability tends to
    increase throughout and peak at the end for ResNet-50"; "the maximum AMI attainable across layers
    of VGG-16 does not change with batch normalization, only shifts to an earlier layer"; and (Fig. 7)
    "ViT-B can yield worse clusterability compared to ResNet-50 and VGG-16".

    For each hierarchy scored at the smallest factor, with each family's AMI profile the mean over
    seeds (:func:`paperlib.architecture.peak_layers`), five parts, each checked when its families were
    trained:

    - *VGG peaks at fc6* (family ``vgg``): the best AMI at ``fc6`` or a neighbouring layer is within
      ``near`` of the profile's maximum;
    - *ResNet peaks at its last block* (``resnet``): AMI at the last block (the last probe point
      before the pooled ``penultimate``, ``stage4_block3`` in ResNet-50, where the paper's curves end)
      is within ``near`` of the maximum over the blocks;
    - *batch norm shifts VGG's peak earlier* (``vgg`` and ``vgg_bn``): the peak lies at a smaller
      relative depth than plain VGG's, and the two maxima differ by at most ``similar`` (the paper says
      layer norm behaves differently, so ``vgg_ln`` is reported, not judged);
    - *ViT below ResNet* (``vit``, ``resnet``): ViT's maximum AMI is below ResNet's on every hierarchy;
    - *ViT below VGG when shuffled* (``vit``, ``vgg``, hierarchy ``shuffled``): ViT's maximum is below VGG's.

    A family whose profile never rises above the permutation null makes every part it enters
    inconclusive (a peak of noise says nothing): the null is the ``ami_null`` column when the scores
    carry it (AMI of the same layer's clusters against shuffled subclass labels), else ``floor``. With
    at least 2 seeds, a ViT gap within the seed spread (the larger of the two families' largest
    per-layer standard deviations over seeds) is inconclusive. The verdict: *inconclusive* if a model
    is under the accuracy gate or no part could be checked; else *not reproduced* if a part fails;
    else *inconclusive* if a part holds only within the spread or rests on a profile at the null;
    else *reproduced*.

    Parameters
    ----------
    scores, accuracy : pandas.DataFrame
        The tables of :func:`paperlib.experiment.run` (``family`` column included; ``ami_null`` optional).
    near : float
        How close to the maximum a layer's AMI must be to count as the peak.
    similar : float
        The largest difference of maxima that counts as "does not change" for batch norm.
    floor : float
        The null AMI a profile must rise above when the scores carry no ``ami_null``.
    gate : float
        See :func:`accuracy_gate`.

    Returns
    -------
    ClaimCheck
    """
    from .architecture import peak_layers

    _check_columns(
        scores, ["family", "arch", "hierarchy", "seed", "layer", "depth", "rel_depth", "factor", "ami"], "scores"
    )
    # The layer-normalised VGG is reported, not judged: its accuracy does not gate the parts it is not in.
    judged = accuracy[accuracy["family"] != "vgg_ln"] if "family" in accuracy else accuracy
    gate_result = accuracy_gate(judged if len(judged) else accuracy, gate)
    factor = int(scores["factor"].min())
    at = scores[scores["factor"] == factor]
    seeds = sorted(int(s) for s in at["seed"].unique())
    cells, fails, shaky, checked = [], [], [], set()
    n_seeds = int(at.groupby(["family", "hierarchy"])["seed"].nunique().min())
    for hier, std in at.groupby("hierarchy", sort=False):
        peaks = peak_layers(std).set_index("family")
        prof = std.groupby(["family", "depth", "layer"])["ami"].mean()
        if "ami_null" in std:
            null = std.groupby(["family", "depth", "layer"])["ami_null"].mean()
            above = {f: bool((prof.loc[f] > null.loc[f]).any()) for f in peaks.index}
        else:
            above = {f: bool(float(peaks.loc[f, "peak"]) > floor) for f in peaks.index}
        cells.append(
            f"{hier}: "
            + ", ".join(
                f"{fam} ({r.arch}) peaks at {r.peak_layer} (relative depth {r.peak_rel_depth:.2f}, AMI {r.peak:.3f}"
                + ("" if above[fam] else ", never above the permutation null")
                + ")"
                for fam, r in peaks.iterrows()
            )
        )

        def spread(*fams) -> float:
            return max(float(peaks.loc[f, "max_seed_sd"]) for f in fams) if n_seeds >= 2 else float("nan")

        def at_null(part: str, *fams) -> bool:
            low = [f for f in fams if not above[f]]
            if low:
                shaky.append(
                    f"{hier}: {part} rests on {', '.join(low)}, whose AMI never rises above the permutation null"
                )
            return bool(low)

        if "vgg" in peaks.index:
            p = prof.loc["vgg"].reset_index().sort_values("depth").reset_index(drop=True)
            i6 = p.index[p["layer"] == "fc6"]
            if len(i6):
                checked.add("VGG's peak")
                if not at_null("VGG's peak", "vgg"):
                    i = int(i6[0])
                    best = float(p["ami"].iloc[max(0, i - 1) : i + 2].max())
                    gap = float(peaks.loc["vgg", "peak"]) - best
                    if gap > near:
                        fails.append(
                            f"{hier}: plain VGG peaks at {peaks.loc['vgg', 'peak_layer']}, {gap:.3f} above fc6 "
                            "and its neighbours"
                        )
        if "resnet" in peaks.index:
            checked.add("ResNet's peak")
            p = prof.loc["resnet"].reset_index().sort_values("depth")
            p = p[p["layer"] != "penultimate"]
            if not at_null("ResNet's peak", "resnet"):
                top = p.loc[p["ami"].idxmax()]
                gap = float(top["ami"] - p["ami"].iloc[-1])
                if gap > near:
                    fails.append(
                        f"{hier}: ResNet's blocks peak at {top['layer']}, {gap:.3f} above its "
                        f"last block {p['layer'].iloc[-1]}"
                    )
        if "vgg_bn" in peaks.index and "vgg" in peaks.index:
            checked.add("the batch-normalised VGG's peak")
            if not at_null("the batch-normalised VGG's peak", "vgg", "vgg_bn"):
                d, d0 = float(peaks.loc["vgg_bn", "peak_rel_depth"]), float(peaks.loc["vgg", "peak_rel_depth"])
                m, m0 = float(peaks.loc["vgg_bn", "peak"]), float(peaks.loc["vgg", "peak"])
                if not d < d0:
                    fails.append(
                        f"{hier}: the batch-normalised VGG (vgg_bn) peaks at relative depth {d:.2f}, not "
                        f"earlier than plain VGG ({d0:.2f})"
                    )
                if abs(m - m0) > similar:
                    fails.append(
                        f"{hier}: the batch-normalised VGG's maximum AMI {m:.3f} differs from plain VGG's "
                        f"{m0:.3f} by more than {similar:.2f}"
                    )
        for other, only in (("resnet", None), ("vgg", "shuffled")):
            if "vit" not in peaks.index or other not in peaks.index or (only and hier != only):
                continue
            label = {"resnet": "ResNet", "vgg": "VGG"}[other]
            checked.add(f"ViT below {label}" + (" when shuffled" if only else ""))
            if at_null(f"ViT below {label}", "vit", other):
                continue
            gap = float(peaks.loc[other, "peak"] - peaks.loc["vit", "peak"])
            if gap <= 0:
                fails.append(
                    f"{hier}: ViT's peak AMI {peaks.loc['vit', 'peak']:.3f} is not below {label}'s "
                    f"{peaks.loc[other, 'peak']:.3f}"
                )
            elif gap <= spread("vit", other):
                shaky.append(
                    f"{hier}: ViT's peak is below {label}'s by {gap:.3f}, within the seed spread "
                    f"{spread('vit', other):.3f}"
                )
    verdict, explanation = _decide(
        gate_result,
        fails,
        shaky,
        f"Every part checked holds ({', '.join(sorted(checked))}).",
        n_seeds=n_seeds,
        unchecked=None if checked else "None of the parts could be checked with the families trained.",
    )
    measured = (
        f"Factor {factor}, AMI mean over seeds; "
        + "; ".join(cells)
        + f". {_seed_text(seeds, n_seeds)}. {gate_result.text}"
    )
    return ClaimCheck(
        number=6,
        claim=CLAIMS[6],
        paper=(
            'Sec. 7.1: "the first fully connected layer (out of three) in VGG-16 is where subclass clustering is '
            "most aligned with ground truth. In contrast, clusterability tends to increase throughout and peak at "
            'the end for ResNet-50"; Sec. 7.2: "the maximum AMI attainable across layers of VGG-16 does not '
            'change with batch normalization, only shifts to an earlier layer" (layer normalisation behaves '
            'differently); Fig. 7 (entity-13 and entity-13-shuffled, 3 seeds): "ViT-B can yield worse '
            'clusterability compared to ResNet-50 and VGG-16".'
        ),
        measured=measured,
        verdict=verdict,
        explanation=explanation,
        seeds=tuple(seeds),
    )


def transfer(
    ood: pd.DataFrame,
    accuracy: pd.DataFrame,
    *,
    small: float = 0.05,
    margin: float = 0.01,
    overlaps: dict[str, bool] | None = None,
    gate: float | None = None,
) -> ClaimCheck:
    """Claim 3: subclass labels help out-of-distribution clustering only a little over superclass
    labels, except on a set whose classes overlap the training subclasses (Pets).

    The sentences tested (Sec. 6.1): "Although using subclass labels during pre-training generally
    improves cluster purity in downstream datasets compared to using superclass labels, this
    improvement tends to be relatively small (Figure 3). [...] The only exception to this observation
    is Oxford-IIIT Pets, which also involves fine-grained classification and whose classes directly
    overlap with the subclasses in entity-13 and living-17".

    Per architecture and set, the *gain* is the mean purity over factors of the model trained on
    subclass labels (``hierarchy == "subclass"``) minus that of the model trained on the standard
    superclass labels, each the mean over seeds. Each set is flagged as overlapping the training
    subclasses or not by ``overlaps`` (default :data:`paperlib.names.OVERLAPS_TRAINING`: Pets at
    ``paper``, ``synthetic_overlap`` at ``smoke``). On every other set the claim asks for a small
    non-negative gain: at least ``-margin`` ("generally improves") and below ``small``; on an
    overlapping set (when one was scored), a gain above every other set's by more than ``margin``.
    With at least 2 seeds a gain within the seed spread of ``small`` (the two models' standard
    deviations over seeds, summed) is *within the spread*. The verdict: *inconclusive* if a model is
    under the accuracy gate; else *not reproduced* if a part fails; else *inconclusive* if a part holds
    only within the spread; else *reproduced*. Without an overlapping set the exception is not checked,
    and the text says so.

    Parameters
    ----------
    ood : pandas.DataFrame
        :func:`paperlib.transfer.transfer_grid`'s scores with ``hierarchy`` ``"standard"`` and
        ``"subclass"`` (``arch``, ``seed``, ``set``, ``factor``, ``purity``).
    accuracy : pandas.DataFrame
        Accuracy of every model (see :func:`accuracy_gate`; a subclass model's chance level is one over
        its number of subclasses).
    small, margin : float
        The largest gain that counts as small, and the tolerance below zero and above the other sets.
    overlaps : dict of str to bool, optional
        Per set, whether its classes overlap the training subclasses.
    gate : float, optional
        The accuracy gate.

    Rows of self-supervised models (``loss`` in :data:`paperlib.names.SELF_SUPERVISED`, BYOL) are context,
    not part of the claim: they are left out of both tables here (:func:`self_supervised_context` states them).
    """
    _check_columns(ood, ["arch", "hierarchy", "seed", "set", "factor", "purity"], "out-of-distribution")
    overlaps = names.OVERLAPS_TRAINING if overlaps is None else overlaps
    ood, accuracy = (t[~t["loss"].isin(names.SELF_SUPERVISED)] if "loss" in t else t for t in (ood, accuracy))
    gate_result = accuracy_gate(accuracy, gate)
    seeds = sorted(int(s) for s in ood["seed"].unique())
    cells, fails, shaky, gains = [], [], [], {}
    for (arch, name), g in ood.groupby(["arch", "set"], sort=True):
        st = _per_seed_means(g, ["hierarchy"], "purity").set_index("hierarchy")
        if not {"standard", "subclass"} <= set(st.index):
            raise ValueError(
                f"{arch} on {name}: needs models trained on standard and on subclass labels, has {sorted(st.index)}"
            )
        gain = float(st.loc["subclass", "mean"] - st.loc["standard", "mean"])
        n = int(st["count"].min())
        spread = float(st.loc["subclass", "std"] + st.loc["standard", "std"]) if n >= 2 else None
        gains[(arch, name)] = gain
        flag = " (overlaps the training subclasses)" if overlaps.get(name, False) else ""
        cells.append(
            f"{arch} on {name}{flag}: superclass labels {st.loc['standard', 'mean']:.3f}, subclass labels "
            f"{st.loc['subclass', 'mean']:.3f}, gain {gain:+.3f}" + (f" (seed spread {spread:.3f})" if spread else "")
        )
        if overlaps.get(name, False):
            continue
        if gain >= small:
            fails.append(f"on {name} ({arch}) subclass labels raise purity by {gain:.3f}, not less than {small:.2f}")
        elif gain < -margin:
            fails.append(
                f"on {name} ({arch}) subclass labels lower purity ({gain:+.3f}), where the paper says they "
                "generally improve it"
            )
        elif spread is not None and small - gain <= spread:
            shaky.append(
                f"on {name} ({arch}) the gain {gain:+.3f} lies within the seed spread {spread:.3f} of {small:.2f}"
            )
    special = {(a, n): v for (a, n), v in gains.items() if overlaps.get(n, False)}
    for (arch, name), gain in special.items():
        others = [v for (a, n), v in gains.items() if a == arch and not overlaps.get(n, False)]
        if others and gain <= max(others) + margin:
            fails.append(
                f"on {name} ({arch}), which overlaps the training subclasses, the gain {gain:+.3f} is not "
                f"above the other sets' (at most {max(others):+.3f}) by more than {margin:.2f}"
            )
    n_seeds = int(ood.groupby(["arch", "hierarchy"])["seed"].nunique().min())
    none = (
        ""
        if special
        else " No set that overlaps the training subclasses (Pets or its analogue) was scored at "
        "this scale, so the exception is not checked."
    )
    verdict, explanation = _decide(
        gate_result,
        fails,
        shaky,
        (
            f"Subclass labels raise out-of-distribution purity by a small non-negative amount (below {small:.2f}) on "
            f"every set{'' if not special else ' but the one overlapping the training subclasses, where the gain is largest'}."
            + none
        ),
        n_seeds=n_seeds,
    )
    if verdict != "reproduced":
        explanation += none
    measured = (
        "Mean purity over factors, mean over seeds; "
        + "; ".join(cells)
        + f". {_seed_text(seeds, n_seeds)}. {gate_result.text}"
    )
    return ClaimCheck(
        number=3,
        claim=CLAIMS[3],
        paper=(
            'Sec. 6.1: "using subclass labels during pre-training generally improves cluster purity in '
            "downstream datasets compared to using superclass labels, this improvement tends to be relatively "
            "small (Figure 3). [...] The only exception to this observation is Oxford-IIIT Pets, [...] whose "
            'classes directly overlap with the subclasses in entity-13 and living-17". Fig. 3: ResNet-50 '
            "trained on entity-13, living-17 and nonliving-26."
        ),
        measured=measured,
        verdict=verdict,
        explanation=explanation,
        seeds=tuple(seeds),
    )


def self_supervised_context(ood: pd.DataFrame, accuracy: pd.DataFrame, *, margin: float = 0.01) -> str:
    """What the self-supervised (BYOL) model shows beside claim 3's two supervised ones, as a sentence.

    Per architecture and set, the mean purity over factors (mean over seeds) of the BYOL model, of the
    model trained on superclass labels and of the one trained on subclass labels, where BYOL stands among
    them, and BYOL's accuracy with what it is (its linear readout, ``accuracy_of``).

    Parameters
    ----------
    ood : pandas.DataFrame
        :func:`paperlib.transfer.transfer_grid`'s scores (``arch``, ``training``, ``seed``, ``set``,
        ``factor``, ``purity``).
    accuracy : pandas.DataFrame
        Its accuracy table (``arch``, ``training``, ``accuracy``, ``accuracy_of``).
    margin : float
        Purity differences within it are "level with" (as claims 4 and 5 count a floor-level gap as none).

    Returns
    -------
    str
        Plain prose; a sentence saying no self-supervised model ran when the tables hold none.
    """
    _check_columns(ood, ["arch", "training", "seed", "set", "factor", "purity"], "out-of-distribution")
    ssl = [t for t in names.SELF_SUPERVISED if t in set(ood["training"])]
    if not ssl:
        return "No self-supervised model ran here (parameter byol = False), so the figure compares the two supervised ones."
    words = {"standard": "superclass labels", "subclass": "subclass labels", "shuffled": "shuffled superclass labels"}
    parts = []
    for (arch, name), g in ood.groupby(["arch", "set"], sort=True):
        st = _per_seed_means(g, ["training"], "purity").set_index("training")["mean"]
        for obj in ssl:
            if obj not in st:
                continue
            others = {k: float(v) for k, v in st.items() if k not in names.SELF_SUPERVISED}
            side = {
                k: "above" if st[obj] > v + margin else "below" if st[obj] < v - margin else "level with"
                for k, v in others.items()
            }
            if len(set(side.values())) == 1:
                place = {
                    "above": "above every supervised model",
                    "below": "below every supervised model",
                    "level with": f"level with every supervised model (within {margin})",
                }[next(iter(side.values()))]
            else:
                place = "; ".join(
                    f"{w} the model trained on {' and '.join(words.get(k, k) for k in side if side[k] == w)}"
                    for w in ("above", "level with", "below")
                    if w in side.values()
                )
            vs = ", ".join(f"{v:.3f} with {words.get(k, k)}" for k, v in others.items())
            parts.append(f"on {name} ({arch}) {obj.upper()} reaches {st[obj]:.3f}, against {vs}: {place}")
    acc = accuracy[accuracy["training"].isin(ssl)] if "training" in accuracy else accuracy.iloc[0:0]
    acc_text = "; ".join(f"{r.arch} {r.accuracy:.3f}" for r in acc.itertuples())
    of = str(acc["accuracy_of"].iloc[0]) if "accuracy_of" in acc and len(acc) else "linear readout"
    return _sentence("Mean purity over factors, mean over seeds: " + "; ".join(parts)) + (
        f" Its superclass accuracy, from a {of}, is {acc_text} on the validation split." if acc_text else ""
    )


def _per_seed_means(df: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean of ``value`` per ``by`` + seed, then mean and standard deviation over seeds (``ddof=1``)."""
    per = df.groupby(by + ["seed"])[value].mean().reset_index()
    return per.groupby(by)[value].agg(["mean", "std", "count"]).reset_index()


def squared_error(
    scores: pd.DataFrame,
    ood: pd.DataFrame,
    accuracy: pd.DataFrame,
    *,
    margin: float = 0.01,
    tolerance: float = 0.02,
    last: int = 3,
    gate: float | None = None,
) -> ClaimCheck:
    """Claim 4: squared error matches softmax in distribution except in the last layers, and lowers
    clusterability out of distribution.

    The sentences tested (Sec. 6.2, "Squared error versus Softmax cross-entropy"): "We find that
    squared error produces similar clustering performance as softmax, except for at the last few
    layers of the network where squared loss sees a drop in AMI." and "we find that squared error also
    leads to significantly lower clusterability out-of-distribution".

    Comparisons of squared error against softmax cross-entropy, each on means over seeds:

    - *in distribution*, per architecture and hierarchy (every hierarchy that ran with both losses,
      others skipped; smallest factor scored), layers in order of depth: the mean AMI over the last ``last`` layers
      (at most a third of them) is lower with squared error (*the drop*), and over the earlier layers
      the two losses' mean AMI differ by at most ``tolerance`` (*similar*; a uniform shift fails);
    - *out of distribution*, per architecture and set: the mean purity over factors is lower with
      squared error.

    A lower-with-squared-error comparison *holds* when squared error is lower by more than ``margin``
    and *fails* when it is higher by more than ``margin``; a gap within ``margin`` (both at the floor,
    say) decides nothing. With at least 2 seeds a comparison that holds by less than the seed spread
    (the two losses' standard deviations over seeds of the per-seed means, summed) is *within the
    spread*. The verdict: *inconclusive* if a model is under the accuracy gate; else *not reproduced*
    if any comparison fails; else *inconclusive* if any is within ``margin`` or the spread; else
    *reproduced*.

    Parameters
    ----------
    scores : pandas.DataFrame
        :func:`paperlib.experiment.run`'s scores with both losses (``arch``, ``hierarchy``, ``loss``,
        ``seed``, ``layer``, ``rel_depth``, ``factor``, ``ami``).
    ood : pandas.DataFrame
        :func:`paperlib.transfer.transfer_grid`'s scores with both losses (``arch``, ``loss``, ``seed``,
        ``set``, ``factor``, ``purity``).
    accuracy : pandas.DataFrame
        Accuracy of every model involved (see :func:`accuracy_gate`).
    margin, tolerance : float
        The drop that counts, and the largest difference over the earlier layers that counts as similar.
    last : int
        How many of the last layers make "the last few layers" (at most a third of the layers).
    gate : float, optional
        The accuracy gate.

    Returns
    -------
    ClaimCheck
    """
    _check_columns(scores, ["arch", "hierarchy", "loss", "seed", "layer", "rel_depth", "factor", "ami"], "scores")
    _check_columns(ood, ["arch", "loss", "seed", "set", "factor", "purity"], "out-of-distribution")
    gate_result = accuracy_gate(accuracy, gate)
    f0 = int(scores["factor"].min())
    ind = scores[scores["factor"] == f0]
    cells, fails, shaky = [], [], []
    seeds = sorted(int(s) for s in pd.concat([ind["seed"], ood["seed"]]).unique())

    def both(name: str, st: pd.DataFrame) -> pd.DataFrame:
        st = st.set_index("loss")
        if not {"softmax", "squared_error"} <= set(st.index):
            raise ValueError(f"{name}: needs softmax and squared_error, has {sorted(st.index)}")
        return st

    def compare(name: str, stats: pd.DataFrame, what: str) -> None:
        st = both(name, stats)
        a, b = float(st.loc["softmax", "mean"]), float(st.loc["squared_error", "mean"])
        n = int(st["count"].min())
        spread = float(st.loc["softmax", "std"] + st.loc["squared_error", "std"]) if n >= 2 else None
        cells.append(
            f"{name}: {what} softmax {a:.3f}, squared error {b:.3f}"
            + (f" (seed spread {spread:.3f})" if spread is not None else "")
        )
        if b - a > margin:
            fails.append(f"for {name} squared error gives {what} {b:.3f}, above softmax's {a:.3f}")
        elif a - b <= margin:
            shaky.append(f"for {name} squared error and softmax differ by {a - b:+.3f}, within {margin:.2f}")
        elif spread is not None and a - b <= spread:
            shaky.append(f"for {name} squared error is lower by {a - b:.3f}, within the seed spread {spread:.3f}")

    pairs = {k for k, g in ind.groupby(["arch", "hierarchy"]) if {"softmax", "squared_error"} <= set(g["loss"])}
    lone = sorted(set(ind["arch"]) - {a for a, _ in pairs})
    if lone:
        raise ValueError(f"{lone}: no hierarchy has both softmax and squared_error in distribution")
    for (arch, hier), g in ind.groupby(["arch", "hierarchy"], sort=True):
        if (arch, hier) not in pairs:
            continue  # a hierarchy that ran with one loss only
        order = g.groupby("layer")["rel_depth"].first().sort_values().index
        n_last = max(1, min(last, len(order) // 3))
        late_layers = set(order[len(order) - n_last :])
        late = g[g["layer"].isin(late_layers)]
        compare(
            f"{arch} {hier} in distribution",
            _per_seed_means(late, ["loss"], "ami"),
            f"mean AMI over the last {n_last} layers (factor {f0})",
        )
        early = both(f"{arch} {hier}", _per_seed_means(g[~g["layer"].isin(late_layers)], ["loss"], "ami"))
        gap = float(early.loc["softmax", "mean"] - early.loc["squared_error", "mean"])
        cells.append(
            f"{arch} {hier}: mean AMI over the {len(order) - n_last} earlier layers differs by {gap:+.3f} "
            "(softmax minus squared error)"
        )
        if abs(gap) > tolerance:
            fails.append(
                f"for {arch} {hier} squared error differs from softmax in the earlier layers too "
                f"({gap:+.3f}, beyond {tolerance:.2f}), not only in the last ones"
            )
    for (arch, name), g in ood.groupby(["arch", "set"], sort=True):
        compare(f"{arch} on {name}", _per_seed_means(g, ["loss"], "purity"), "mean purity over factors")
    n_seeds = int(ind.groupby(["arch", "loss"])["seed"].nunique().min())
    verdict, explanation = _decide(
        gate_result,
        fails,
        shaky,
        (
            f"Squared error matches softmax over the earlier layers (within {tolerance:.2f}), is below it in the last "
            "layers, and is below it on every out-of-distribution set."
        ),
        n_seeds=n_seeds,
    )
    measured = "; ".join(cells) + f". {_seed_text(seeds, n_seeds)}. {gate_result.text}"
    return ClaimCheck(
        number=4,
        claim=CLAIMS[4],
        paper=(
            'Sec. 6.2: "squared error produces similar clustering performance as softmax, except for at the last '
            'few layers of the network where squared loss sees a drop in AMI", and "squared error also leads '
            'to significantly lower clusterability out-of-distribution". Fig. 4 (ResNet-50, living-17), F.2 '
            "(entity-13-shuffled), Figs. 5, 6 and F.1 out of distribution."
        ),
        measured=measured,
        verdict=verdict,
        explanation=explanation,
        seeds=tuple(seeds),
    )


#: The losses claim 5 names as able to beat softmax out of distribution (Fig. 6).
CHALLENGERS = ("dropout", "label_smoothing", "sigmoid")


def loss_ranking(
    ood: pd.DataFrame, accuracy: pd.DataFrame, *, margin: float = 0.01, gate: float | None = None
) -> ClaimCheck:
    """Claim 5: softmax is not the best loss for clustering out of distribution; squared error is the worst.

    The sentences tested (Sec. 6.3): "We again find that the clustering performance from using models
    trained with squared error is significantly worse than from models trained with other objective
    functions." and "our clustering evaluation shows that softmax can yield inferior clusters compared
    to other loss functions, especially on the Oxford-IIIT Pets classification task."

    Per architecture and set, each loss's mean purity over factors, then its mean over seeds. Two
    conditions:

    - *can beat*: on at least one (architecture, set) pair one of :data:`CHALLENGERS` (dropout,
      label smoothing, sigmoid) is above softmax by more than ``margin`` and by more than the seed
      spread (the two losses' standard deviations over seeds, summed);
    - *squared error the worst*: on every pair squared error's purity is the lowest of all losses.

    The verdict: *inconclusive* if a model is under the accuracy gate, a challenger or squared error
    is missing, or only one seed ran (no spread to beat); else *not reproduced* if squared error is
    not the lowest somewhere, or no challenger is above softmax anywhere; else *inconclusive* if a
    challenger leads only within the margin or the spread; else *reproduced*. The measured text ranks
    every loss.
    """
    _check_columns(ood, ["arch", "loss", "seed", "set", "factor", "purity"], "out-of-distribution")
    gate_result = accuracy_gate(accuracy, gate)
    seeds = sorted(int(s) for s in ood["seed"].unique())
    missing = [c for c in ("softmax",) + CHALLENGERS + ("squared_error",) if c not in set(ood["loss"])]
    cells, wins, close, not_worst = [], [], [], []
    for (arch, name), g in ood.groupby(["arch", "set"], sort=True):
        st = _per_seed_means(g, ["loss"], "purity").set_index("loss").sort_values("mean", ascending=False)
        rank = ", ".join(f"{lo} {m:.3f}" for lo, m in st["mean"].items())
        where = list(st.index).index("softmax") + 1 if "softmax" in st.index else None
        cells.append(f"{arch} on {name}: " + rank + (f" (softmax ranks {where} of {len(st)})" if where else ""))
        if "squared_error" in st.index and st.index[-1] != "squared_error":
            not_worst.append(
                f"on {name} ({arch}) squared error ({st.loc['squared_error', 'mean']:.3f}) is not the "
                f"lowest ({st.index[-1]} {st['mean'].iloc[-1]:.3f})"
            )
        if "softmax" not in st.index:
            continue
        a = float(st.loc["softmax", "mean"])
        best = max((c for c in CHALLENGERS if c in st.index), key=lambda c: st.loc[c, "mean"], default=None)
        if best is None:
            continue
        lead = float(st.loc[best, "mean"]) - a
        n = int(st.loc[["softmax", best], "count"].min())
        spread = float(st.loc["softmax", "std"] + st.loc[best, "std"]) if n >= 2 else 0.0
        if lead > max(spread, margin):
            wins.append(f"on {name} ({arch}) {best} beats softmax by {lead:.3f} (seed spread {spread:.3f})")
        elif lead > 0:
            close.append(
                f"on {name} ({arch}) {best} is above softmax by only {lead:.3f} (margin {margin:.2f}, "
                f"seed spread {spread:.3f})"
            )
    n_seeds = int(ood.groupby(["arch", "loss"])["seed"].nunique().min())
    if not gate_result.passed:
        verdict, explanation = "inconclusive", _gate_explanation(gate_result)
    elif missing:
        verdict, explanation = "inconclusive", f"The losses {missing} were not trained, so the claim cannot be judged."
    elif n_seeds < 2:
        verdict = "inconclusive"
        explanation = "With 1 seed there is no spread to beat, so 'can beat' cannot be told from seed noise" + (
            f" ({_sentence('; '.join(wins + close))[:-1]})." if wins or close else "."
        )
    elif not_worst:
        verdict, explanation = "not reproduced", _sentence("; ".join(not_worst))
    elif wins:
        verdict, explanation = "reproduced", _sentence("; ".join(wins)) + " Squared error is the lowest on every set."
    elif close:
        verdict, explanation = "inconclusive", _sentence("; ".join(close))
    else:
        verdict = "not reproduced"
        explanation = "Softmax is at least as good as dropout, label smoothing and sigmoid on every set."
    measured = (
        "Mean purity over factors, mean over seeds, best first: "
        + "; ".join(cells)
        + f". {_seed_text(seeds, n_seeds)}. {gate_result.text}"
    )
    return ClaimCheck(
        number=5,
        claim=CLAIMS[5],
        paper=(
            'Sec. 6.3: "softmax can yield inferior clusters compared to other loss functions, especially on the '
            'Oxford-IIIT Pets classification task"; squared error "is significantly worse than" the other '
            "objectives. Fig. 6 evaluates Kornblith et al. 2021's released ResNet-50 checkpoints, trained on all "
            "of ImageNet with nine losses; here every loss is trained on the book's own training hierarchy "
            "instead (a substitution)."
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
