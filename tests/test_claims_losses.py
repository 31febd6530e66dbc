"""Claims 4 (squared error) and 5 (softmax not the best out of distribution) on hand-made tables."""

import itertools

import pandas as pd

from paperlib import claims


def _ind(amis: dict, seeds=(0,)):
    rows = []
    for (loss, base), s in itertools.product(amis.items(), seeds):
        for i, layer in enumerate(["a", "b", "c"]):
            rows.append(dict(arch="resnet_mini", hierarchy="standard", loss=loss, seed=s, layer=layer, depth=i,
                             rel_depth=i / 2, factor=1, ami=base + 0.1 * i + 0.001 * s))
    return pd.DataFrame(rows)


def _ood(purities: dict, seeds=(0,), sets=("world",), jitter=0.0):
    rows = []
    for (loss, base), s, name in itertools.product(purities.items(), seeds, sets):
        for f in (1, 2):
            rows.append(dict(arch="resnet_mini", loss=loss, seed=s, set=name, factor=f,
                             purity=base + 0.05 * f + jitter * (s - 1)))
    return pd.DataFrame(rows)


def _acc(losses, seeds=(0,), acc=0.95):
    return pd.DataFrame([dict(arch="resnet_mini", hierarchy="standard", loss=lo, seed=s, accuracy=acc, n_superclasses=4)
                         for lo, s in itertools.product(losses, seeds)])


def test_claim4_three_verdicts():
    both = ["softmax", "squared_error"]
    c = claims.squared_error(_ind({"softmax": 0.3, "squared_error": 0.2}), _ood({"softmax": 0.6, "squared_error": 0.5}),
                             _acc(both))
    assert c.number == 4 and c.verdict == "reproduced" and "squared error 0.300" in c.measured
    c = claims.squared_error(_ind({"softmax": 0.3, "squared_error": 0.2}), _ood({"softmax": 0.5, "squared_error": 0.6}),
                             _acc(both))
    assert c.verdict == "not reproduced" and "on world" in c.explanation
    # 3 seeds whose OOD purity spreads by 0.1 each way: a 0.01 gap is within the spread
    c = claims.squared_error(_ind({"softmax": 0.3, "squared_error": 0.2}, (0, 1, 2)),
                             _ood({"softmax": 0.51, "squared_error": 0.5}, (0, 1, 2), jitter=0.1), _acc(both, (0, 1, 2)))
    assert c.verdict == "inconclusive" and "within the seed spread" in c.explanation
    # both at the floor in distribution: a gap under the margin decides nothing
    c = claims.squared_error(_ind({"softmax": 0.0, "squared_error": -0.001}), _ood({"softmax": 0.6, "squared_error": 0.5}),
                             _acc(both))
    assert c.verdict == "inconclusive" and "differ by +0.001, within 0.01" in c.explanation
    c = claims.squared_error(_ind({"softmax": 0.3, "squared_error": 0.2}), _ood({"softmax": 0.6, "squared_error": 0.5}),
                             _acc(both, acc=0.3))
    assert c.verdict == "inconclusive" and "gate" in c.explanation


def test_claim5_ranks_and_verdicts():
    nine = ["softmax", "dropout", "label_smoothing", "sigmoid", "squared_error"]
    beat = {"softmax": 0.5, "dropout": 0.55, "label_smoothing": 0.45, "sigmoid": 0.4, "squared_error": 0.3}
    c = claims.loss_ranking(_ood(beat, sets=("a", "b")), _acc(nine))
    assert c.number == 5 and c.verdict == "reproduced" and "On a (resnet_mini) dropout beats softmax by 0.050" in c.explanation
    assert "softmax ranks 2 of 5" in c.measured
    best = dict(beat, softmax=0.7)
    c = claims.loss_ranking(_ood(best, sets=("a", "b")), _acc(nine))
    assert c.verdict == "not reproduced" and "on 2 of 2" in c.explanation
    c = claims.loss_ranking(_ood({"softmax": 0.5, "dropout": 0.6}), _acc(["softmax", "dropout"]))
    assert c.verdict == "inconclusive" and "label_smoothing" in c.explanation


def _labels(purity: dict, sets=("world",), seeds=(0,)):
    rows = []
    for (hier, per_set), s in itertools.product(purity.items(), seeds):
        for name in sets:
            base = per_set[name] if isinstance(per_set, dict) else per_set
            rows += [dict(arch="resnet_mini", hierarchy=hier, seed=s, set=name, factor=f, purity=base + 0.01 * f)
                     for f in (1, 2)]
    return pd.DataFrame(rows)


def _acc_labels(seeds=(0,)):
    return pd.DataFrame([dict(arch="resnet_mini", hierarchy=h, loss="softmax", seed=s, accuracy=0.9,
                              n_superclasses=4 if h == "standard" else 16) for h in ("standard", "subclass") for s in seeds])


def test_claim3_small_gain_except_pets():
    c = claims.transfer(_labels({"standard": 0.5, "subclass": 0.52}), _acc_labels())
    assert c.number == 3 and c.verdict == "reproduced" and "Pets was not scored" in c.explanation
    c = claims.transfer(_labels({"standard": 0.5, "subclass": 0.6}), _acc_labels())
    assert c.verdict == "not reproduced" and "raise purity by 0.100" in c.explanation
    sets = ("flowers", "pets")
    c = claims.transfer(_labels({"standard": {"flowers": 0.5, "pets": 0.3}, "subclass": {"flowers": 0.51, "pets": 0.45}},
                                sets), _acc_labels())
    assert c.verdict == "reproduced" and "but Pets" in c.explanation
    c = claims.transfer(_labels({"standard": {"flowers": 0.5, "pets": 0.3}, "subclass": {"flowers": 0.51, "pets": 0.31}},
                                sets), _acc_labels())
    assert c.verdict == "not reproduced" and "On pets" in c.explanation
