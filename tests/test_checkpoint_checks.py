"""A user's BYOL checkpoint is opened and matched to its architecture before any model of the grid trains."""

import pytest
import torch

from paperlib import checkpoints, config, models, train, transfer


def backbone(cfg, width=None):
    return models.build_model(cfg.arch, 4, width=width or cfg.width, image_size=cfg.image_size)


@pytest.fixture
def no_training(monkeypatch):
    """Any training is a failure here: the checkpoint must be refused first."""

    def refuse(*a, **k):
        raise AssertionError("a model was trained before the checkpoint was checked")

    monkeypatch.setattr(train, "train_model", refuse)


@pytest.mark.parametrize("case", ["shape", "pickle"])
def test_a_wrong_checkpoint_stops_the_transfer_grid_before_any_training(case, tmp_path, no_training):
    prof = config.get_profile("smoke", epochs=1)
    cfg = prof.train_config("resnet", loss="byol")
    path = tmp_path / f"{case}.pt"
    if case == "shape":  # the right keys, the wrong width
        torch.save({"state_dict": backbone(cfg, width=cfg.width * 2).state_dict()}, path)
        match = r"shape\.pt does not fit"
    else:  # a whole pickled module: reading it would run code
        torch.save(backbone(cfg), path)
        match = r"refusing checkpoint .*pickle\.pt.*trust"
    with pytest.raises(checkpoints.CheckpointError, match=match):
        transfer.transfer_grid(prof, ["resnet"], byol_checkpoint=path, cache_dir=tmp_path / "c", progress=False)
    assert not (tmp_path / "c" / "models").exists()


def test_a_fitting_checkpoint_passes_the_check(tmp_path):
    cfg = config.get_profile("smoke").train_config("resnet", loss="byol")
    path = tmp_path / "good.pt"
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in backbone(cfg).state_dict().items()}}, path)
    transfer.check_checkpoints([cfg.replace(pretrained=str(path))])
    pickled = tmp_path / "module.pt"
    torch.save(backbone(cfg), pickled)
    transfer.check_checkpoints([cfg.replace(pretrained=str(pickled))], trust_checkpoint=True)
