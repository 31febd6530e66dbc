
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


def test_rrc_boxes_follow_torchvision_rule():
    top, left, ch, cw = data._rrc_boxes(2000, 100, 80, torch.Generator().manual_seed(0))
    assert (top >= 0).all() and (left >= 0).all() and (top + ch <= 100).all() and (left + cw <= 80).all()
    frac = ch * cw / (100 * 80)
    assert frac.min() > 0.04 and frac.max() <= 1.0
    ar = cw / ch
    assert ar.min() > 0.7 and ar.max() < 1.4


def test_rrc_of_the_whole_image_is_the_image(monkeypatch):
    x = data.load_split("synthetic", "val").images[:4]
    full = lambda n, h, w, g: (torch.zeros(n), torch.zeros(n), torch.full((n,), float(h)), torch.full((n,), float(w)))
    monkeypatch.setattr(data, "_rrc_boxes", full)
    g = torch.Generator().manual_seed(0)
    out = data.augment_batch(x, "rrc_flip", g)
    flip = torch.rand(4, generator=torch.Generator().manual_seed(0)) < 0.5  # same draw order: boxes are mocked
    ref = torch.where(flip[:, None, None, None], x.flip(-1), x)
    assert torch.equal(out, ref)


def test_decode_once_is_cached_and_verified(tmp_path):
    root = data.write_imagenet_fixture(tmp_path / "inet", "living17", {"train": 1, "val": 2}, size=40)
    split = data.load_split("living17", "val", root)
    assert split.paths is not None and len(split) == 17 * 4 * 2
    dec = data.decode_once(split, 36, tmp_path / "cache", progress=False)
    assert dec.decoded and dec.images.shape == (len(split), 3, 36, 36) and dec.images.dtype == torch.uint8
    np.testing.assert_array_equal(dec.subclass, split.subclass)
    # evaluation batches: centre crop of the decoded square, same as resize + centre crop of the file
    x, _ = next(data.iterate_batches(dec, dec.subclass, batch_size=4, train=False, image_size=32))
    ref, _ = next(data.iterate_batches(split, split.subclass, batch_size=4, train=False, image_size=32))
    assert x.shape == ref.shape == (4, 3, 32, 32)
    assert (x.float() - ref.float()).abs().mean() < 8  # resampling differs slightly, content is the same
    # a corrupted cache entry is detected and rebuilt
    before = dec.images.clone()
    f = next((tmp_path / "cache" / "decoded").rglob("images.npy"))
    blob = bytearray(f.read_bytes())
    blob[-10] ^= 0xFF
    f.write_bytes(bytes(blob))
    with pytest.warns(UserWarning, match="corrupt"):
        again = data.decode_once(split, 36, tmp_path / "cache", progress=False)
    assert torch.equal(again.images, before)
