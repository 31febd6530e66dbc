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


def test_chance_purity_is_the_exact_permutation_mean_and_ami_is_sklearns():
    import itertools

    from sklearn.metrics import adjusted_mutual_info_score

    # One superclass, two subclasses of 3 and 4 images; Ward with factor 1 finds two clusters. The chance
    # level is the purity of those clusters' labels permuted over the 7 images: enumerated exactly here.
    X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2], [5.3]])
    sub = np.array([0, 0, 0, 1, 1, 1, 0])  # the last image of subclass 0 sits among subclass 1
    sup = np.zeros(7, int)
    got = methods.method_purity(X, sub, sup, methods=["ward"], n_permutations=3000, seed=1).iloc[0]
    lab = AgglomerativeClustering(2, linkage="ward").fit_predict(X)
    assert got["purity"] == pytest.approx(_purity_by_hand(sub, lab))
    exact = np.mean([_purity_by_hand(sub, np.array(p)) for p in itertools.permutations(lab)])
    assert got["chance_purity"] == pytest.approx(exact, abs=0.01)
    assert got["chance_purity"] < got["purity"]
    assert got["ami"] == pytest.approx(adjusted_mutual_info_score(sub, lab))
    with pytest.raises(ValueError, match="n_permutations"):
        methods.method_purity(X, sub, sup, n_permutations=0)
