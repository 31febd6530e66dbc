"""``folder:ROOT`` datasets are checked before any compute: every image of both splits, content identity,
hidden files, image modes, validation images per subclass."""

import os
import time

import numpy as np
import pytest
from PIL import Image

from paperlib import cli, data
from paperlib.data import folder, images, loading
from paperlib.testing import write_folder_fixture


@pytest.fixture(autouse=True)
def _refuse_bad_images():
    folder.set_skip_bad_images(False)
    yield
    folder.set_skip_bad_images(False)


def bad_pair(root):
    """Break one training and one validation image of ``folder:root``; return their paths."""
    ds = f"folder:{root}"
    tr = data.load_split(ds, "train").paths[0]
    va = data.load_split(ds, "val").paths[-1]
    open(tr, "wb").write(b"this is not an image")
    blob = open(va, "rb").read()
    open(va, "wb").write(blob[: len(blob) // 2])  # a truncated PNG
    return tr, va


def test_bad_training_and_validation_images_stop_train_before_any_training(tmp_path, capsys):
    root = write_folder_fixture(tmp_path / "mine", per_subclass=5)
    tr, va = bad_pair(root)
    cache = tmp_path / "cache"
    t0 = time.monotonic()
    rc = cli.main(
        [
            "train",
            "--profile",
            "smoke",
            "--dataset",
            f"folder:{root}",
            "--epochs",
            "1",
            "--cache-dir",
            str(cache),
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and time.monotonic() - t0 < 30
    assert err.startswith("paperlib: error: 2 of ") and tr in err and va in err
    assert "--skip-bad-images" in err
    assert not (cache / "models").exists()  # nothing trained, no entry made


def test_skip_bad_images_leaves_them_out_of_the_splits_and_the_identity(tmp_path, capsys):
    root = write_folder_fixture(tmp_path / "mine", per_subclass=10)
    ds = f"folder:{root}"
    n = len(data.load_split(ds, "train")) + len(data.load_split(ds, "val"))
    tr, va = bad_pair(root)
    assert cli.main(["status", "--profile", "smoke", "--dataset", ds, "--cache-dir", str(tmp_path / "c")]) == 2
    assert (
        cli.main(
            ["status", "--profile", "smoke", "--dataset", ds, "--cache-dir", str(tmp_path / "c"), "--skip-bad-images"]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "skipping 2 image files" in err and tr in err and va in err
    kept = data.load_split(ds, "train").paths + data.load_split(ds, "val").paths
    assert len(kept) == n - 2 and tr not in kept and va not in kept


def test_hidden_and_appledouble_files_are_not_images(tmp_path):
    root = write_folder_fixture(tmp_path / "mine", per_subclass=5)
    ds = f"folder:{root}"
    n = len(data.load_split(ds, "train"))
    sub = next(p for p in root.rglob("*") if p.is_dir() and any(p.glob("*.png")))
    (sub / "._img0000.png").write_bytes(b"\x00\x05\x16\x07AppleDouble")  # macOS resource fork
    (sub / ".hidden.png").write_bytes(b"not an image")
    assert len(data.load_split(ds, "train")) == n
    assert not any(os.path.basename(p).startswith(".") for p in data.load_split(ds, "train").paths)


def test_replacing_an_image_with_other_content_of_the_same_size_changes_the_identity(tmp_path):
    root = write_folder_fixture(tmp_path / "mine", per_subclass=5)
    ds = f"folder:{root}"
    p = data.load_split(ds, "train").paths[0]
    a = np.asarray(Image.open(p).convert("RGB"))
    Image.fromarray(a).save(p, compress_level=0)  # uncompressed: the size depends on the dimensions only
    size, before = os.path.getsize(p), data.data_identity(ds, splits=("train",))
    Image.fromarray(255 - a).save(p, compress_level=0)  # other content, same size
    assert os.path.getsize(p) == size
    assert data.data_identity(ds, splits=("train",))["sha256"] != before["sha256"]


def test_a_subclass_without_a_validation_image_is_refused(tmp_path, capsys):
    root = write_folder_fixture(tmp_path / "mine", per_subclass=5)
    sub = sorted(p for p in root.rglob("*") if p.is_dir() and any(p.glob("*.png")))[0]
    for p in sorted(sub.glob("*.png"))[3:]:
        p.unlink()  # 3 images: every 5th is a validation image, so none is
    with pytest.raises(data.FolderLayoutError, match=rf"{sub.name} \(0\)") as e:
        data.load_split(f"folder:{root}", "val")
    assert "at least 5 images" in str(e.value)
    assert cli.main(["status", "--profile", "smoke", "--dataset", f"folder:{root}"]) == 2
    assert capsys.readouterr().err.startswith("paperlib: error:")


def test_the_check_is_remembered_by_path_size_and_mtime(tmp_path, monkeypatch):
    root = write_folder_fixture(tmp_path / "mine", per_subclass=5)
    ds = f"folder:{root}"
    data.load_split(ds, "train")  # reads, hashes and decodes every file once, and writes the index
    calls = []
    monkeypatch.setattr(folder, "image_problem", lambda *a: calls.append(a) or None)
    monkeypatch.setattr(folder, "_SEEN", {})  # a new process: only the index on disk is left
    data.load_split(ds, "train")
    assert calls == []
    p = data.load_split(ds, "train").paths[0]
    os.utime(p, ns=(time.time_ns(), time.time_ns() + 10**9))  # touched: looked at again
    data.load_split(ds, "train")
    assert [a[0] for a in calls] == [os.path.abspath(p)]


def _png(tmp_path, im, name="x.png"):
    p = tmp_path / name
    im.save(p)
    return p


MODES = {
    # mode: (image, expected RGB of pixel (0, 0))
    "I;16": (lambda: Image.fromarray(np.full((4, 4), 30000, dtype=np.uint16)), (117, 117, 117)),
    "I;16 max": (lambda: Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16)), (255, 255, 255)),
    "I": (lambda: Image.fromarray(np.full((4, 4), 514, dtype=np.int32)), (2, 2, 2)),
    "F": (lambda: Image.fromarray(np.full((4, 4), 0.5, dtype=np.float32)), (128, 128, 128)),
    "L": (lambda: Image.new("L", (4, 4), 77), (77, 77, 77)),
    "1": (lambda: Image.new("1", (4, 4), 1), (255, 255, 255)),
    "P": (lambda: Image.new("RGB", (4, 4), (10, 20, 30)).quantize(4), (10, 20, 30)),
    "RGBA transparent": (lambda: Image.new("RGBA", (4, 4), (0, 0, 0, 0)), images.BACKGROUND),
    "RGBA half": (lambda: Image.new("RGBA", (4, 4), (0, 0, 255, 128)), (127, 127, 255)),
    "LA": (lambda: Image.new("LA", (4, 4), (0, 255)), (0, 0, 0)),
    "CMYK": (lambda: Image.new("CMYK", (4, 4), (0, 255, 255, 0)), (255, 0, 0)),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_every_mode_becomes_the_rgb_it_shows(mode, tmp_path):
    make, want = MODES[mode]
    im = make()
    assert tuple(images.to_rgb(im).getpixel((0, 0))) == want
    assert images.to_rgb(im).mode == "RGB"


@pytest.mark.parametrize("mode", ["I;16", "RGBA transparent", "P"])
def test_files_of_each_mode_are_decoded_by_the_loader_as_to_rgb_says(mode, tmp_path):
    make, want = MODES[mode]
    p = _png(tmp_path, make())
    assert images.image_problem(p) is None
    x, _ = loading.ImageFiles([str(p)], np.zeros(1, dtype=np.int64), size=4, train=False, resize=4)[0]
    assert tuple(x[:, 0, 0].tolist()) == want


def test_a_decompression_bomb_is_a_bad_image(tmp_path, monkeypatch):
    p = _png(tmp_path, Image.new("L", (64, 64)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 64 // 4)
    assert "DecompressionBomb" in images.image_problem(p)


def test_the_gallery_shows_a_16_bit_image_as_the_models_see_it(tmp_path):
    from paperlib import gallery

    p = _png(tmp_path, MODES["I;16"][0]())
    np.testing.assert_allclose(gallery._load_image(p, None)[0, 0], np.full(3, 117 / 255), rtol=1e-6)
