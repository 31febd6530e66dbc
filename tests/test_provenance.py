"""Cache keys know their code and data: a change of either gives a new entry, the old one is kept."""

import os
import shutil
import subprocess
import sys
import time

from paperlib import (
    cache,
    cli,
    config,
    data,
    experiment,
    inventory,
    metrics,
    models,
    provenance,
    train,
)
from paperlib.data import synthetic
from paperlib.testing import write_imagenet_fixture


def tiny(**kw):
    prof = config.get_profile("smoke", epochs=1)
    return prof.train_config("resnet", **kw).replace(width=2, train_per_subclass=4, batch_size=32)


def snapshot(folder):
    return {
        p.relative_to(folder): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_code_version_sees_monkeypatches(monkeypatch):
    m0, s0 = provenance.code_version("models"), provenance.code_version("scores")
    assert m0 != s0 and len(m0) == 16
    build = models.build_model

    def build_model(*args, **kw):  # same behaviour, other code
        return build(*args, **kw)

    with monkeypatch.context() as mp:
        mp.setattr(models, "build_model", build_model)
        assert provenance.code_version("models") != m0
        assert provenance.code_version("scores") != s0
    assert provenance.code_version("models") == m0  # undone: the same version again
    with monkeypatch.context() as mp:
        mp.setattr(models.ResNetMini, "forward", lambda self, x: x)  # a method of a class
        assert provenance.code_version("models") != m0
    with monkeypatch.context() as mp:
        mp.setattr(metrics, "ami", lambda a, b: 0.0)
        assert provenance.code_version("models") == m0
        assert provenance.code_version("scores") != s0
    with monkeypatch.context() as mp:
        mp.setitem(data.SYN_SIZES, "train", 7)  # a module-level constant, changed in place
        assert provenance.code_version("models") != m0
    assert (provenance.code_version("models"), provenance.code_version("scores")) == (m0, s0)


def test_code_version_is_fast_and_the_same_in_another_process():
    provenance.code_version("scores")
    t = time.perf_counter()
    for _ in range(10):
        provenance.code_version("scores")
    assert (time.perf_counter() - t) / 10 < 0.05
    here = provenance.code_version("models")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    code = "from paperlib import provenance; print(provenance.code_version('models'))"
    there = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert there.strip() == here  # no addresses or hash-seed-dependent orders in the version


def test_synthetic_identity_and_model_key_follow_the_generator(monkeypatch, tmp_path):
    cfg = tiny()
    ident = data.data_identity("synthetic", splits=("train",))
    key, folder = train.model_key(cfg), train.model_dir(cfg, tmp_path)
    assert data.data_identity("synthetic", splits=("train",)) == ident
    monkeypatch.setitem(data.SYN_SIZES, "train", 9)
    assert data.data_identity("synthetic", splits=("train",))["sha256"] != ident["sha256"]
    assert train.model_key(cfg)["data"] != key["data"]
    assert train.model_dir(cfg, tmp_path) != folder
    monkeypatch.undo()
    orig = synthetic.synthetic_images
    monkeypatch.setattr(synthetic, "synthetic_images", lambda subclass, seed, size=32: orig(subclass, seed + 1, size))
    assert data.data_identity("synthetic", splits=("train",))["sha256"] != ident["sha256"]
    assert train.model_dir(cfg, tmp_path) != folder


def test_model_and_scores_keys_follow_their_code(monkeypatch):
    cfg, ecfg = tiny(), config.get_profile("smoke").eval_config()
    mk, sk = train.model_key(cfg), experiment.scores_key(cfg, ecfg)
    assert cache.key_of(train.model_key(cfg)) == cache.key_of(mk)
    with monkeypatch.context() as mp:
        mp.setattr(metrics, "ami", lambda a, b: 0.0)
        assert cache.key_of(train.model_key(cfg)) == cache.key_of(mk)
        assert cache.key_of(experiment.scores_key(cfg, ecfg)) != cache.key_of(sk)
    build = models.build_model
    monkeypatch.setattr(models, "build_model", lambda *a, **k: build(*a, **k))
    assert cache.key_of(train.model_key(cfg)) != cache.key_of(mk)
    assert cache.key_of(experiment.scores_key(cfg, ecfg)) != cache.key_of(sk)


def test_cifar_identity_follows_the_files_bytes(cifar_root, tmp_path):
    ident = data.data_identity("cifar100", cifar_root)
    assert set(ident["files"]) == {"cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta"}
    copy = tmp_path / "copy"
    shutil.copytree(cifar_root, copy)
    assert data.data_identity("cifar100", copy) == ident  # where the data root is does not matter
    f = copy / "cifar-100-python/test"
    b = bytearray(f.read_bytes())
    b[len(b) // 2] ^= 0xFF
    f.write_bytes(bytes(b))
    assert data.data_identity("cifar100", copy)["sha256"] != ident["sha256"]
    # the models read the train split only: their data identity is unchanged
    assert data.data_identity("cifar100", copy, splits=("train",)) == data.data_identity(
        "cifar100", cifar_root, splits=("train",)
    )
    cfg = tiny().replace(dataset="cifar100")
    assert train.model_key(cfg, copy) == train.model_key(cfg, cifar_root)


def test_breeds_identity_follows_the_file_list(tmp_path):
    root = write_imagenet_fixture(tmp_path / "in", "living17", {"train": 1, "val": 1}, size=8)
    ident = data.data_identity("living17", root, splits=("train",))
    assert ident["files"]["train"]["n_files"] > 0
    folder = next((root / "train").iterdir())
    shutil.copy(next(folder.iterdir()), folder / "extra.JPEG")  # one more image in a class
    assert data.data_identity("living17", root, splits=("train",))["sha256"] != ident["sha256"]
    assert data.data_identity("living17", root, splits=("val",)) == data.data_identity(
        "living17", root, splits=("val",)
    )


def test_new_code_trains_a_new_entry_and_leaves_the_old_one(monkeypatch, tmp_path):
    cfg = tiny(seed=5)
    old = train.train_model(cfg, cache_dir=tmp_path, progress=False)
    before = snapshot(old.path)
    assert cache.load(old.path / "config.json") == cache.canonical(train.model_key(cfg))
    build = models.build_model
    monkeypatch.setattr(models, "build_model", lambda *a, **k: build(*a, **k))
    epochs = []
    new = train.train_model(cfg, cache_dir=tmp_path, progress=False, on_epoch_end=lambda e, r: epochs.append(e))
    assert epochs == [1] and new.path != old.path  # trained anew, elsewhere
    assert snapshot(old.path) == before  # the old entry is untouched
    rows = {e.key: e for e in inventory.entries(tmp_path)}
    assert rows[old.path.name].code == "stale" and rows[new.path.name].code == "current"
    assert rows[new.path.name].state == "finished" and rows[new.path.name].data == "current"
    assert inventory.prune(tmp_path, stale=True, dry_run=True)[0].key == old.path.name
    assert snapshot(old.path) == before
    gone = inventory.prune(tmp_path, stale=True)
    assert [e.key for e in gone] == [old.path.name] and not old.path.exists() and new.path.exists()


def test_cache_command_lists_and_prunes(tmp_path, capsys):
    cfg = tiny(seed=6)
    t = train.train_model(cfg, cache_dir=tmp_path, progress=False)
    legacy = tmp_path / "models" / cache.key_of(cfg)  # an entry keyed the old way: config only
    cache.save(legacy / "config.json", cache.canonical(cfg))
    cache.save(legacy / "model.pt", {"ema_state": {}})
    for f in legacy.iterdir():
        os.utime(f, (time.time() - 10 * 86400,) * 2)
    assert cli.main(["cache", "list", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    row_new = next(line for line in out.splitlines() if t.path.name in line)
    row_old = next(line for line in out.splitlines() if legacy.name in line)
    assert "current" in row_new and "finished" in row_new and "resnet_mini" in row_new and "seed 6" in row_new
    assert "stale" in row_old and "10 d" in row_old
    assert cli.main(["cache", "prune", "--cache-dir", str(tmp_path)]) == 2  # no criterion: nothing removed
    assert cli.main(["cache", "prune", "--older-than", "5", "--dry-run", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"would remove models/{legacy.name}" in out and t.path.name not in out and legacy.exists()
    assert cli.main(["cache", "prune", "--stale", "--kind", "models", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"removed models/{legacy.name}" in out and "freed" in out
    assert not legacy.exists() and cache.is_valid(t.path / "model.pt")
    assert [e.key for e in inventory.entries(tmp_path)] == [t.path.name]
