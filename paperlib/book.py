"""The book's build step after papermill: executed chapters get their parameter cells folded away.

Papermill writes the parameters a chapter ran with into a cell tagged ``injected-parameters``, right
after the notebook's own ``parameters`` cell. Both are bookkeeping for a reader of the rendered
book, so :func:`fold_parameters` tags them ``hide-input`` (Jupyter Book shows a one-line "show
code" toggle instead of the code). ``python -m paperlib.book FILE...`` does it in place.

:func:`check_injected_parameters`, called by a chapter right after its parameters, stops it when
papermill injected a parameter the chapter does not define (``-p seed '[0, 1]'`` for ``seeds``), which
would otherwise run the chapter with its defaults and exit 0.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["PARAMETER_TAGS", "fold_parameters", "assigned_names", "check_injected_parameters"]

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


if __name__ == "__main__":  # python -m paperlib.book book/*.ipynb
    for arg in sys.argv[1:]:
        print(f"{arg}: {fold_parameters(arg)} parameter cell(s) folded")
