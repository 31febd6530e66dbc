"""The book's build step after papermill: executed chapters get their parameter cells folded away.

Papermill writes the parameters a chapter ran with into a cell tagged ``injected-parameters``, right
after the notebook's own ``parameters`` cell. Both are bookkeeping for a reader of the rendered
book, so :func:`fold_parameters` tags them ``hide-input`` (Jupyter Book shows a one-line "show
code" toggle instead of the code). ``python -m paperlib.book FILE...`` does it in place.

:func:`check_injected_parameters`, called by a chapter right after its parameters, stops it when
papermill injected a parameter the chapter does not define (``-p seed '[0, 1]'`` for ``seeds``), which
would otherwise run the chapter with its defaults and exit 0.

:func:`write_results` writes a chapter's tables as CSV files for a reader to download, and
:func:`collect_claims` gathers every chapter's verdicts into one ``claims.csv`` for the claims page
(``python -m paperlib.book --results DIR FILE...`` does both steps after papermill).
The files and their columns are documented once, in :func:`write_results`.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = [
    "PARAMETER_TAGS",
    "CLAIM_COLUMNS",
    "fold_parameters",
    "assigned_names",
    "check_injected_parameters",
    "claims_frame",
    "write_results",
    "collect_claims",
    "glue_all",
    "glue_claim",
    "replace_generated",
    "regenerate",
]

#: The columns of a ``*_claims.csv`` file and of ``claims.csv``.
CLAIM_COLUMNS = ("number", "claim", "verdict", "paper", "measured", "explanation", "seeds", "chapter")

#: The file every chapter's claims are gathered into, in the results folder.
CLAIMS_FILE = "claims.csv"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

#: The first line of the cell papermill injects (its Python translator's comment).
INJECTED_HEADER = "# Parameters"

#: Tags of the cells that hold a chapter's parameters (papermill's convention).
PARAMETER_TAGS = ("parameters", "injected-parameters")


def fold_parameters(path: str | Path) -> int:
    """Tag the parameter cells of an executed notebook ``hide-input``, in place.

    Parameters
    ----------
    path : path-like
        An ``.ipynb`` file written by papermill.

    Returns
    -------
    int
        How many cells were tagged.
    """
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    n = 0
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if any(t in tags for t in PARAMETER_TAGS) and "hide-input" not in tags:
            tags.append("hide-input")
            n += 1
    nbformat.write(nb, path)
    return n


def assigned_names(source: str) -> set[str]:
    """The names a cell's top-level statements assign (``x = ...``, ``x: int = ...``, ``x += ...``).

    Examples
    --------
    >>> sorted(assigned_names("a = 1\\nb: int = 2\\nc = d = [3]"))
    ['a', 'b', 'c', 'd']
    """
    names = set()
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def check_injected_parameters(history: Sequence[str] | None = None) -> None:
    """Raise ``ValueError`` if papermill injected a parameter that the chapter's own parameters cell lacks.

    Parameters
    ----------
    history : sequence of str, optional
        The sources of the cells executed so far, in order (IPython's ``In``; read from the running
        kernel by default). The injected cell is the one starting with :data:`INJECTED_HEADER`; the
        chapter's own parameters cell is the one executed just before it. Without an injected cell
        (a chapter run by hand) there is nothing to check.

    Raises
    ------
    ValueError
        Naming each unknown parameter and listing the chapter's parameters.
    """
    if history is None:
        from IPython import get_ipython

        ip = get_ipython()
        history = list(ip.user_ns.get("In", [])) if ip is not None else []
    history = list(history)
    where = next((i for i, src in enumerate(history) if src.lstrip().startswith(INJECTED_HEADER)), None)
    if not where:  # None, or no cell before it
        return
    own = assigned_names(history[where - 1])
    unknown = sorted(assigned_names(history[where]) - own)
    if unknown:
        raise ValueError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {unknown} for this chapter (papermill -p); "
            f"its parameters are {sorted(own)}"
        )


def claims_frame(checks: Sequence, chapter: str = ""):
    """One row per claim check, columns :data:`CLAIM_COLUMNS`.

    Parameters
    ----------
    checks : sequence of paperlib.claims.ClaimCheck
    chapter : str
        The chapter that checked them (``05_shuffling``).

    Returns
    -------
    pandas.DataFrame
        ``len(checks)`` rows; ``seeds`` space-separated.
    """
    import pandas as pd

    rows = [
        {
            "number": c.number,
            "claim": c.claim,
            "verdict": c.verdict,
            "paper": c.paper,
            "measured": c.measured,
            "explanation": c.explanation,
            "seeds": " ".join(str(s) for s in c.seeds),
            "chapter": chapter,
        }
        for c in checks
    ]
    return pd.DataFrame(rows, columns=list(CLAIM_COLUMNS))


def write_results(
    chapter: str, tables: Mapping, results_dir: str | Path | None = None, checks: Sequence = ()
) -> dict[str, Path]:
    """Write a chapter's tables as ``<results_dir>/<chapter>_<name>.csv``, each atomically.

    Parameters
    ----------
    chapter : str
        The chapter's file name without suffix (``05_shuffling``).
    tables : mapping of str to pandas.DataFrame
        Table name (``scores``, ``accuracy``, ...) to the table; the index is written only where it is
        named (a pivot table's), the columns are those of the module docstring's table.
    results_dir : path-like, optional
        The folder, :func:`paperlib.config.results_root` (the chapter's ``results_dir`` parameter,
        else ``$PAPERLIB_RESULTS``, else the cache's ``results``).
    checks : sequence of paperlib.claims.ClaimCheck
        The chapter's claim checks, written as ``<chapter>_claims.csv`` (:func:`claims_frame`).

    Returns
    -------
    dict of str to pathlib.Path
        Table name to the file written.

    Raises
    ------
    ValueError
        A chapter or table name that is not a plain file name, or a table that is not a DataFrame,
        before anything is written.

    Notes
    -----
    A chapter ``NAME`` (``05_shuffling``) writes ``NAME_TABLE.csv`` into its results folder
    (``paperlib.config.results_root``; ``book/results`` in the built book). The tables and their
    columns:

    =====================  ================================================================================
    file                   columns (one row per ...)
    =====================  ================================================================================
    ``NAME_scores.csv``    ``arch, family, hierarchy, seed, loss, layer, depth, rel_depth, factor, ami,
                           purity`` (:func:`paperlib.experiment.run`): one row per model, probe point and
                           overclustering factor; ``depth`` is the probe point's index, ``rel_depth`` its
                           position in ``[0, 1]``; AMI and purity are averaged over superclasses without
                           weights
    ``NAME_accuracy.csv``  ``arch, family, hierarchy, seed, loss, accuracy, epochs, n_superclasses, gate``:
                           one row per trained model; ``accuracy`` is its superclass accuracy on the
                           validation split, ``gate`` the raw accuracy the claims' accuracy gate asks for
    ``NAME_claims.csv``    ``CLAIM_COLUMNS``: one row per claim the chapter checks
    ``claims.csv``         the same columns, every chapter's claims (the claims page's download)
    =====================  ================================================================================

    A chapter's other tables (Table B.1's purities, cross-seed ARI, out-of-distribution purity) keep the
    columns of the DataFrame the chapter shows. Claim columns: ``number`` (the claim in
    ``paperlib.claims.CLAIMS``), ``claim`` (the sentence), ``verdict`` (*reproduced*, *not
    reproduced* or *inconclusive*), ``paper`` (what the paper reports), ``measured`` (our numbers, the
    seeds and the accuracy gate), ``explanation`` (why this verdict), ``seeds`` (space-separated),
    ``chapter``.
    """
    import pandas as pd

    from . import cache, config

    tables = dict(tables)
    if checks:
        if "claims" in tables:
            raise ValueError("write_results: give the claims either as checks or as a 'claims' table, not both")
        tables["claims"] = claims_frame(checks, chapter)
    for name in [chapter, *tables]:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"write_results: {name!r} is not a plain file name (letters, digits, '_', '-', '.')")
    for name, table in tables.items():
        if not isinstance(table, pd.DataFrame):
            raise ValueError(f"write_results: table {name!r} is a {type(table).__name__}, not a pandas DataFrame")
    folder = config.results_root(results_dir)
    written = {}
    for name, table in tables.items():
        named_index = any(n is not None for n in table.index.names)
        buf = io.StringIO()
        table.to_csv(buf, index=named_index)
        path = folder / f"{chapter}_{name}.csv"
        cache.write_atomic(path, buf.getvalue().encode())
        written[name] = path
    return written


def collect_claims(results_dir: str | Path | None = None) -> Path:
    """Gather every ``*_claims.csv`` of the results folder into :data:`CLAIMS_FILE`, ordered by claim.

    Parameters
    ----------
    results_dir : path-like, optional
        As for :func:`write_results`.

    Returns
    -------
    pathlib.Path
        The file written (atomically); columns :data:`CLAIM_COLUMNS`, one row per claim.

    Raises
    ------
    FileNotFoundError
        No chapter wrote its claims there.
    """
    import pandas as pd

    from . import cache, config

    folder = config.results_root(results_dir)
    parts = sorted(p for p in folder.glob("*_claims.csv") if p.name != CLAIMS_FILE)
    if not parts:
        raise FileNotFoundError(f"no *_claims.csv in {folder}: run the chapters first")
    frame = pd.concat([pd.read_csv(p, dtype={"seeds": str}, keep_default_na=False) for p in parts])
    frame = frame.sort_values("number", kind="stable")[list(CLAIM_COLUMNS)]
    path = folder / CLAIMS_FILE
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    cache.write_atomic(path, buf.getvalue().encode())
    return path


def glue_all(values: Mapping[str, object], glue=None) -> None:
    """Glue every value for the chapter's text (``myst_nb.glue``, not displayed): a chapter's many
    ``glue(...)`` lines as one dict.

    Parameters
    ----------
    values : mapping of str to object
        Glue name to value. A string is glued as :class:`paperlib.claims.GlueText` (pasted as bare
        text, ``{glue:text}`NAME``), anything else (a figure, a table) as itself.
    glue : callable, optional
        ``myst_nb.glue`` (the default; tests pass their own).

    Raises
    ------
    ValueError
        A name that is not a non-empty string, before anything is glued.
    """
    from .claims import GlueText

    bad = [k for k in values if not isinstance(k, str) or not k]
    if bad:
        raise ValueError(f"glue_all: glue names must be non-empty strings, got {bad}")
    if glue is None:
        from myst_nb import glue
    for name, value in values.items():
        glue(name, GlueText(value) if isinstance(value, str) else value, display=False)


def glue_claim(check, glue=None) -> None:
    """Glue a claim check's verdict, measured text and explanation as ``claimN_verdict``,
    ``claimN_measured`` and ``claimN_explanation`` (the names the claims page pastes), and, where the
    check has table rows, its measured numbers as ``claimN_table`` (:meth:`paperlib.claims.ClaimCheck.table`)
    with their note as ``claimN_note``.

    Parameters
    ----------
    check : paperlib.claims.ClaimCheck
    glue : callable, optional
        As for :func:`glue_all`.
    """
    n = check.number
    glue_all(
        {
            f"claim{n}_verdict": check.verdict,
            f"claim{n}_measured": check.measured,
            f"claim{n}_explanation": check.explanation,
        },
        glue,
    )
    if check.rows:
        glue_all({f"claim{n}_table": check.table(), f"claim{n}_note": check.note}, glue)


def replace_generated(text: str, begin: str, end: str, content: str, where: str = "the page") -> str:
    r"""``text`` with what lies between the marker lines ``begin`` and ``end`` replaced by ``content``.

    The generated parts of the README and of the book's pages (tables that code renders) sit between
    such markers; ``scripts/*_table*.py`` rewrite them with :func:`regenerate`.

    Raises
    ------
    ValueError
        If ``text`` lacks either marker (``where`` names the file in the message).

    Examples
    --------
    >>> replace_generated("a\n<!-- t -->\nold\n<!-- /t -->\nb\n", "<!-- t -->\n", "<!-- /t -->\n", "new\n")
    'a\n<!-- t -->\nnew\n<!-- /t -->\nb\n'
    """
    head, b, rest = text.partition(begin)
    _, e, tail = rest.partition(end)
    if not (b and e):
        raise ValueError(f"{where} has no markers {begin.strip()} ... {end.strip()}")
    return head + begin + content + end + tail


def regenerate(path: str | Path, render, argv: Sequence[str]) -> int:
    """Rewrite ``path`` with ``render(its text)``; with ``--check`` in ``argv`` only compare, and return 1
    if the file differs from what ``render`` makes (a stale generated table), else 0."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    new = render(text)
    if "--check" in argv:
        return 0 if new == text else 1
    path.write_text(new, encoding="utf-8")
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m paperlib.book [--results DIR] FILE...``: fold the parameter cells, gather the claims."""
    parser = argparse.ArgumentParser(prog="python -m paperlib.book", description=main.__doc__)
    parser.add_argument("files", nargs="*", help="executed notebooks whose parameter cells to fold")
    parser.add_argument("--results", help="results folder whose *_claims.csv to gather into claims.csv")
    args = parser.parse_args(argv)
    for arg in args.files:
        print(f"{arg}: {fold_parameters(arg)} parameter cell(s) folded")
    if args.results:
        print(f"claims gathered into {collect_claims(args.results)}")


if __name__ == "__main__":  # python -m paperlib.book --results book/results book/*.ipynb
    main()
