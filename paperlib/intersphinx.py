"""The book's links into the documentation of NumPy, PyTorch, scikit-learn, pandas and Matplotlib, offline.

Sphinx's ``intersphinx`` links a name such as ``pandas.DataFrame`` to its page in another project's
documentation by reading that project's inventory (``objects.inv``), which it fetches from the project's
site. The book is built offline with warnings as errors (``jupyter-book build -n -W``), where a fetch
fails the build. This Sphinx extension writes small inventories of the names the book's pages and
paperlib's docstrings use (:data:`INVENTORIES`) into the build folder before intersphinx reads them, so
those names link to the projects' pages without any download. A name missing from them renders as code
(``_config.yml`` exempts such references from ``-n``); add it here with the page it lives on.

Load it with ``sphinx: extra_extensions: [paperlib.intersphinx]`` in ``_config.yml``.
"""

from __future__ import annotations

import zlib
from pathlib import Path

__all__ = ["INVENTORIES", "inventory_bytes", "setup"]

#: project -> (root of its documentation, ((name, domain:role, page and anchor under the root), ...)).
INVENTORIES: dict[str, tuple[str, tuple[tuple[str, str, str], ...]]] = {
    "numpy": (
        "https://numpy.org/doc/stable/",
        (
            ("numpy.ndarray", "py:class", "reference/generated/numpy.ndarray.html#numpy.ndarray"),
            ("numpy.random.Generator", "py:class", "reference/random/generator.html#numpy.random.Generator"),
        ),
    ),
    "torch": (
        "https://docs.pytorch.org/docs/stable/",
        (
            ("torch.Tensor", "py:class", "tensors.html#torch.Tensor"),
            ("torch.nn.Module", "py:class", "generated/torch.nn.Module.html#torch.nn.Module"),
            ("torch.device", "py:class", "tensor_attributes.html#torch.device"),
            ("torch.Generator", "py:class", "generated/torch.Generator.html#torch.Generator"),
        ),
    ),
    "sklearn": (
        "https://scikit-learn.org/stable/",
        (
            (
                "sklearn.metrics.adjusted_mutual_info_score",
                "py:function",
                "modules/generated/sklearn.metrics.adjusted_mutual_info_score.html"
                "#sklearn.metrics.adjusted_mutual_info_score",
            ),
            (
                "sklearn.metrics.adjusted_rand_score",
                "py:function",
                "modules/generated/sklearn.metrics.adjusted_rand_score.html#sklearn.metrics.adjusted_rand_score",
            ),
            (
                "sklearn.cluster.AgglomerativeClustering",
                "py:class",
                "modules/generated/sklearn.cluster.AgglomerativeClustering.html#sklearn.cluster.AgglomerativeClustering",
            ),
            (
                "sklearn.cluster.KMeans",
                "py:class",
                "modules/generated/sklearn.cluster.KMeans.html#sklearn.cluster.KMeans",
            ),
        ),
    ),
    "pandas": (
        "https://pandas.pydata.org/docs/",
        (
            ("pandas.DataFrame", "py:class", "reference/api/pandas.DataFrame.html#pandas.DataFrame"),
            ("pandas.Series", "py:class", "reference/api/pandas.Series.html#pandas.Series"),
        ),
    ),
    "matplotlib": (
        "https://matplotlib.org/stable/",
        (
            (
                "matplotlib.figure.Figure",
                "py:class",
                "api/_as_gen/matplotlib.figure.Figure.html#matplotlib.figure.Figure",
            ),
            ("matplotlib.axes.Axes", "py:class", "api/_as_gen/matplotlib.axes.Axes.html#matplotlib.axes.Axes"),
        ),
    ),
}


def inventory_bytes(project: str, entries: tuple[tuple[str, str, str], ...]) -> bytes:
    """A Sphinx inventory (``objects.inv``, format version 2) of ``entries``.

    Parameters
    ----------
    project : str
        The project's name, for the header.
    entries : sequence of (name, role, uri)
        ``role`` as ``"py:class"``; ``uri`` relative to the project's documentation root.

    Returns
    -------
    bytes
        Four header lines, then one zlib-compressed line per entry: ``name role priority uri -``.

    Examples
    --------
    >>> inventory_bytes("numpy", (("numpy.ndarray", "py:class", "ndarray.html"),)).splitlines()[0]
    b'# Sphinx inventory version 2'
    """
    header = (
        f"# Sphinx inventory version 2\n# Project: {project}\n# Version: \n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    body = "".join(f"{name} {role} 1 {uri} -\n" for name, role, uri in entries)
    return header.encode() + zlib.compress(body.encode())


def _write_inventories(app, config) -> None:
    """On ``config-inited``, before intersphinx reads its mapping: write the inventories, map them."""
    folder = Path(app.doctreedir) / "paperlib-inventories"
    folder.mkdir(parents=True, exist_ok=True)
    mapping = dict(config.intersphinx_mapping or {})
    for project, (root, entries) in INVENTORIES.items():
        path = folder / f"{project}.inv"
        path.write_bytes(inventory_bytes(project, entries))
        mapping.setdefault(project, (root, str(path)))
    config.intersphinx_mapping = mapping


def setup(app) -> dict:
    """Sphinx's entry point: intersphinx, with this module's inventories in its mapping."""
    app.setup_extension("sphinx.ext.intersphinx")
    app.connect("config-inited", _write_inventories, priority=400)  # intersphinx normalises it at 800
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
