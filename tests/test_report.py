"""`paperlib.report` and `python -m paperlib report`: the probe on a user's own model and image folder.

Also its pieces: the folder reader (`paperlib.data.folder`), checkpoints (`paperlib.checkpoints`) and
timm models (`paperlib.foreign`)."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from paperlib import cache, checkpoints, cli, data, extract, models, report, scoring

COLOURS = {
    ("animals", "cat"): (200, 40, 40),
    ("animals", "dog"): (40, 200, 40),
    ("vehicles", "bus"): (40, 40, 200),
    ("vehicles", "car"): (200, 200, 40),
}


def write_folder(root, per=6, size=40, seed=0):
    """2 superclasses x 2 subclasses x ``per`` images, colour by subclass, mixed extensions/case."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for (sup, sub), colour in COLOURS.items():
        d = root / sup / sub
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per):
            img = np.clip(np.array(colour) + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
            ext = (".jpg", ".JPEG", ".png")[i % 3]
            Image.fromarray(img).save(d / f"img{i}{ext}", "PNG" if ext == ".png" else "JPEG")
    (root / "animals" / "cat" / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("imgs"))


def test_folder_split(folder):
    split, h = report.folder_split(folder)
    assert h.superclasses == ("animals", "vehicles") and h.groups == ((0, 1), (2, 3))
    assert h.subclass_names == ("cat", "dog", "bus", "car")
    assert split.dataset == "imagefolder" and len(split) == 24 and len(split.paths) == 24
    assert np.bincount(split.subclass).tolist() == [6, 6, 6, 6]
    assert all(p.lower().endswith((".jpg", ".jpeg", ".png")) for p in split.paths)
    small, _ = report.folder_split(folder, max_per_subclass=2)
    assert np.bincount(small.subclass).tolist() == [2, 2, 2, 2]
    # ImageNet statistics for folder datasets
    x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    assert torch.allclose(data.normalize(x, "imagefolder"), data.normalize(x, "entity13"))


def test_folder_errors(tmp_path, capsys):
    with pytest.raises(data.DataNotFound, match="does not exist"):
        report.folder_split(tmp_path / "nope")
    root = tmp_path / "r"
    (root / "animals" / "cat").mkdir(parents=True)
    (root / "animals" / "dog").mkdir(parents=True)
    (root / "animals" / "cat" / "a.jpg").write_bytes(b"x")
    with pytest.raises(data.FolderLayoutError, match=r"subclass folder .*dog has no images") as e:
        report.folder_split(root)
    assert "<superclass>/<subclass>" in str(e.value)
    (root / "animals" / "dog" / "b.PNG").write_bytes(b"x")
    (root / "plants").mkdir()
    (root / "plants" / "x.jpg").write_bytes(b"x")
    with pytest.raises(data.FolderLayoutError, match=r"superclass folder .*plants has no subclass folders"):
        report.folder_split(root)
    (root / "plants" / "tree").mkdir()
    (root / "plants" / "tree" / "t.jpg").write_bytes(b"x")
    with pytest.raises(data.FolderLayoutError, match=r"plants has only 1 subclass folder \(tree\)"):
        report.folder_split(root)
    # the command line reports the same before any compute, exit code 2
    assert (
        cli.main(
            ["report", "--model", "resnet_mini", "--folder", str(tmp_path / "nope"), "--out-dir", str(tmp_path / "o")]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "nope" in err and "ROOT/<superclass>/<subclass>" in err


def test_unknown_model_suggests(folder, capsys, tmp_path):
    with pytest.raises(ValueError) as e:
        report.load_model("resnet10x")
    msg = str(e.value)
    assert "resnet10t" in msg and "resnet_mini" in msg and "timm.list_models" in msg
    assert cli.main(["report", "--model", "resnet10x", "--folder", str(folder), "--out-dir", str(tmp_path / "o")]) == 2
    assert "resnet10t" in capsys.readouterr().err


def test_report_cli_paperlib_arch(folder, tmp_path, capsys):
    out = tmp_path / "out"
    rc = cli.main(
        [
            "report",
            "--model",
            "resnet_mini",
            "--folder",
            str(folder),
            "--image-size",
            "32",
            "--factors",
            "1",
            "3",
            "5",
            "--batch-size",
            "16",
            "--out-dir",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    df = pd.read_csv(out / "profile.csv")
    assert list(df.columns) == ["layer", "depth", "rel_depth", "factor", "ami", "purity"]
    names = [p.name for p in report.load_model("resnet_mini").probe_points]
    assert list(dict.fromkeys(df["layer"])) == names
    assert len(df) == len(names) * 3 and set(df["factor"]) == {1, 3, 5}
    assert df["ami"].between(-1, 1).all() and df["purity"].between(0, 1).all()
    assert df["rel_depth"].iloc[0] == 0 and df["rel_depth"].iloc[-1] == 1
    png = out / "profile.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stdout = capsys.readouterr().out
    assert "best layer per factor" in stdout and "factor 5:" in stdout
    assert not list(out.glob(".*.tmp"))


def test_report_cli_timm_vit(folder, tmp_path):
    out = tmp_path / "vit"
    rc = cli.main(
        [
            "report",
            "--model",
            "test_vit",
            "--folder",
            str(folder),
            "--image-size",
            "32",
            "--factors",
            "1",
            "2",
            "--pool",
            "avg",
            "--max-per-subclass",
            "4",
            "--out-dir",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    df = pd.read_csv(out / "profile.csv")
    assert list(dict.fromkeys(df["layer"])) == [f"blocks_{i}" for i in range(6)] + ["penultimate"]
    assert set(df["factor"]) == {1, 2} and (out / "profile.png").stat().st_size > 1000


def test_timm_probe_points_resnet():
    import timm

    for num_classes in (None, 0):
        m = report.load_model("test_resnet", num_classes=num_classes, image_size=32)
        assert [p.name for p in m.probe_points] == ["act1", "layer1", "layer2", "layer3", "layer4", "penultimate"]
        assert m.probe_points[-1].module == "fc" and m.probe_points[-1].where == "input"
        x = torch.randn(2, 3, 32, 32)
        with extract.ProbeRecorder(m, m.probe_points) as rec, torch.no_grad():
            m(x)
            pre = m.forward_head(m.forward_features(x), pre_logits=True)
        assert torch.allclose(rec.activations["penultimate"], pre)
        assert rec.activations["layer4"].ndim == 4
    assert isinstance(timm.create_model("test_resnet").get_classifier(), torch.nn.Linear)


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_checkpoint_round_trip(folder, tmp_path):
    torch.manual_seed(0)
    src = models.build_model("resnet_mini", 3, width=4).eval()
    torch.nn.init.normal_(src.fc.weight)  # not the zero init, so logits differ from a fresh model
    sd = src.state_dict()
    files = {
        "raw.pt": sd,
        "wrapped.pt": {"state_dict": sd, "epoch": 3},
        "ddp.pth": {"model": {f"module.{k}": v for k, v in sd.items()}},
    }
    for name, blob in files.items():
        torch.save(blob, tmp_path / name)
    cache.save(
        tmp_path / "model.pt",
        {"ema_state": sd, "state": {}, "history": [], "config": {"arch": "resnet_mini", "width": 4, "image_size": 32}},
    )
    split, _ = report.folder_split(folder, max_per_subclass=2)
    want, want_logits = extract.extract(src, split, image_size=32, batch_size=8)
    for name in list(files) + ["model.pt"]:
        torch.manual_seed(1)
        m = report.load_model("resnet_mini", checkpoint=tmp_path / name)
        assert m.fc.out_features == 3 and m.conv1.out_channels == 4  # inferred from the checkpoint
        assert _same(m, src), name
        got, logits = extract.extract(m, split, image_size=32, batch_size=8)
        np.testing.assert_array_equal(logits, want_logits)
        assert all(np.array_equal(got[k], want[k]) for k in want)
    # a checkpoint of another architecture: strict loading fails with the differing keys listed
    with pytest.raises(checkpoints.CheckpointError, match=r"(?s)missing keys .*unexpected keys .*conv1\.weight"):
        report.load_model("vgg_mini", checkpoint=tmp_path / "raw.pt")
    with pytest.raises(checkpoints.CheckpointError, match="trained as 'resnet_mini'"):
        report.load_model("vgg_mini", checkpoint=tmp_path / "model.pt")
    torch.save({"optimizer": {}, "epoch": 1}, tmp_path / "bad.pt")
    with pytest.raises(checkpoints.CheckpointError, match="no state dict found"):
        report.load_model("resnet_mini", checkpoint=tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError):
        report.load_model("resnet_mini", checkpoint=tmp_path / "missing.pt")


def test_timm_checkpoint_headless(tmp_path):
    import timm

    torch.manual_seed(0)
    src = timm.create_model("test_vit", pretrained=False, num_classes=0, img_size=32).eval()
    torch.save(src.state_dict(), tmp_path / "vit.pt")
    m = report.load_model("test_vit", checkpoint=tmp_path / "vit.pt", image_size=32)
    assert m.num_classes == 0 and _same(m, src)
    assert m.probe_points[-1] == models.ProbePoint("penultimate", "head", "input")
    with pytest.raises(checkpoints.CheckpointError, match="does not fit model 'test_resnet'"):
        report.load_model("test_resnet", checkpoint=tmp_path / "vit.pt")


def test_layer_profile_unweighted_mean(folder):
    split, h = report.folder_split(folder, max_per_subclass=3)
    m = report.load_model("resnet_mini")
    mean, per = report.layer_profile(
        m, split, h, [1, 2], "avg", layers=["stage1_block1", "penultimate"], device="cpu", return_per_superclass=True
    )
    assert mean["layer"].tolist() == ["stage1_block1"] * 2 + ["penultimate"] * 2
    assert set(per["superclass"]) == {0, 1}
    expect = per.groupby(["layer", "factor"])["ami"].mean()
    for r in mean.itertuples():
        assert r.ami == pytest.approx(expect[(r.layer, r.factor)])
    best = report.best_layers(mean)
    assert best["factor"].tolist() == [1, 2]


def test_report_subcommand_registered():
    res = subprocess.run([sys.executable, "-m", "paperlib", "report", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "--checkpoint" in res.stdout and "--max-per-subclass" in res.stdout


class _RunsCode:
    """Pickles as a call to ``exec``: unpickling it in full creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def test_checkpoint_that_runs_code_is_refused(folder, tmp_path, capsys):
    src = models.build_model("resnet_mini", 3, width=4).eval()
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": src.state_dict(), "extra": _RunsCode(marker)}, evil)
    with pytest.raises(checkpoints.CheckpointError) as e:
        report.load_model("resnet_mini", checkpoint=evil)
    msg = str(e.value)
    assert str(evil) in msg and "--trust-checkpoint" in msg and "trust_checkpoint=True" in msg
    assert not marker.exists()
    rc = cli.main(
        [
            "report",
            "--model",
            "resnet_mini",
            "--folder",
            str(folder),
            "--checkpoint",
            str(evil),
            "--out-dir",
            str(tmp_path / "o"),
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and str(evil) in err and "--trust-checkpoint" in err
    assert not marker.exists() and not (tmp_path / "o" / "profile.csv").exists()
    # the same file with a valid paperlib checksum sidecar is refused as well
    cache.save(tmp_path / "evil_artifact.pt", {"ema_state": src.state_dict(), "x": _RunsCode(marker)})
    with pytest.raises(checkpoints.CheckpointError, match="trust_checkpoint=True"):
        checkpoints.read_checkpoint(tmp_path / "evil_artifact.pt")
    assert not marker.exists()


def test_trust_checkpoint_allows_full_unpickling(tmp_path, monkeypatch):
    torch.manual_seed(0)
    src = models.build_model("resnet_mini", 3, width=4).eval()
    torch.save(src, tmp_path / "module.pt")  # a pickled nn.Module: harmless, but not plain data
    with pytest.raises(checkpoints.CheckpointError, match=r"module\.pt.*--trust-checkpoint"):
        checkpoints.read_checkpoint(tmp_path / "module.pt")
    with pytest.warns(UserWarning, match="unpickling in full"):
        m = report.load_model("resnet_mini", checkpoint=tmp_path / "module.pt", trust_checkpoint=True)
    assert _same(m, src)
    calls = []
    real = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k.get("weights_only")) or real(*a, **k))
    with pytest.warns(UserWarning, match="unpickling in full"):
        checkpoints.read_checkpoint(tmp_path / "module.pt", trust_checkpoint=True)
    assert calls == [True, False]
    calls.clear()
    torch.save(src.state_dict(), tmp_path / "raw.pt")
    checkpoints.read_checkpoint(tmp_path / "raw.pt", trust_checkpoint=True)
    assert calls == [True]  # plain data never reaches the full unpickler


def _bad_folder(root):
    write_folder(root, per=3)
    good = root / "animals" / "cat" / "img0.jpg"
    data_ = good.read_bytes()
    good.write_bytes(data_[: len(data_) // 2])  # truncated JPEG: PIL's verify() does not notice
    (root / "vehicles" / "bus" / "readme.jpg").write_text("not an image")
    return good, root / "vehicles" / "bus" / "readme.jpg"


def test_bad_images_named_before_the_model_is_built(tmp_path, monkeypatch, capsys):
    truncated, fake = _bad_folder(tmp_path / "imgs")
    assert [
        p for p, _ in data.find_bad_images(sorted(map(str, (tmp_path / "imgs").rglob("*.*")))) if p.endswith(".jpg")
    ] == [str(truncated), str(fake)]

    def boom(*a, **k):
        raise AssertionError("model built before the images were checked")

    monkeypatch.setattr(report, "load_model", boom)
    with pytest.raises(data.BadImageError) as e:
        report.report("resnet_mini", tmp_path / "imgs", out_dir=tmp_path / "o", progress=False)
    msg = str(e.value)
    assert str(truncated) in msg and str(fake) in msg and "--skip-bad-images" in msg and "2 of 13" in msg
    rc = cli.main(
        [
            "report",
            "--model",
            "resnet_mini",
            "--folder",
            str(tmp_path / "imgs"),
            "--out-dir",
            str(tmp_path / "o"),
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and str(truncated) in err and str(fake) in err


def test_skip_bad_images(tmp_path, capsys):
    truncated, fake = _bad_folder(tmp_path / "imgs")
    out = tmp_path / "o"
    rc = cli.main(
        [
            "report",
            "--model",
            "resnet_mini",
            "--folder",
            str(tmp_path / "imgs"),
            "--image-size",
            "32",
            "--factors",
            "1",
            "--skip-bad-images",
            "--out-dir",
            str(out),
            "--no-progress",
        ]
    )
    stdout = capsys.readouterr().out
    assert rc == 0 and "skipping 2 image files" in stdout and str(truncated) in stdout
    assert "11 images" in stdout and (out / "profile.csv").exists()


def _grey_folder(root, value=128):
    """2 x 2 subclasses x 2 images of near-constant grey ``value`` (+-2 noise)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for sup, sub in COLOURS:
        d = root / sup / sub
        d.mkdir(parents=True, exist_ok=True)
        for i in range(2):
            img = np.clip(value + rng.integers(-2, 3, (40, 48, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(d / f"g{i}.png")
    return root


def _report_inputs(monkeypatch, **kwargs):
    """Run report.report and return its model's preprocessing and every input batch it saw."""
    seen, real = {}, report.load_model

    def load(*a, **k):
        net = real(*a, **k)
        seen["preprocess"] = getattr(net, "preprocess", None)
        seen["inputs"] = []
        net.register_forward_pre_hook(lambda m, inp: seen["inputs"].append(inp[0].detach().clone()))
        return net

    monkeypatch.setattr(report, "load_model", load)
    report.report(factors=(1,), pool="avg", layers=["penultimate"], device="cpu", progress=False, **kwargs)
    return seen["preprocess"], torch.cat(seen["inputs"])


def test_report_uses_timm_data_config(tmp_path, monkeypatch, capsys):
    import json

    folder = _grey_folder(tmp_path / "grey")
    pre, x = _report_inputs(monkeypatch, model="vit_base_patch32_224", folder=folder, out_dir=tmp_path / "o")
    assert x.shape == (8, 3, 224, 224)
    per_channel = x.mean(dim=(0, 2, 3))
    imagenet = data.normalize(torch.full((1, 3, 1, 1), 128, dtype=torch.uint8), "imagefolder").flatten()
    assert (imagenet - per_channel).abs().min() > 0.05  # not ImageNet statistics (0.07, 0.2, 0.43 for grey 128)
    assert per_channel.abs().max() < 0.02 and x.std(dim=(0, 2, 3)).max() < 0.05  # grey 128 -> ~0 under 0.5/0.5
    assert (pre.mean, pre.std, pre.interpolation, pre.crop_pct, pre.size) == (
        (0.5, 0.5, 0.5),
        (0.5, 0.5, 0.5),
        "bicubic",
        0.9,
        224,
    )
    assert report.load_model("vit_base_patch32_224").preprocess == pre
    out = capsys.readouterr().out
    assert "preprocessing: mean (0.5, 0.5, 0.5), std (0.5, 0.5, 0.5); bicubic resize to 249, centre crop 224" in out
    side = json.loads((tmp_path / "o" / "preprocess.json").read_text())
    assert side["mean"] == [0.5] * 3 and side["interpolation"] == "bicubic" and side["crop_pct"] == 0.9
    assert list(pd.read_csv(tmp_path / "o" / "profile.csv").columns) == scoring.SCORE_COLUMNS
    # an explicit image size wins for the size, the rest stays timm's
    small = report.load_model("test_vit", image_size=32).preprocess
    assert small.size == 32 and small.interpolation == "bicubic" and small.mean == (0.5, 0.5, 0.5)


def test_report_uses_paperlib_checkpoint_dataset(tmp_path, monkeypatch):
    from paperlib import config, train

    cfg = (
        config.get_profile("smoke", epochs=1)
        .train_config("resnet")
        .replace(width=2, train_per_subclass=4, batch_size=32)
    )
    train.train_model(cfg, cache_dir=tmp_path / "cache", progress=False)
    ckpt = train.model_dir(cfg, tmp_path / "cache") / "model.pt"
    assert cfg.dataset == "synthetic" and cfg.image_size == 32 and ckpt.exists()
    folder = _grey_folder(tmp_path / "grey", value=64)
    pre, x = _report_inputs(monkeypatch, model=cfg.arch, folder=folder, checkpoint=ckpt, out_dir=tmp_path / "o")
    assert x.shape[-2:] == (32, 32)
    # grey 64 under synthetic statistics (mean 0.5, std 0.25): (64/255 - 0.5) / 0.25 = -0.996 in every channel
    torch.testing.assert_close(x.mean(dim=(0, 2, 3)), torch.full((3,), (64 / 255 - 0.5) / 0.25), atol=0.03, rtol=0)
    want = data.NORMALIZE["synthetic"]
    assert (pre.mean, pre.std, pre.size) == (want[0], want[1], 32)
    assert report.load_model(cfg.arch, checkpoint=ckpt).preprocess == pre
    # an explicit image size wins; without a checkpoint: ImageNet statistics as before
    assert report.load_model(cfg.arch, checkpoint=ckpt, image_size=40).preprocess.size == 40
    plain = report.load_model("resnet_mini").preprocess
    assert (plain.mean, plain.std, plain.interpolation, plain.crop_pct) == (
        *data.NORMALIZE["imagefolder"],
        "bilinear",
        0.875,
    )
