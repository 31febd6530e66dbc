"""The cluster view and browser (paperlib.browser) and the ARI table of a grid, on hand-made evaluations."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from paperlib import browser, consistency, metrics  # noqa: E402
from paperlib.data import Split  # noqa: E402
from paperlib.experiment import Evaluation  # noqa: E402
from paperlib.hierarchy import Hierarchy  # noqa: E402

H = Hierarchy("toy", ("round", "square"), ((0, 1), (2, 3)), ("a", "b", "c", "d"))


def _evaluation(seed: int) -> Evaluation:
    rng = np.random.default_rng(seed)
    subclass = np.repeat([0, 1, 2, 3], 10)
    superclass = H.superclass_labels(subclass)
    # layer "l0": random clusters; "l1": exactly the subclasses; factors (1, 2)
    l0 = np.stack([rng.integers(0, 2, 40) + 10_000 * superclass, rng.integers(0, 4, 40) + 10_000 * superclass])
    l1 = np.stack([subclass % 2 + 10_000 * superclass, subclass % 2 + 10_000 * superclass])
    return Evaluation(
        scores=pd.DataFrame(),
        per_superclass=pd.DataFrame(),
        accuracy=1.0,
        assignments={"l0": l0.astype(np.int32), "l1": l1.astype(np.int32)},
        subclass=subclass,
        superclass=superclass,
        penultimate=np.zeros((40, 2), np.float32),
    )


def _split() -> Split:
    g = torch.Generator().manual_seed(0)
    return Split(
        "toy",
        "val",
        np.repeat([0, 1, 2, 3], 10),
        images=torch.randint(0, 255, (40, 3, 8, 8), generator=g, dtype=torch.uint8),
    )


def test_cluster_view_draws_the_chosen_superclass_with_its_scores():
    m = browser.Clustered(_evaluation(0), H, _split(), [1, 2])
    fig = browser.cluster_view(m, "l1", "square", n_per_cluster=4)
    title = fig._suptitle.get_text()
    assert "'square', l1, factor 1: AMI 1.00, purity 1.00" in title
    shown = {ax.get_title() for ax in fig.axes if ax.get_title()}
    assert shown == {"c", "d"}  # the square superclass's subclasses only, each row one subclass
    assert sum(1 for ax in fig.axes if ax.images) == 8  # 2 clusters x 4 images
    ev = m.evaluation
    idx = ev.superclass == 0
    want = metrics.ami(ev.subclass[idx], ev.assignments["l0"][1, idx])
    assert f"factor 2: AMI {want:.2f}" in browser.cluster_view(m, "l0", 0, factor=2)._suptitle.get_text()
    for bad, match in (
        (dict(layer="nope"), "unknown layer"),
        (dict(layer="l1", superclass="oval"), "unknown superclass"),
        (dict(layer="l1", factor=3), "factor 3 was not evaluated"),
    ):
        with pytest.raises(ValueError, match=match):
            browser.cluster_view(m, **bad)


def test_cluster_browser_builds_widgets():
    m = browser.Clustered(_evaluation(0), H, _split(), [1, 2])
    view = browser.cluster_browser(
        {"toy seed 0": m, "toy seed 1": browser.Clustered(_evaluation(1), H, _split(), [1, 2])}
    )
    dropdowns = [w for box in view.children[:2] for w in box.children]
    assert [d.description for d in dropdowns] == ["model", "layer", "superclass", "factor"]
    dropdowns[1].value = "l0"  # redraws without error
    dropdowns[0].value = "toy seed 1"


def test_ari_table_pairs_the_seeds_of_each_model():
    evals = {("arch", "standard", s, "softmax"): _evaluation(s) for s in (0, 1, 2)}
    evals[("arch", "shuffled", 0, "softmax")] = _evaluation(5)  # one seed: no pair, no rows
    table = consistency.ari_table(evals, [1, 2])
    assert set(table["hierarchy"]) == {"standard"}
    assert len(table) == 3 * 2 * 2  # pairs x layers x factors
    l1 = table[table["layer"] == "l1"]
    assert (l1["ari"] == 1.0).all()  # the same clusters in every seed
    e0, e1 = evals[("arch", "standard", 0, "softmax")], evals[("arch", "standard", 1, "softmax")]
    want = np.mean(
        [
            adjusted_rand_score(
                e0.assignments["l0"][0, e0.superclass == s], e1.assignments["l0"][0, e1.superclass == s]
            )
            for s in (0, 1)
        ]
    )
    got = table.query("layer == 'l0' and factor == 1 and seed_a == 0 and seed_b == 1")["ari"].item()
    assert got == pytest.approx(want)
