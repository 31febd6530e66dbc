"""Checks of the paper's claims against what a notebook measured.

Each check takes the tidy score tables of :func:`paperlib.experiment.run`, decides whether the
paper's claim holds at the scale that ran, and says so in words the book prints and glues.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = ["ClaimCheck", "CLAIMS", "shuffling"]

CLAIMS = {
    1: "Clusterability rises with depth but is not aligned with linear-probe accuracy (Fig. 1).",
    2: "Shuffled hierarchies raise subclass AMI, most near the end of the network (Fig. 2).",
    3: "Subclass labels help OOD clustering only a little over superclass labels, except on Pets (Fig. 3).",
    4: "Squared error lowers clusterability in and out of distribution (Fig. 4-6).",
    5: "Softmax is not the best loss for OOD clustering; dropout, label smoothing, sigmoid can beat it (Fig. 6).",
    6: "VGG peaks at fc6; ResNet-50 peaks at the end; normalisation shifts VGG's peak earlier; ViT is lower (Fig. 7).",
    7: "Seeds give similar AMI profiles but low cross-seed ARI, except late layers when shuffled (Fig. 8).",
}


@dataclass
class ClaimCheck:
    """A claim, what the paper reports, what was measured, and whether it held."""

    number: int
    claim: str
    paper: str
    measured: str
    holds: bool

    @property
    def verdict(self) -> str:
        """``"reproduced"`` or ``"not reproduced"``."""
        return "reproduced" if self.holds else "not reproduced"

    def markdown(self) -> str:
        """The check as a short Markdown block."""
        return (
            f"**Claim {self.number}** ({self.verdict} at this scale): {self.claim}\n\n"
            f"- Paper: {self.paper}\n- Measured: {self.measured}"
        )


def shuffling(scores: pd.DataFrame, late_fraction: float = 1 / 3) -> ClaimCheck:
    """Claim 2: shuffling the hierarchy raises subclass AMI, most near the end of the network.

    For every architecture and factor it takes the AMI gain (shuffled minus standard, mean over
    seeds) at each layer. The claim holds when the mean gain over layers is positive for every
    architecture and factor, and the largest gain lies in the last ``late_fraction`` of the layers.

    Parameters
    ----------
    scores : pandas.DataFrame
        From :func:`paperlib.experiment.run` with both hierarchies: columns ``arch``, ``hierarchy``,
        ``seed``, ``layer``, ``rel_depth``, ``factor``, ``ami``.
    """
    mean = scores.groupby(["arch", "factor", "layer", "rel_depth", "hierarchy"])["ami"].mean().unstack("hierarchy")
    gain = (mean["shuffled"] - mean["standard"]).rename("gain").reset_index()
    parts, ok = [], True
    for (arch, factor), g in gain.groupby(["arch", "factor"]):
        avg = g["gain"].mean()
        best = g.loc[g["gain"].idxmax()]
        late = best["rel_depth"] >= 1 - late_fraction
        ok &= bool(avg > 0 and late)
        parts.append(
            f"{arch}, factor {factor}: mean AMI gain {avg:+.3f}, largest {best['gain']:+.3f} at {best['layer']} "
            f"(relative depth {best['rel_depth']:.2f}{', late' if late else ', not late'})"
        )
    return ClaimCheck(
        number=2,
        claim=CLAIMS[2],
        paper="on entity-13, shuffling raises AMI at every layer of VGG-16 and ResNet-50, most near the end.",
        measured="; ".join(parts) + ".",
        holds=ok,
    )


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
