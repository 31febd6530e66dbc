"""The platforms claimed are the ones the lock is resolved for; ``make env`` does not take a half-made venv
(no pip, as when python3-venv is missing) for a ready one."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_a_venv_without_pip_stops_with_the_package_to_install(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    proc = subprocess.run(
        ["make", "-C", str(REPO), "env", f"VENV={venv}", f"PYTHON={sys.executable}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert f"{venv} has no working pip" in proc.stderr and "apt-get install python3-venv" in proc.stderr
    assert "pip install" not in proc.stdout + proc.stderr  # stopped before installing anything
    assert not (venv / ".installed").exists()


def test_readme_claims_exactly_the_platforms_the_lock_is_resolved_for():
    spec = importlib.util.spec_from_file_location("test_packaging", REPO / "tests" / "test_packaging.py")
    packaging_tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(packaging_tests)
    PLATFORMS = packaging_tests.PLATFORMS
    text = (REPO / "README.md").read_text()
    platforms = text[text.index("**Platforms.**") :].split("\n\n")[0]
    supported, unsupported = platforms.split("Not supported:")
    names = {"x86_64-unknown-linux-gnu": "Linux x86-64", "aarch64-unknown-linux-gnu": "Linux aarch64"}
    for platform, macos in PLATFORMS:
        want = names.get(platform) or f"macOS {macos.split('.')[0]} or later on Apple silicon"
        assert want in " ".join(supported.split()), want
    assert len(PLATFORMS) == 3 and "Windows" not in supported and "*Windows*" in unsupported
    assert "*Intel Macs*" in unsupported and "macOS 13 or older" in unsupported
    assert "Windows" not in (REPO / "Makefile").read_text().split("Windows is not supported")[0]
