"""The repository's pieces: licence, citation, version, test markers, workflows, the README's profile table."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_licence_file_and_pyproject_agree():
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert "LICENSE" in PYPROJECT["project"]["license-files"]
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text


def test_citation_names_this_version_and_the_paper():
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert str(cff["version"]) == PYPROJECT["project"]["version"]
    assert cff["license"] == PYPROJECT["project"]["license"]
    (paper,) = cff["references"]
    assert paper["title"] == "Probing clustering in neural network representations"
    assert [a["family-names"] for a in paper["authors"]] == ["Nguyen", "Kornblith"]


def test_version_is_written_once():
    assert "version" not in PYPROJECT["project"].get("dynamic", [])
    init = (REPO / "paperlib" / "__init__.py").read_text()
    assert PYPROJECT["project"]["version"] not in init, "paperlib/__init__.py repeats the version"
    assert f"## [{PYPROJECT['project']['version']}]" in (REPO / "CHANGELOG.md").read_text()


def test_book_tests_are_marked():
    """A test module that executes chapters or reads the executed smoke book carries the `book` marker,
    so `make test-fast` (-m "not book and not slow") leaves it out."""
    unmarked = [p.name for p in sorted((REPO / "tests").glob("test_*.py"))
                if re.search(r"\bsmoke_book\b|\bbuilt_smoke_book\b|execute_notebook", p.read_text())
                and p.name != Path(__file__).name
                and not re.search(r"^pytestmark = .*pytest\.mark\.book", p.read_text(), re.M)
                and not re.search(r"@pytest\.mark\.(book|slow)", p.read_text())]
    assert not unmarked, f"mark these modules with pytestmark = pytest.mark.book: {unmarked}"
    registered = {m.split(":")[0] for m in PYPROJECT["tool"]["pytest"]["ini_options"]["markers"]}
    assert {"book", "slow"} <= registered


def test_ruff_check_is_clean():
    """The rules of [tool.ruff] in pyproject.toml hold (`.ci/run` also runs `ruff format --check`)."""
    import shutil
    import subprocess
    import sys

    ruff = Path(sys.executable).with_name("ruff")
    ruff = str(ruff) if ruff.exists() else shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    res = subprocess.run([ruff, "check", "--no-cache", "paperlib", "tests", "bench", "scripts"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
