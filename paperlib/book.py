"""The book's build step after papermill: executed chapters get their parameter cells folded away.

Papermill writes the parameters a chapter ran with into a cell tagged ``injected-parameters``, right
after the notebook's own ``parameters`` cell. Both are bookkeeping for a reader of the rendered
book, so :func:`fold_parameters` tags them ``hide-input`` (Jupyter Book shows a one-line "show
code" toggle instead of the code). ``python -m paperlib.book FILE...`` does it in place.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["PARAMETER_TAGS", "fold_parameters"]

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


if __name__ == "__main__":  # python -m paperlib.book book/*.ipynb
    for arg in sys.argv[1:]:
        print(f"{arg}: {fold_parameters(arg)} parameter cell(s) folded")
