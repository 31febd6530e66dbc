"""Benchmark: cold vs warm build of the smoke book (papermill + jupyter-book), one fresh cache.

Measures, in one run, with a fresh temporary ``PAPERLIB_CACHE`` (nothing outside the temporary
folder is read from or written to the artifact cache):

* ``cold``: ``papermill nbs/<chapter>.ipynb <tmp>/cold/<chapter>.ipynb -p profile smoke`` for every
  chapter in ``nbs/`` (today only ``05_shuffling``): trains every model, extracts, clusters, scores
  and fills the cache;
* ``warm``: the same again into the temporary book folder: every model and score comes from the
  cache, so this is kernel start-up, imports, cache reads, plots and glue;
* ``kernel floor``: papermill of a one-cell notebook that only imports what the chapters import
  (``paperlib.experiment``, matplotlib, myst_nb): the part of ``warm`` no cache can remove;
* ``jupyter-book build``: ``jupyter-book build <tmp>/book -n -W --keep-going`` of a temporary copy
  of the book's sources assembled as ``tests/test_notebooks.py`` does (``book/intro.md``,
  ``book/claims.md``, ``book/_toc.yml``, the top-level ``_config.yml`` and the executed chapters).

Prints cold s, warm s, the warm / cold ratio, the floor and the build time. No goal is set for this
one (informational); the expectation is that warm is a small fraction of cold. Each command runs
once (papermill runs are minutes on 2 cores; repeating them would not fit the time budget).
Takes about 2-3 minutes on 2 idle CPU cores; the cold run is very sensitive to other work on the
machine (torch's default of one thread per core oversubscribes a shared machine; ``--threads 1``
sets ``OMP_NUM_THREADS`` for the kernels to compare).

Usage::

    python bench/bench_book.py [--notebooks 05_shuffling] [--keep] [--profile smoke] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _benchutil as bu  # noqa: E402

REPO = bu.REPO
BIN = Path(sys.executable).parent


def _run(cmd: list[str], env: dict, cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, cwd=str(cwd), capture_output=True, text=True)
    return time.perf_counter() - t0, res


def _papermill(nb: Path, out: Path, profile: str, env: dict) -> tuple[float, subprocess.CompletedProcess]:
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(BIN / "papermill"),
        "--no-progress-bar",
        str(nb),
        str(out),
        "-p",
        "profile",
        profile,
        "-k",
        "python3",
        "--cwd",
        str(out.parent),
    ]
    return _run(cmd, env, REPO)


def _check(label: str, res: subprocess.CompletedProcess) -> bool:
    if res.returncode != 0:
        print(f"{label} FAILED (exit {res.returncode}):\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}", file=sys.stderr)
        return False
    return True


def _slowest_cells(path: Path, n: int = 2) -> str:
    """The ``n`` slowest cells of an executed notebook (papermill's per-cell duration)."""
    import nbformat

    try:
        cells = nbformat.read(str(path), as_version=4).cells
    except Exception:  # noqa: BLE001 - diagnostics only
        return "?"
    durs = []
    for i, c in enumerate(cells):
        d = c.get("metadata", {}).get("papermill", {}).get("duration")
        if c.cell_type == "code" and d is not None:
            first = c.source.strip().splitlines()[0][:40] if c.source.strip() else ""
            durs.append((float(d), i, first))
    durs.sort(reverse=True)
    return "; ".join(f"cell {i} {d:.1f} s ({first!r})" for d, i, first in durs[:n])


def _models_trained(path: Path) -> int:
    """How many models a run trained: distinct ``train ...`` progress bars in its stderr outputs."""
    import re

    import nbformat

    try:
        cells = nbformat.read(str(path), as_version=4).cells
    except Exception:  # noqa: BLE001 - diagnostics only
        return -1
    text = "".join(
        o.get("text", "")
        for c in cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("name") == "stderr"
    )
    return len(set(re.findall(r"train (\S+ \S+ seed \d+)", text)))


def _floor_notebook(path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "smoke"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell(
            "import matplotlib.pyplot as plt\nfrom IPython.display import Markdown, display\nfrom myst_nb import glue\n"
            "from paperlib import claims, config, experiment, plots"
        ),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--notebooks", nargs="*", default=None, help="chapter stems in nbs/ (default: all)")
    p.add_argument("--profile", default="smoke", help="papermill -p profile (default smoke)")
    p.add_argument("--no-build", action="store_true", help="skip the jupyter-book build")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="set OMP_NUM_THREADS / MKL_NUM_THREADS for the kernels (default: unset, torch's default)",
    )
    args = p.parse_args(argv)

    nbs = sorted((REPO / "nbs").glob("*.ipynb"))
    if args.notebooks:
        nbs = [REPO / "nbs" / f"{s.removesuffix('.ipynb')}.ipynb" for s in args.notebooks]
    tmp = Path(tempfile.mkdtemp(prefix="paperlib-bench-book-"))
    env = dict(os.environ)
    env["PAPERLIB_CACHE"] = str(tmp / "cache")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    if args.threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(args.threads)
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    pypath = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + pypath if pypath else "")  # paperlib from this checkout
    book = tmp / "book"
    book.mkdir()
    for f in ("intro.md", "claims.md", "_toc.yml"):
        shutil.copy(REPO / "book" / f, book / f)
    shutil.copy(REPO / "_config.yml", book / "_config.yml")

    print(bu.machine_line())
    print(
        f"chapters: {', '.join(n.stem for n in nbs)}; profile={args.profile}; PAPERLIB_CACHE={tmp / 'cache'} (fresh); "
        f"OMP_NUM_THREADS={env.get('OMP_NUM_THREADS', 'unset')}"
    )
    ok = True
    t_cold = t_warm = 0.0
    for nb in nbs:
        t, res = _papermill(nb, tmp / "cold" / nb.name, args.profile, env)
        ok &= _check(f"cold papermill {nb.name}", res)
        t_cold += t
        print(
            f"  cold {nb.name}: {t:.1f} s; models trained: {_models_trained(tmp / 'cold' / nb.name)}; "
            f"slowest: {_slowest_cells(tmp / 'cold' / nb.name)}",
            flush=True,
        )
    for nb in nbs:
        t, res = _papermill(nb, book / nb.name, args.profile, env)
        ok &= _check(f"warm papermill {nb.name}", res)
        t_warm += t
        print(
            f"  warm {nb.name}: {t:.1f} s; models trained: {_models_trained(book / nb.name)}; "
            f"slowest: {_slowest_cells(book / nb.name)}",
            flush=True,
        )
    floor_nb = tmp / "floor" / "floor.ipynb"
    floor_nb.parent.mkdir()
    _floor_notebook(floor_nb)
    t_floor, res = _papermill(floor_nb, tmp / "floor" / "floor_out.ipynb", args.profile, env)
    ok &= _check("floor papermill", res)
    t_build = None
    if not args.no_build:
        t_build, res = _run([str(BIN / "jupyter-book"), "build", str(book), "-n", "-W", "--keep-going"], env, tmp)
        ok &= _check("jupyter-book build", res)
    ratio = t_warm / t_cold if t_cold else float("nan")

    rows = [
        (f"cold papermill ({len(nbs)} chapter(s), trains, fills the cache)", f"{t_cold:8.1f} s"),
        ("warm papermill (everything from the cache)", f"{t_warm:8.1f} s"),
        ("ratio  warm / cold", f"{ratio:8.3f} x  (no goal set; informational)"),
        ("kernel floor (papermill of the chapters' imports only)", f"{t_floor:8.1f} s"),
        ("warm minus floor (cache reads, plots, glue)", f"{t_warm - len(nbs) * t_floor:8.1f} s"),
    ]
    if t_build is not None:
        rows.append(("jupyter-book build -n -W of the executed book", f"{t_build:8.1f} s"))
    width = max(len(n) for n, _ in rows) + 2
    for n, v in rows:
        print(f"{n + ':':<{width}}{v}")
    print("all commands succeeded" if ok else "SOME COMMANDS FAILED (see stderr)")
    if args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    bu.emit(
        {
            "name": "book",
            "ratio": ratio,
            "goal": None,
            "goal_op": None,
            "met": None,
            "cold_s": t_cold,
            "warm_s": t_warm,
            "floor_s": t_floor,
            "build_s": t_build,
            "ok": ok,
        }
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
