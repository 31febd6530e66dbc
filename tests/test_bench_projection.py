"""bench/project_gpu_hours.py counts BREEDS's training images from the shipped hierarchies, and
bench/RESULTS.md shows what it prints."""

import contextlib
import importlib.util
import io
from pathlib import Path

from paperlib import breeds

BENCH = Path(__file__).resolve().parents[1] / "bench"


def projection():
    spec = importlib.util.spec_from_file_location("project_gpu_hours", BENCH / "project_gpu_hours.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_entity13_is_counted_with_four_subclasses_per_superclass():
    p = projection()
    h = breeds.load_breeds("entity13")
    assert (h.n_superclasses, h.n_subclasses) == (13, 52)
    assert p.train_images("entity13") == round(52 * 334_712 / 260) == 66_942  # not the 260-class 334,712
    assert p.train_images("living17") == 88_400 and p.train_images("nonliving26") == 132_765


def test_results_md_shows_the_projection_as_printed():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        projection().main()
    results = (BENCH / "RESULTS.md").read_text()
    for line in out.getvalue().splitlines():
        assert line in results, f"bench/RESULTS.md lacks: {line}"
