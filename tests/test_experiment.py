import numpy as np
import pandas as pd
import pytest

from paperlib import config, experiment, metrics, train


@pytest.fixture(scope="module")
def smoke_run():
    prof = config.get_profile("smoke", epochs=1, widths={"resnet_mini": 2, "vgg_mini": 2})
    return experiment.run(prof, ["resnet"], hierarchies=["standard", "shuffled"], factors=[1, 2], progress=False)


def test_scores_table(smoke_run):
    scores, acc, evals = smoke_run
    assert set(scores["hierarchy"]) == {"standard", "shuffled"}
    n_layers = scores["layer"].nunique()
    assert len(scores) == 2 * n_layers * 2
    assert scores["ami"].between(-0.2, 1).all() and scores["purity"].between(0, 1).all()
    assert acc["accuracy"].between(0, 1).all()
    ev = evals[("resnet_mini", "standard", 0, "softmax")]
    assert ev.assignments["penultimate"].shape == (2, len(ev.subclass))
    assert ev.penultimate.shape[0] == len(ev.subclass)


def test_scores_match_a_direct_recomputation(smoke_run):
    """Scores are the unweighted superclass mean of AMI between the cached cuts and the subclasses."""
    scores, _, evals = smoke_run
    ev = evals[("resnet_mini", "standard", 0, "softmax")]
    for layer in ["stage1_block1", "penultimate"]:
        for fi, f in enumerate([1, 2]):
            labels = ev.assignments[layer][fi]
            direct = metrics.per_group_mean(metrics.ami, ev.subclass, labels, ev.superclass)
            row = ev.scores[(ev.scores.layer == layer) & (ev.scores.factor == f)]
            assert row["ami"].item() == pytest.approx(direct)
            # every superclass was cut into (its subclasses) x factor clusters
            for s in np.unique(ev.superclass):
                n_sub = len(np.unique(ev.subclass[ev.superclass == s]))
                assert len(np.unique(labels[ev.superclass == s])) == n_sub * f


def test_evaluation_is_cached(smoke_run):
    prof = config.get_profile("smoke", epochs=1, widths={"resnet_mini": 2, "vgg_mini": 2})
    cfg = prof.train_config("resnet")
    calls = []
    trained = train.train_model(cfg, progress=False, on_epoch_end=lambda *a: calls.append(a))
    assert calls == []
    ev = experiment.evaluate(trained, prof.eval_config([1, 2]), progress=False)
    pd.testing.assert_frame_equal(ev.scores, smoke_run[2][("resnet_mini", "standard", 0, "softmax")].scores)
