import numpy as np
import pytest
import torch

from paperlib import config, data
from paperlib.data import augment
from paperlib.data.augment import _resample_boxes, _rrc_boxes
from paperlib.testing import write_imagenet_fixture


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
    top, left, ch, cw = _rrc_boxes(2000, 100, 80, torch.Generator().manual_seed(0))
    assert (top >= 0).all() and (left >= 0).all() and (top + ch <= 100).all() and (left + cw <= 80).all()
    frac = ch * cw / (100 * 80)
    assert frac.min() > 0.04 and frac.max() <= 1.0
    ar = cw / ch
    assert ar.min() > 0.7 and ar.max() < 1.4


def test_rrc_of_the_whole_image_is_the_image(monkeypatch):
    x = data.load_split("synthetic", "val").images[:4]

    def full(n, h, w, g):
        return torch.zeros(n), torch.zeros(n), torch.full((n,), float(h)), torch.full((n,), float(w))

    monkeypatch.setattr(augment, "_rrc_boxes", full)
    g = torch.Generator().manual_seed(0)
    out = data.augment_batch(x, "rrc_flip", g)
    flip = torch.rand(4, generator=torch.Generator().manual_seed(0)) < 0.5  # same draw order: boxes are mocked
    ref = torch.where(flip[:, None, None, None], x.flip(-1), x)
    assert torch.equal(out, ref)


def test_decode_once_is_cached_and_verified(tmp_path):
    root = write_imagenet_fixture(tmp_path / "inet", "living17", {"train": 1, "val": 2}, size=40)
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


def _images(folder, shapes, fmt="JPEG"):
    """One image file per ``(height, width)``: colour ramps plus a checkerboard (content at every
    edge); a portrait shape whose landscape twin came just before is written as its exact transpose."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths, prev = [], None
    for k, (h, w) in enumerate(shapes):
        if prev is not None and prev.shape[:2] == (w, h) and h > w:
            img = prev.transpose(1, 0, 2)
        else:
            yy, xx = np.mgrid[0:h, 0:w]
            img = np.stack([xx * 255 // w, yy * 255 // h, ((xx // 16 + yy // 16) % 2) * 255], -1).astype(np.uint8)
        p = folder / f"im{k}.{fmt}"
        Image.fromarray(img).save(p, fmt)
        paths.append(str(p))
        prev = img
    return paths


def test_decode_whole_keeps_every_pixel_and_evaluates_like_resize_crop(tmp_path):
    import torchvision.transforms.v2.functional as TF
    from PIL import Image

    shapes = [(150, 200), (200, 150), (120, 120), (200, 300), (300, 200)]
    paths = _images(tmp_path / "img", shapes, "PNG")  # lossless, so a transposed twin is exact
    split = data.Split("living17", "train", np.arange(len(paths)), paths=paths)
    dec = data.decode_once(split, 64, tmp_path / "cache", progress=False)  # train split: layout "whole"
    assert dec.decoded and dec.images.shape == (5, 3, 64, 85) and dec.extent.shape == (5, 3)
    # aspect <= 4:3: shorter side 64, as the old square; wider: longer side 85 (4/3 * 64), fully kept
    assert dec.extent.tolist() == [[64, 85, 0], [85, 64, 1], [64, 64, 0], [57, 85, 0], [85, 57, 1]]
    assert dec.subset(np.array([1, 0])).extent.tolist() == [[85, 64, 1], [64, 85, 0]]
    # Evaluation crop of a whole-decoded image = resize shorter side 64 + centre crop 56, exactly (aspect <= 4:3).
    ev = data.centre_crop_whole(dec.images, dec.extent, 56, 64)
    for k in range(3):
        with Image.open(paths[k]) as im:
            ref = TF.pil_to_tensor(TF.center_crop(TF.resize(im.convert("RGB"), 64, antialias=True), 56))
        assert torch.equal(ev[k], ref)
    x, _ = next(data.iterate_batches(dec, dec.subclass, batch_size=5, train=False, image_size=56))
    assert torch.equal(x, ev)
    # A box covering the whole image gives the whole image (portrait ones read through the transposition).
    ext = dec.extent
    whole = _resample_boxes(
        dec.images, torch.zeros(5), torch.zeros(5), ext[:, 0].float(), ext[:, 1].float(), 48, None, ext[:, 2].bool()
    )
    for k in range(5):
        with Image.open(paths[k]) as im:
            ref = TF.pil_to_tensor(TF.resize(im.convert("RGB"), [48, 48], antialias=True))
        assert (whole[k].float() - ref.float()).abs().mean() < 4  # bilinear vs antialiased resize
    # A portrait image is stored as its landscape transpose (PIL's two-pass resize rounds a little
    # differently), and a crop read through the transposition is the transpose of the crop.
    for i, j in ((0, 1), (3, 4)):
        assert (dec.images[i].int() - dec.images[j].int()).abs().max() <= 2
    g = torch.Generator().manual_seed(0)
    top, left, ch, cw = _rrc_boxes(2, 64.0, 85.0, g)
    a = _resample_boxes(dec.images[[0, 0]], top, left, ch, cw, 32)
    b = _resample_boxes(dec.images[[0, 0]], left, top, cw, ch, 32, None, torch.ones(2, dtype=torch.bool))
    assert torch.equal(a, b.transpose(-1, -2))

    # Training batches: random resized crops of the whole image, seeded.
    def gen():
        return torch.Generator().manual_seed(3)

    y1, _ = next(
        data.iterate_batches(
            dec, dec.subclass, batch_size=5, train=True, augment="rrc_flip", image_size=32, generator=gen()
        )
    )
    y2, _ = next(
        data.iterate_batches(
            dec, dec.subclass, batch_size=5, train=True, augment="rrc_flip", image_size=32, generator=gen()
        )
    )
    assert y1.shape == (5, 3, 32, 32) and torch.equal(y1, y2)
    with pytest.raises(ValueError, match="rrc_flip"):
        data.augment_batch(dec.images, "crop_flip", gen(), 32, extent=dec.extent)
    # the old central-square layout stays available, under its own cache key
    old = data.decode_once(split, 64, tmp_path / "cache", progress=False, layout="centre")
    assert old.images.shape == (5, 3, 64, 64) and old.extent is None
    assert len(list((tmp_path / "cache" / "decoded").iterdir())) == 2
    # a corrupt side array is detected and everything rebuilt
    f = next((tmp_path / "cache" / "decoded").rglob("extent.npz"))
    f.write_bytes(f.read_bytes()[:-5])
    again = data.decode_once(split, 64, tmp_path / "cache", progress=False)
    assert torch.equal(again.extent, dec.extent) and torch.equal(again.images, dec.images)


@pytest.mark.parametrize("shape", [(200, 300), (300, 200)])
def test_whole_decode_crops_follow_torchvision_on_the_whole_image(tmp_path, shape):
    """Crop boxes drawn on a whole-decoded image have torchvision's RandomResizedCrop distribution on
    the original image: relative area, centre and aspect (two-sample KS), unlike the old central square."""
    from scipy.stats import ks_2samp
    from torchvision.transforms import RandomResizedCrop

    H, W = shape
    split = data.Split("living17", "train", np.zeros(1, np.int64), paths=_images(tmp_path / "img", [shape]))
    dec = data.decode_once(split, 128, tmp_path / "cache", progress=False)
    h, w, t = dec.extent[0].tolist()
    assert t == int(H > W) and abs(w / h - W / H) < 0.02 and max(h, w) <= round(128 * 4 / 3)
    n = 4000
    ext = dec.extent.expand(n, 3)
    top, left, ch, cw = (
        v.double().numpy()
        for v in _rrc_boxes(n, ext[:, 0].float(), ext[:, 1].float(), torch.Generator().manual_seed(0))
    )
    torch.manual_seed(0)
    tv = np.array(
        [RandomResizedCrop.get_params(torch.zeros(3, H, W), [0.05, 1.0], [3 / 4, 4 / 3]) for _ in range(n)], float
    )
    ours = {"area": ch * cw / (h * w), "cy": (top + ch / 2) / h, "cx": (left + cw / 2) / w, "aspect": cw / ch}
    ref = {
        "area": tv[:, 2] * tv[:, 3] / (H * W),
        "cy": (tv[:, 0] + tv[:, 2] / 2) / H,
        "cx": (tv[:, 1] + tv[:, 3] / 2) / W,
        "aspect": tv[:, 3] / tv[:, 2],
    }
    for k in ours:
        assert ks_2samp(ours[k], ref[k]).statistic < 0.05, k  # 1% critical value at n = m = 4000: 0.036
    # crops reach every edge of the image, as torchvision's do
    assert top.min() == 0 and left.min() == 0 and (top + ch).max() == h and (left + cw).max() == w
    # the old layout drew the same rule inside the central square only: its centres are far off
    s = min(H, W)
    ot, ol, och, ocw = (v.double().numpy() for v in _rrc_boxes(n, s, s, torch.Generator().manual_seed(0)))
    old = {"cy": (ot + och / 2 + (H - s) / 2) / H, "cx": (ol + ocw / 2 + (W - s) / 2) / W}
    along = "cx" if W > H else "cy"
    if W != H:
        assert ks_2samp(old[along], ref[along]).statistic > 0.1


def test_preprocess_normalises_and_resizes_as_described(tmp_path):
    from PIL import Image
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import v2 as T

    x = torch.full((1, 3, 2, 2), 128, dtype=torch.uint8)
    half = data.Preprocess((0.5,) * 3, (0.5,) * 3, 224, "bicubic", 0.9)
    assert half.resize == 249 and data.Preprocess.for_dataset("entity13", 224).resize == 256
    assert torch.allclose(data.normalize(x, half), torch.full_like(x, 128, dtype=torch.float32) / 127.5 - 1)
    # a dataset's Preprocess normalises exactly as the dataset name does
    for name in ("synthetic", "cifar100", "entity13", "imagefolder"):
        assert torch.equal(data.normalize(x, data.Preprocess.for_dataset(name, 32)), data.normalize(x, name))
    with pytest.raises(ValueError, match="interpolation"):
        data.Preprocess((0.5,) * 3, (0.5,) * 3, 32, "cubic")
    # image files: resize shorter side to round(size / crop_pct) with the interpolation, centre crop
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    paths, t = [str(tmp_path / "a.png")], np.zeros(1)
    pre = data.Preprocess((0.5,) * 3, (0.5,) * 3, 32, "bicubic", 0.9)
    with Image.open(paths[0]) as im:
        want = T.Compose(
            [T.Resize(36, interpolation=InterpolationMode.BICUBIC, antialias=True), T.CenterCrop(32), T.PILToTensor()]
        )(im.convert("RGB"))
        old = T.Compose([T.Resize(37, antialias=True), T.CenterCrop(32), T.PILToTensor()])(im.convert("RGB"))
    assert torch.equal(data.ImageFiles(paths, t, 32, False, preprocess=pre)[0][0], want)
    assert torch.equal(data.ImageFiles(paths, t, 32, False)[0][0], old)  # default unchanged
    split = data.Split("imagefolder", "val", np.zeros(1, dtype=np.int64), paths=paths)
    ((got, _),) = data.iterate_batches(split, t, batch_size=4, train=False, preprocess=pre)
    assert torch.equal(got[0], want)
