import os

import numpy as np
import pytest
import torch

from paperlib import config, data


def test_synthetic_is_deterministic_and_hierarchical():
    a = data.load_split("synthetic", "train")
    b = data.load_split("synthetic", "train")
    assert torch.equal(a.images, b.images)
    assert a.images.shape == (12 * data.SYN_SIZES["train"], 3, 32, 32) and a.images.dtype == torch.uint8
    h = data.base_hierarchy("synthetic")
    assert h.n_superclasses == 4 and h.subclasses_per_superclass == (3, 3, 3, 3)
    # subclasses of one superclass differ in colour: their mean foreground colours are distinct
    means = np.stack([a.images[torch.from_numpy(a.subclass == c)].float().mean((0, 2, 3)).numpy() for c in range(12)])
    d = np.linalg.norm(means[:, None] - means[None], axis=-1)
    assert (d[np.triu_indices(12, 1)] > 1.0).all()
    v = data.load_split("synthetic", "val")
    assert not torch.equal(v.images[:10], a.images[:10])


def test_cifar_fixture_loads(cifar_root):
    h = data.base_hierarchy("cifar100", cifar_root)
    assert h.n_superclasses == 20 and set(h.subclasses_per_superclass) == {5}
    tr = data.load_split("cifar100", "train", cifar_root)
    va = data.load_split("cifar100", "val", cifar_root)
    assert tr.images.shape == (600, 3, 32, 32) and va.images.shape == (400, 3, 32, 32)
    assert len(tr.per_subclass(2)) == 200
    # the shuffled hierarchy covers the same subclasses
    s = data.hierarchy_for("cifar100", "shuffled", 0, cifar_root)
    assert sorted(s.subclasses) == sorted(h.subclasses) and s.groups != h.groups


def test_missing_cifar_says_what_and_where(tmp_path):
    with pytest.raises(data.DataNotFound) as exc:
        data.load_split("cifar100", "train", tmp_path)
    msg = str(exc.value)
    assert str(tmp_path) in msg and "cifar-100-python/train" in msg and "make book PROFILE=smoke" in msg
    with pytest.raises(data.DataNotFound):
        data.ensure_data("cifar100", tmp_path, download=False)


def test_data_root_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_DATA", str(tmp_path))
    assert config.data_root() == tmp_path.resolve()
    assert config.data_root(tmp_path / "x") == (tmp_path / "x").resolve()
    monkeypatch.delenv("PAPERLIB_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert config.data_root() == tmp_path / "xdg" / "paperlib" / "data"


def test_unknown_names_list_valid_ones():
    with pytest.raises(ValueError, match="cifar100"):
        data.load_split("cifar10", "train")
    with pytest.raises(ValueError, match="val"):
        data.load_split("synthetic", "test")
    with pytest.raises(ValueError, match="smoke"):
        config.get_profile("fast")
    with pytest.raises(ValueError, match="resnet"):
        config.get_profile("smoke").train_config("alexnet")
    with pytest.raises(ValueError, match="softmax"):
        config.get_profile("smoke").train_config("resnet", loss="hinge")
    with pytest.raises(ValueError, match="shuffled"):
        config.get_profile("smoke").train_config("resnet", hierarchy="random")
    with pytest.raises(TypeError, match="epochs"):
        config.get_profile("smoke", epoch=3)


def test_augment_batch_is_seeded_and_shaped():
    x = data.load_split("synthetic", "val").images[:8]
    a = data.augment_batch(x, "crop_flip", torch.Generator().manual_seed(0))
    b = data.augment_batch(x, "crop_flip", torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape and a.dtype == torch.uint8
    r = data.augment_batch(x, "rrc_flip", torch.Generator().manual_seed(0), out_size=24)
    assert r.shape == (8, 3, 24, 24)
    with pytest.raises(ValueError, match="crop_flip"):
        data.augment_batch(x, "mixup", torch.Generator())
