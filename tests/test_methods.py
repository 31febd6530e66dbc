"""App. B-C helpers: method purity against scikit-learn run by hand, and the metric agreement."""

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import AgglomerativeClustering, KMeans

from paperlib import methods


def _world(seed=0):
    """Two superclasses x 3 subclasses of Gaussian blobs, subclass means 6 apart."""
    rng = np.random.default_rng(seed)
    X, sub, sup = [], [], []
    for s in range(2):
        for c in range(3):
            X.append(rng.normal(size=(20, 5)) + 6.0 * np.eye(5)[c] + 10 * s)
            sub += [3 * s + c] * 20
            sup += [s] * 20
    return np.vstack(X), np.array(sub), np.array(sup)


def _purity_by_hand(y, lab):
    return sum(np.bincount(y[lab == c]).max() for c in np.unique(lab)) / len(y)


@pytest.mark.parametrize("method", ["kmeans", "ward", "average", "complete", "single"])
def test_method_purity_matches_sklearn_per_superclass_mean(method):
    X, sub, sup = _world()
    got = methods.method_purity(X, sub, sup, factors=(1, 2), methods=[method])
    for f in (1, 2):
        want = []
        for s in (0, 1):
            i = sup == s
            model = (
                KMeans(3 * f, n_init=10, random_state=0)
                if method == "kmeans"
                else AgglomerativeClustering(3 * f, linkage=method)
            )
            want.append(_purity_by_hand(sub[i], model.fit_predict(X[i])))
        assert got.query("factor == @f")["purity"].item() == pytest.approx(np.mean(want))


def test_method_purity_separates_easy_from_noise():
    X, sub, sup = _world()
    easy = methods.method_purity(X, sub, sup, methods=["ward"])["purity"].item()
    noise = methods.method_purity(np.random.default_rng(1).normal(size=X.shape), sub, sup, methods=["ward"])[
        "purity"
    ].item()
    assert easy > 0.95 and noise < 0.7


def test_method_purity_rejects_unknown_method_and_lengths():
    X, sub, sup = _world()
    with pytest.raises(ValueError, match="valid: \\['kmeans'"):
        methods.method_purity(X, sub, sup, methods=["dbscan"])
    with pytest.raises(ValueError, match="differ in length"):
        methods.method_purity(X[:-1], sub, sup)


def test_metric_agreement_spearman():
    df = pd.DataFrame(
        {
            "layer": list("abcd") * 2,
            "factor": [1] * 4 + [2] * 4,
            "ami": [0.1, 0.2, 0.3, 0.4, 0.4, 0.3, 0.2, 0.1],
            "purity": [0.5, 0.6, 0.7, 0.9, 0.5, 0.6, 0.7, 0.9],
        }
    )
    out = methods.metric_agreement(df).set_index("factor")["spearman"]
    assert out[1] == pytest.approx(1.0) and out[2] == pytest.approx(-1.0)


def test_chance_purity_hand_worked_two_pairs():
    # 4 images, classes [0, 0, 1, 1], two clusters of 2: of the 3 equally likely pairings one is pure
    # (purity 1) and two mix (purity 1/2), so the expected chance purity is (1 + 1/2 + 1/2) / 3 = 2/3.
    got = methods.chance_purity([0, 0, 1, 1], ["a", "a", "b", "b"], n_permutations=3000, seed=0)
    assert got == pytest.approx(2 / 3, abs=0.02)


def test_chance_purity_is_the_mean_over_the_seeded_permutations():
    rng = np.random.default_rng(3)
    y, lab = rng.integers(0, 4, 50), rng.integers(0, 6, 50)
    perm_rng = np.random.default_rng(7)
    want = np.mean([_purity_by_hand(y, perm_rng.permutation(lab)) for _ in range(5)])
    assert methods.chance_purity(y, lab, n_permutations=5, seed=7) == pytest.approx(want)
    assert methods.chance_purity(y, lab, n_permutations=5, seed=7) == methods.chance_purity(
        y, lab, n_permutations=5, seed=7
    )
    with pytest.raises(ValueError, match="n_permutations"):
        methods.chance_purity(y, lab, n_permutations=0)
    with pytest.raises(ValueError, match="differ|length"):
        methods.chance_purity(y, lab[:-1])


def test_method_purity_reports_chance_and_ami_per_superclass_mean():
    from sklearn.metrics import adjusted_mutual_info_score

    X, sub, sup = _world()
    got = methods.method_purity(X, sub, sup, methods=["ward"], n_permutations=4, seed=1).iloc[0]
    chance, ami = [], []
    for s in (0, 1):
        i = sup == s
        lab = AgglomerativeClustering(3, linkage="ward").fit_predict(X[i])
        rng = np.random.default_rng(1)
        chance.append(np.mean([_purity_by_hand(sub[i], rng.permutation(lab)) for _ in range(4)]))
        ami.append(adjusted_mutual_info_score(sub[i], lab))
    assert got["chance_purity"] == pytest.approx(np.mean(chance))
    assert got["ami"] == pytest.approx(np.mean(ami))
    # separable blobs: purity and AMI far above chance; chance of 3 equal clusters of 3 equal classes is low
    assert got["purity"] - got["chance_purity"] > 0.4 and got["ami"] > 0.9
