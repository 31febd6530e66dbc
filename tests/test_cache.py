import warnings
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from paperlib import cache


@dataclass(frozen=True)
class Cfg:
    a: int = 1
    b: tuple = (1, 2)


def test_key_is_stable_and_sensitive():
    assert cache.key_of(Cfg()) == cache.key_of(Cfg())
    assert cache.key_of(Cfg()) == cache.key_of({"b": [1, 2], "a": 1})
    assert cache.key_of(Cfg(a=2)) != cache.key_of(Cfg())
    with pytest.raises(TypeError):
        cache.key_of({"x": object()})


@pytest.mark.parametrize(
    "name, obj",
    [
        ("a.json", {"x": [1, 2.5], "y": "z"}),
        ("a.npz", {"x": np.arange(6).reshape(2, 3)}),
        ("a.pt", {"w": torch.ones(3)}),
    ],
)
def test_roundtrip(tmp_path, name, obj):
    p = cache.save(tmp_path / name, obj)
    back = cache.load(p)
    for k in obj:
        np.testing.assert_array_equal(np.asarray(back[k]), np.asarray(obj[k]))
    assert not list(tmp_path.glob("*.tmp")), "temporary files left behind"


@pytest.mark.parametrize("name, obj", [("a.pt", {"w": torch.arange(1000.0)}), ("a.npz", {"x": np.arange(1000)})])
def test_truncated_file_is_detected(tmp_path, name, obj):
    p = cache.save(tmp_path / name, obj)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(cache.CorruptArtifact):
        cache.load(p)
    assert not cache.is_valid(p)


def test_flipped_byte_is_detected(tmp_path):
    p = cache.save(tmp_path / "a.pt", {"w": torch.arange(1000.0)})
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(cache.CorruptArtifact, match="checksum"):
        cache.load(p)


def test_missing_sidecar_means_invalid(tmp_path):
    p = cache.save(tmp_path / "a.json", {"x": 1})
    (tmp_path / "a.json.sha256").unlink()
    assert not cache.is_valid(p)


def test_cached_rebuilds_corrupt_entries(tmp_path):
    p = tmp_path / "s.json"
    calls = []

    def build():
        calls.append(1)
        return {"v": len(calls)}

    assert cache.cached(p, build) == {"v": 1}
    assert cache.cached(p, build) == {"v": 1}  # hit: not rebuilt
    p.write_text('{"v": 99')  # corrupt it
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert cache.cached(p, build) == {"v": 2}
    assert any("corrupt" in str(x.message) for x in w)
    assert len(calls) == 2


def test_artifact_dir_writes_config(tmp_path):
    d = cache.artifact_dir(tmp_path, "models", Cfg())
    assert cache.load(d / "config.json") == {"a": 1, "b": [1, 2]}
    assert d.parent.name == "models" and d.name == cache.key_of(Cfg())


# --------------------------------------------------------------------------- a cache many processes share
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402


def _spawn(script: str, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(procs) -> list[str]:
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        outs.append(out)
    return outs


_WRITER = """
import sys
from paperlib import cache
path, who, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    cache.save(path, {"who": who, "data": [who] * 2000})
"""

_READER = """
import json, os, sys, time
from paperlib import cache
path, stop = sys.argv[1], sys.argv[2]
while not cache.is_valid(path):
    time.sleep(0.001)
ok = bad = 0
while not os.path.exists(stop) or ok < 50:
    try:
        obj = cache.load(path)
    except Exception as exc:
        bad += 1
        print("FAIL", type(exc).__name__, exc, file=sys.stderr)
        continue
    assert obj["who"] in (1, 2) and obj["data"] == [obj["who"]] * 2000, "torn payload"
    ok += 1
print(json.dumps({"ok": ok, "bad": bad}))
"""


def test_concurrent_saves_and_loads_of_one_key(tmp_path):
    path, stop = tmp_path / "k" / "a.json", tmp_path / "stop"
    path.parent.mkdir()
    reader = _spawn(_READER, path, stop)
    writers = [_spawn(_WRITER, path, who, 1000) for who in (1, 2)]
    _finish(writers)  # no FileNotFoundError (or anything else) in either writer
    stop.touch()
    res = json.loads(_finish([reader])[0])
    assert res["bad"] == 0 and res["ok"] > 0, res
    assert cache.load(path)["who"] in (1, 2)  # the final pair matches


_TRAINER = """
import hashlib, os, sys, time
from paperlib import config, train
cache_dir, log, me, other = sys.argv[1:5]
open(me, "w").close()
while not os.path.exists(other):  # start both at once
    time.sleep(0.005)
cfg = config.get_profile("smoke", epochs=1, widths={"resnet_mini": 2, "vgg_mini": 2}).train_config("resnet")
cfg = cfg.replace(train_per_subclass=16, batch_size=32)
def hook(epoch, record):
    with open(log, "a") as fh:
        fh.write(f"{os.getpid()} {epoch}\\n")
t = train.train_model(cfg, cache_dir=cache_dir, progress=False, on_epoch_end=hook)
h = hashlib.sha256()
for k, v in sorted(t.model.state_dict().items()):
    h.update(k.encode()); h.update(v.detach().cpu().numpy().tobytes())
print(h.hexdigest())
"""


def test_two_runs_train_a_shared_model_once(tmp_path):
    log = tmp_path / "epochs.log"
    a, b = tmp_path / "ready_a", tmp_path / "ready_b"
    outs = _finish([_spawn(_TRAINER, tmp_path / "cache", log, a, b), _spawn(_TRAINER, tmp_path / "cache", log, b, a)])
    assert len(log.read_text().splitlines()) == 1, log.read_text()  # one epoch, trained once
    assert outs[0].split()[-1] == outs[1].split()[-1]  # same weights in both


def test_files_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        p = cache.save(tmp_path / "a.npz", {"x": np.arange(3)})
        d = cache.artifact_dir(tmp_path, "models", Cfg())
    finally:
        os.umask(old)
    for f in (p, tmp_path / "a.npz.sha256", d / "config.json"):
        assert f.stat().st_mode & 0o777 == 0o644, (f, oct(f.stat().st_mode))


def test_read_only_cache_serves_valid_entries_and_computes_the_rest(tmp_path, monkeypatch):
    good, missing, corrupt = tmp_path / "good.json", tmp_path / "missing.json", tmp_path / "corrupt.json"
    cache.save(good, {"v": "stored"})
    cache.save(corrupt, {"v": "old"})
    corrupt.write_text('{"v": ')

    def read_only(path, data):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cache, "write_atomic", read_only)
    monkeypatch.setattr(cache, "_warned_roots", set())
    assert cache.cached(good, lambda: pytest.fail("a valid entry must not be rebuilt")) == {"v": "stored"}
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert cache.cached(missing, lambda: {"v": "new"}) == {"v": "new"}
        assert cache.cached(corrupt, lambda: {"v": "rebuilt"}) == {"v": "rebuilt"}
        d = cache.artifact_dir(tmp_path, "models", Cfg())  # its config.json cannot be written either
    assert any("not writable; result kept in memory only" in str(x.message) for x in w)
    assert not missing.exists() and d.is_dir()


def test_is_written_sees_the_pair_without_reading_it(tmp_path):
    from paperlib import cache

    f = tmp_path / "a.json"
    assert not cache.is_written(f)
    f.write_text("{}")
    assert not cache.is_written(f)  # no checksum sidecar: not written by save
    cache.save(f, {"x": 1})
    assert cache.is_written(f) and cache.is_valid(f)
    f.write_text('{"x": 2}')  # changed afterwards: still "written", no longer valid (load would say so)
    assert cache.is_written(f) and not cache.is_valid(f)


def test_is_locked_sees_a_held_lock_and_takes_none(tmp_path):
    from paperlib import cache

    assert not cache.is_locked(tmp_path)  # no lock file yet
    with cache.lock(tmp_path):
        assert cache.is_locked(tmp_path)
    assert not cache.is_locked(tmp_path)
    with cache.lock(tmp_path):  # is_locked left it free: it can be taken again
        pass
