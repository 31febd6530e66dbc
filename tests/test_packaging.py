"""Packaging: ranges in pyproject, a universal resolver-generated lock, and that lock resolving per platform.

The resolution tests ask PyPI for metadata (no wheel is downloaded, nothing is installed). They are
skipped, saying so, only when the index cannot be reached; any other failure of the resolver fails.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# (uv's --python-platform, the macOS version where it matters, what the README promises)
PLATFORMS = [
    ("x86_64-unknown-linux-gnu", None),
    ("aarch64-unknown-linux-gnu", None),
    ("aarch64-apple-darwin", "14.0"),
]
# Packages the lock may take as a source distribution: pure Python (no compiler), each with the reason.
PURE_PYTHON_SDISTS = {
    "antlr4-python3-runtime": "hydra-core (a dependency of lightly) pins antlr4 4.9.*, published only as a "
    "pure-Python sdist; pip builds it with setuptools on every platform",
}
NETWORK_ERRORS = (
    "dns error",
    "failed to connect",
    "connection refused",
    "network is unreachable",
    "could not connect",
    "timed out",
    "error sending request",
)


def _uv() -> str:
    exe = Path(sys.executable).with_name("uv")
    found = str(exe) if exe.exists() else shutil.which("uv")
    assert found, "uv is not installed: it is in the test extra, so `make test` installs it (make env)"
    return found


def _run_uv(args: list[str], env_extra: dict | None = None) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ, **(env_extra or {}))
    proc = subprocess.run([_uv(), *args], capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode and any(e in proc.stderr.lower() for e in NETWORK_ERRORS):
        pytest.skip(f"the package index cannot be reached: {proc.stderr.strip()[-300:]}")
    return proc


def _all_requirements() -> list[Requirement]:
    reqs = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        reqs += [Requirement(r) for r in extra]
    return reqs


def _lock_pins() -> dict[str, list[tuple[str, str]]]:
    """name -> [(version, marker)] of every pinned line of the lock."""
    pins: dict[str, list[tuple[str, str]]] = {}
    for line in LOCK.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$", line)
        if m:
            pins.setdefault(m.group(1).lower(), []).append((m.group(2), (m.group(3) or "").strip()))
    return pins


def test_pyproject_lists_ranges_not_pins():
    for req in _all_requirements():
        assert not any(s.operator in ("==", "===") for s in req.specifier), (
            f"{req} pins an exact version in pyproject.toml: list a compatible range; exact versions "
            "belong in requirements.lock"
        )
        if req.name != "paperlib":
            assert any(s.operator == ">=" for s in req.specifier), f"{req} has no lower bound"
    assert {"book", "test", "dev"} <= set(PYPROJECT["project"]["optional-dependencies"])
    runtime = {Requirement(r).name.lower() for r in PYPROJECT["project"]["dependencies"]}
    assert not runtime & {"pytest", "papermill", "jupyter-book", "myst-nb", "uv"}, "tools are runtime deps"


def test_requires_python_matches_the_lock():
    """Every pin that applies at the lowest allowed Python must support that Python."""
    spec = SpecifierSet(PYPROJECT["project"]["requires-python"])
    lowest = next(v for v in ("3.9", "3.10", "3.11", "3.12", "3.13") if v in spec)
    header = LOCK.read_text().splitlines()[:3]
    assert any(
        "uv pip compile" in line
        and "--universal" in line
        and "--generate-hashes" in line
        and f"--python-version {lowest}" in line
        for line in header
    ), f"requirements.lock is not uv's universal, hashed lock for Python {lowest}: run `make lock`"
    # numpy, pandas and scipy of the lock need 3.11; a lower requires-python would promise too much
    pins = _lock_pins()
    assert lowest == "3.11" and any(v.startswith("2.") for v, _ in pins["numpy"])


def test_every_locked_package_is_pinned_and_hashed():
    text = LOCK.read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", text)
    pinned = [b for b in blocks if re.match(r"[A-Za-z0-9_.-]+==", b)]
    assert len(pinned) > 50
    for b in pinned:
        assert "--hash=sha256:" in b, f"no hash for {b.splitlines()[0]}"
    pins = _lock_pins()
    assert "paperlib" not in pins
    # CUDA wheels only where they exist: the markers keep them off macOS and Windows
    for name, entries in pins.items():
        if name.startswith("nvidia-") or name in ("triton", "cuda-toolkit"):
            assert all("sys_platform == 'linux'" in marker for _, marker in entries), (name, entries)


def test_environment_yml_installs_the_lock():
    env = (REPO / "environment.yml").read_text()
    assert "-r requirements.lock" in env
    assert not re.search(r"^\s*-\s*[A-Za-z0-9_.-]+==", env, re.M), "environment.yml repeats pins"
    assert "python=3.11" in env


@pytest.mark.slow  # resolves against the package index
def test_lock_is_what_the_resolver_makes_of_pyproject(tmp_path):
    """`make lock` on an unchanged pyproject reproduces the lock: the lock is generated, not edited."""
    out = tmp_path / "requirements.lock"
    shutil.copy(LOCK, out)  # the existing pins are the resolver's preferences, as in `make lock`
    args = LOCK.read_text().splitlines()[1].split("uv pip compile", 1)[1].split()
    args = [a if a != "requirements.lock" else str(out) for a in args]
    proc = _run_uv(
        ["pip", "compile", *[str(REPO / a) if a == "pyproject.toml" else a for a in args], "-q", "--no-header"]
    )
    assert proc.returncode == 0, proc.stderr
    regenerated = {k: sorted(v) for k, v in _lock_pins_of(out).items()}
    assert regenerated == {k: sorted(v) for k, v in _lock_pins().items()}, (
        "requirements.lock is out of date with pyproject.toml: run `make lock`"
    )


def _lock_pins_of(path: Path) -> dict:
    global LOCK
    saved, LOCK = LOCK, path
    try:
        return _lock_pins()
    finally:
        LOCK = saved


@pytest.mark.slow  # resolves against the package index, once per platform
@pytest.mark.parametrize("platform,macos", PLATFORMS, ids=[p for p, _ in PLATFORMS])
def test_lock_resolves_on_each_platform(platform, macos, tmp_path):
    """Resolve the lock for a platform without installing: every package it needs there has a wheel
    (but the pure-Python source distributions named in PURE_PYTHON_SDISTS)."""
    env = {"MACOSX_DEPLOYMENT_TARGET": macos} if macos else None
    out = tmp_path / "resolved.txt"
    assert set(PURE_PYTHON_SDISTS) <= set(_lock_pins()), "PURE_PYTHON_SDISTS names a package the lock no longer has"
    binary = [a for name in sorted(_lock_pins()) if name not in PURE_PYTHON_SDISTS for a in ("--only-binary", name)]
    proc = _run_uv(
        [
            "pip",
            "compile",
            str(LOCK),
            "--python-platform",
            platform,
            "--python-version",
            "3.11",
            *binary,
            "--no-header",
            "--no-annotate",
            "-q",
            "-o",
            str(out),
        ],
        env,
    )
    assert proc.returncode == 0, f"requirements.lock does not install on {platform}:\n{proc.stderr}"
    resolved = dict(line.split("==", 1) for line in out.read_text().split() if "==" in line)
    assert resolved["torch"] == next(v for v, _ in _lock_pins()["torch"])
    cuda = any(k.startswith("nvidia-") for k in resolved)
    assert cuda == platform.endswith("linux-gnu"), "CUDA wheels on a platform that has none, or missing"
