"""Every chapter runs end to end: smoke profile (as CI's book build), quick on a CIFAR-format fixture.

The smoke book (every chapter executed with profile smoke, then built) comes from the session
fixtures ``smoke_book`` and ``built_smoke_book`` of conftest.py, which tests/test_book_browser.py shares.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import papermill as pm
import pytest

#: Every test here executes chapters (or reads the executed smoke book): `make test-fast` leaves them out.
pytestmark = pytest.mark.book

REPO = Path(__file__).resolve().parents[1]

NOTEBOOKS = sorted((REPO / "nbs").glob("*.ipynb"))


def _execute(nb: Path, out: Path, **params) -> nbformat.NotebookNode:
    pm.execute_notebook(
        str(nb), str(out), parameters=params, kernel_name="python3", progress_bar=False, cwd=str(out.parent)
    )
    return nbformat.read(out, as_version=4)


def test_notebooks_are_clean():
    assert NOTEBOOKS, "no notebooks found"
    for nb in NOTEBOOKS:
        cells = nbformat.read(nb, as_version=4).cells
        assert not any(c.get("outputs") for c in cells if c.cell_type == "code"), f"{nb.name} has outputs"
        params = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1, f"{nb.name}: needs exactly one 'parameters' cell"
        assert "profile = " in params[0].source


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_smoke(smoke_book, nb):
    out = nbformat.read(smoke_book / nb.name, as_version=4)
    text = "".join(o.get("text", "") for c in out.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "Traceback" not in text
    glued = [
        o
        for c in out.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "scrapbook" in o.get("metadata", {})
    ]
    assert glued, "chapter glued nothing for the book"


def test_book_builds_with_warnings_as_errors(built_smoke_book):
    """``jupyter-book build -n -W --keep-going`` (the conftest fixture, shared with test_book_browser.py)."""
    assert built_smoke_book.returncode == 0, built_smoke_book.log[-6000:]
    html = (built_smoke_book.html / "05_shuffling.html").read_text()
    assert "<img" in html and "Claim 2" in html
    assert html.count("tag_hide-input") == 2  # parameter cells folded behind a toggle
    claims_html = (built_smoke_book.html / "claims.html").read_text()
    assert "reproduced" in claims_html and "Markdown object" not in claims_html
    # seven claims x verdict, measured text and explanation, and the self-supervised context, pasted as prose
    prose = re.sub(r'<a class="reference download.*?</a>', "", claims_html, flags=re.S)  # a download's name is code
    assert claims_html.count('class="pasted-text"') == 22 and "<code" not in prose
    for claim, page in (
        ("Claim 1", "04_within_network"),
        ("Claim 3", "06_transfer"),
        ("Claim 4", "07_losses"),
        ("Claim 5", "07_losses"),
        ("Claim 6", "08_architecture"),
        ("Claim 7", "09_consistency"),
    ):
        assert claim in (built_smoke_book.html / f"{page}.html").read_text()
    figures = {
        "03_method": 2,
        "04_within_network": 2,
        "06_transfer": 1,
        "07_losses": 2,
        "08_architecture": 1,
        "09_consistency": 2,
    }
    for page, n in figures.items():
        html = (built_smoke_book.html / f"{page}.html").read_text()
        assert html.count("<img") >= n and "Try it" in html, page


def test_every_chapter_and_the_claims_page_link_their_csv_downloads(built_smoke_book):
    """Each chapter's tables and the claims page's claims.csv (paperlib.book.write_results, collect_claims)."""
    import pandas as pd

    from paperlib.book import CLAIM_COLUMNS
    from paperlib.claims import VERDICTS

    for page in [nb.stem for nb in NOTEBOOKS] + ["claims"]:
        html = (built_smoke_book.html / f"{page}.html").read_text()
        links = re.findall(r'class="reference download internal"[^>]*href="([^"]+\.csv)"', html)
        assert links, f"{page}: no CSV download"
        for link in links:
            path = built_smoke_book.html / link
            assert path.stat().st_size > 0 and len(pd.read_csv(path)) > 0, (page, link)
        if page != "claims":
            assert any(link.endswith(f"{page}_scores.csv") or "ood_purity" in link for link in links), (page, links)
    claims = pd.read_csv(built_smoke_book.root / "results" / "claims.csv")
    assert list(claims.columns) == list(CLAIM_COLUMNS)
    assert list(claims["number"]) == [1, 2, 3, 4, 5, 6, 7] and set(claims["verdict"]) <= set(VERDICTS)
    assert claims["measured"].str.len().min() > 0


def test_shuffling_quick_profile_on_cifar_fixture(cifar_root, tmp_path):
    """The quick path (CIFAR-100 loader, mini models at quick widths) end to end, tiny epochs."""
    # lists and dicts as strings, as `papermill -p` passes them
    out = _execute(
        REPO / "nbs" / "05_shuffling.ipynb",
        tmp_path / "quick.ipynb",
        profile="quick",
        data_root=str(cifar_root),
        architectures='["vgg", "resnet"]',
        factors="[1, 3, 5]",
        overrides='{"epochs": 1, "train_per_subclass": 3}',
    )
    text = "".join(str(o.get("data", {}).get("text/markdown", "")) for c in out.cells for o in c.get("outputs", []))
    assert "Claim 2" in text and "vgg_mini" in text and "resnet_mini" in text


def test_shuffling_chapter_on_a_folder_dataset(tmp_path):
    """A reading group's own hierarchy: ``dataset="folder:ROOT"`` through the chapter's overrides, on the
    smoke world written as PNG files in ROOT/<superclass>/<subclass>/ (split by every 5th image)."""
    import json

    from paperlib.testing import write_folder_fixture

    root = write_folder_fixture(tmp_path / "my_images", per_subclass=10)
    cache = tmp_path / "cache"
    out = _execute(
        REPO / "nbs" / "05_shuffling.ipynb",
        tmp_path / "folder.ipynb",
        profile="smoke",
        cache_dir=str(cache),
        architectures=["resnet"],
        overrides={"dataset": f"folder:{root}", "epochs": 2},
    )
    text = "".join(str(o.get("data", {}).get("text/markdown", "")) for c in out.cells for o in c.get("outputs", []))
    assert "Claim 2" in text and "resnet_mini" in text
    trained = [json.loads(f.read_text()) for f in (cache / "models").glob("*/config.json")]
    assert len(trained) == 2  # standard and shuffled, both on the folder
    assert {t["config"]["dataset"] for t in trained} == {f"folder:{root.resolve()}"}
    assert {t["data"]["images"]["train"]["n_files"] for t in trained} == {16 * 8}  # 4 of every 5 images


def test_bad_parameters_stop_before_compute(tmp_path):
    for params, match in [
        ({"architectures": '["alexnet"]'}, "alexnet"),
        ({"seeds": "[]"}, "seeds must be a non-empty"),
        ({"factors": "[0]"}, "factors"),
        ({"overrides": '{"epochs": -1}'}, "epochs"),
        ({"seed": "[0, 1]"}, r"unknown parameter \['seed'\] .*'seeds'"),
    ]:  # a typo of seeds
        with pytest.raises(pm.PapermillExecutionError, match=match):
            _execute(REPO / "nbs" / "05_shuffling.ipynb", tmp_path / "bad.ipynb", profile="smoke", **params)


def test_quick_profile_without_data_stops_before_compute(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="cifar-100-python"):
        _execute(
            REPO / "nbs" / "05_shuffling.ipynb",
            tmp_path / "nodata.ipynb",
            profile="quick",
            data_root=str(tmp_path / "empty"),
        )


def test_shuffling_paper_profile_on_imagenet_fixture(tmp_path_factory):
    """The paper path: BREEDS entity-13 from an ImageNet-layout folder, ResNet-50 and VGG-16 with the
    paper's probe points; one epoch on 32 px images so it runs on a CPU in about a minute."""
    from paperlib.testing import write_imagenet_fixture

    root = write_imagenet_fixture(tmp_path_factory.mktemp("imagenet"), "entity13", {"train": 2, "val": 2})
    out_dir = tmp_path_factory.mktemp("paper")
    out = _execute(
        REPO / "nbs" / "05_shuffling.ipynb",
        out_dir / "paper.ipynb",
        profile="paper",
        data_root=str(root),
        overrides={
            "epochs": 1,
            "image_size": 32,
            "batch_size": 52,
            "eval_batch_size": 64,
            "num_workers": 0,
            "warmup_epochs": 0.5,
        },
    )
    text = "".join(str(o.get("data", {}).get("text/markdown", "")) for c in out.cells for o in c.get("outputs", []))
    assert "Claim 2" in text and "resnet50" in text and "vgg16" in text
    # claim 2's measured table (ClaimCheck.markdown): | architecture | factor | layers gaining > 0.02 | ...
    assert "| architecture | factor | layers gaining > 0.02 |" in text
    cells = re.findall(r"^\| (\w+) \| (\d+) \| (\d+) of (\d+) \|", text, flags=re.M)
    assert {(a, f) for a, f, _, _ in cells} == {(a, f) for a in ("resnet50", "vgg16") for f in ("1", "3", "5")}
    from paperlib import models

    n_layers = {a: len(models.probe_points(a)) for a in ("resnet50", "vgg16")}
    assert all(int(n) == n_layers[a] for a, _, _, n in cells)  # every probe point of both paper models scored
