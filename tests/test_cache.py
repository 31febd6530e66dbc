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
    [("a.json", {"x": [1, 2.5], "y": "z"}), ("a.npz", {"x": np.arange(6).reshape(2, 3)}), ("a.pt", {"w": torch.ones(3)})],
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
