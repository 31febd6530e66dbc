"""Fig. D.10: AMI over training from EMA snapshots, on a tiny smoke model."""

import pandas as pd
import pytest

from paperlib import config, experiment, timeline, train


def test_snapshot_epochs_spread_and_checked():
    assert timeline.snapshot_epochs(10, 2) == (5, 10)
    assert timeline.snapshot_epochs(1, 3) == (1,)
    with pytest.raises(ValueError, match="points"):
        timeline.snapshot_epochs(10, 0)


def test_over_training_scores_every_snapshot(tmp_path):
    prof = config.get_profile(
        "smoke", epochs=2, train_per_subclass=8, val_per_subclass=4, widths={"resnet_mini": 2, "vgg_mini": 2}
    )
    scores, acc = timeline.over_training(
        prof, "resnet", hierarchies=["standard"], points=2, factors=[1], cache_dir=tmp_path, progress=False
    )
    assert sorted(acc["epoch"]) == [1, 2]
    assert set(scores["epoch"]) == {1, 2} and scores.groupby("epoch")["layer"].nunique().nunique() == 1
    # the last snapshot is the finished model: its scores equal the finished model's
    cfg = prof.train_config("resnet")
    assert cfg.snapshot_epochs == (1, 2)  # smoke keeps 5 snapshots in every model: the timeline reused it
    trained = train.train_model(cfg, cache_dir=tmp_path, progress=False)
    final = experiment.evaluate(trained, prof.eval_config([1], "flatten", True), cache_dir=tmp_path, progress=False)
    last = scores[scores["epoch"] == 2].reset_index(drop=True)
    pd.testing.assert_series_equal(last["ami"], final.scores["ami"].reset_index(drop=True), check_names=False)
    assert acc.set_index("epoch").loc[2, "accuracy"] == pytest.approx(final.accuracy)
