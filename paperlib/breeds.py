"""BREEDS class hierarchies (living-17, nonliving-26, entity-13) and ImageNet folder reading.

The paper (Sec. 3, Table A.1) trains on three BREEDS benchmarks of Santurkar, Tsipras & Madry
(ICLR 2021): living-17 (17 superclasses x 4 ImageNet classes), nonliving-26 (26 x 4) and entity-13,
which the paper reduces from 20 to 4 subclasses per superclass. Each dataset's *full* class list is
used (the BREEDS source/target split is not).

:func:`build_breeds` re-implements, without ``networkx``, exactly what
``robustness.tools.breeds_helpers`` (MadryLab ``robustness`` package) does in ``make_living17``,
``make_nonliving26`` and ``make_entity13`` with ``split=None``:

* ``ClassHierarchy(info_dir, root_wnid="n00001740")``: the parent graph keeps only the edges on
  upward paths from the 1000 ImageNet classes; a node's *level* is its **longest** path from the
  root ``entity``;
* ``BreedsDatasetGenerator.get_superclasses(level, ancestor, Nsubclasses, split=None,
  balanced=True, random_seed=2)``: superclasses are the nodes at ``level`` (within 20 steps below
  ``ancestor`` when given), sorted by wnid, that reach at least ``Nsubclasses`` ImageNet classes;
  with ``rng = numpy.random.RandomState(2)``, each superclass in that order gets
  ``rng.choice(sorted_leaf_wnids, Nsubclasses, replace=False)``.

======================  =====  ===========================  ============  ========
dataset                 level  ancestor                     Nsubclasses   kept
======================  =====  ===========================  ============  ========
``living17``            5      ``n00004258`` living thing   4             4
``nonliving26``         5      ``n00021939`` non-living     4             4
``entity13``            3      none (root ``n00001740``)    20            first 4
======================  =====  ===========================  ============  ========

For all three datasets BREEDS' ``split="rand"`` source + target subclasses, concatenated, are the
``split=None`` list in the same order (the same ``rng.choice`` draw, cut in two halves), so "no
split" and "source and target together" agree; this was checked against the original code.

The shipped class lists (``paperlib/resources/breeds/*.json``, written by
``scripts/make_breeds.py``) are read with :func:`load_breeds`; :func:`breeds_wnids` gives the
ImageNet wnids of a hierarchy's groups. :func:`find_imagenet_split` and :func:`imagenet_samples`
list the images of a hierarchy's classes in a local ImageNet folder
(``root/{train,val}/<wnid>/*.JPEG``).

Importing this module has no side effects.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from .hierarchy import Hierarchy

__all__ = [
    "BREEDS_DATASETS",
    "BREEDS_SPECS",
    "IMAGE_EXTENSIONS",
    "build_breeds",
    "build_breeds_with_wnids",
    "load_breeds",
    "breeds_wnids",
    "find_imagenet_split",
    "imagenet_samples",
]

#: Names of the BREEDS datasets handled here.
BREEDS_DATASETS: tuple[str, ...] = ("living17", "nonliving26", "entity13")

#: Arguments of ``BreedsDatasetGenerator.get_superclasses`` in ``make_<name>`` of
#: ``robustness.tools.breeds_helpers`` (``balanced=True``, ``random_seed=2`` for all), plus
#: ``keep``: how many of the drawn subclasses this package keeps (the paper's 4 per superclass).
BREEDS_SPECS: dict[str, dict] = {
    "living17": {"level": 5, "ancestor": "n00004258", "n_subclasses": 4, "keep": 4},
    "nonliving26": {"level": 5, "ancestor": "n00021939", "n_subclasses": 4, "keep": 4},
    "entity13": {"level": 3, "ancestor": None, "n_subclasses": 20, "keep": 4},
}

_ROOT_WNID = "n00001740"  # "entity"
_RANDOM_SEED = 2
_TRAVERSE_DEPTH = 20  # ClassHierarchy.traverse default depth
_REQUIRED_FILES = ("dataset_class_info.json", "class_hierarchy.txt", "node_names.txt")

#: Image file suffixes accepted by :func:`imagenet_samples` (compared case-insensitively).
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpeg", ".jpg", ".png")

_SPLITS = ("train", "val")
_LAYOUT = (
    "expected layout: <root>/train/<wnid>/*.JPEG and <root>/val/<wnid>/*.JPEG (one folder per "
    "ImageNet class, named by its wnid, e.g. n01440764; this is also the folder torchvision's "
    "ImageNet(root) prepares), or <root>/ILSVRC/Data/CLS-LOC/<split>/<wnid>/; images may be "
    ".JPEG/.jpg/.jpeg/.png"
)


# --------------------------------------------------------------------------- hierarchy
def _check_name(name: str) -> None:
    if name not in BREEDS_SPECS:
        hint = ""
        if isinstance(name, str) and name.endswith("-shuffled"):
            hint = " (for a shuffled variant load the base hierarchy and call .shuffled(seed))"
        raise ValueError(
            f"unknown BREEDS dataset {name!r}; valid names: {', '.join(BREEDS_DATASETS)}{hint}"
        )


class _BreedsTree:
    """Minimal, dependency-free port of ``robustness.tools.breeds_helpers.ClassHierarchy``.

    Parameters
    ----------
    info_dir : str or path-like
        Folder with ``dataset_class_info.json``, ``class_hierarchy.txt`` and ``node_names.txt``.
    root_wnid : str, optional
        Root of the hierarchy (``"n00001740"``, *entity*).
    """

    def __init__(self, info_dir: str | os.PathLike, root_wnid: str = _ROOT_WNID) -> None:
        info_dir = Path(info_dir)
        missing = [f for f in _REQUIRED_FILES if not (info_dir / f).is_file()]
        if missing:
            raise FileNotFoundError(
                f"BREEDS info folder {str(info_dir)!r} lacks {missing}; it needs "
                f"{list(_REQUIRED_FILES)} (BREEDS-Benchmarks imagenet_class_hierarchy/modified/)"
            )
        class_info = json.loads((info_dir / "dataset_class_info.json").read_text())
        edges = [
            line.split() for line in (info_dir / "class_hierarchy.txt").read_text().splitlines()
        ]
        edges = [e for e in edges if e]
        mapping = [
            line.strip().split("\t")
            for line in (info_dir / "node_names.txt").read_text().splitlines()
            if line.strip()
        ]

        self.leaf_ids: list[str] = [c[1] for c in class_info]
        self.leaf_set = set(self.leaf_ids)
        self.leaf_id_to_num: dict[str, int] = {c[1]: int(c[0]) for c in class_info}
        self.leaf_num_to_name: dict[int, str] = {int(c[0]): c[2] for c in class_info}
        self.node_names: dict[str, str] = {m[0]: m[1] for m in mapping if len(m) >= 2}

        # full graph, then backward BFS from the leaves (ClassHierarchy._make_parent_graph)
        parents: dict[str, list[str]] = {}
        full_nodes: set[str] = set()
        for p, c in edges:
            parents.setdefault(c, []).append(p)
            full_nodes.update((p, c))
        self.children: dict[str, set[str]] = {}
        todo = {n for n in self.leaf_ids if n in full_nodes}
        while todo:
            nxt = set()
            for w in todo:
                for p in parents.get(w, ()):
                    self.children.setdefault(p, set()).add(w)
                    nxt.add(p)
            todo = nxt
        graph_nodes = set(self.children) | {c for cs in self.children.values() for c in cs}
        if root_wnid not in graph_nodes:
            raise ValueError(f"root {root_wnid!r} is not an ancestor of any dataset class")

        # levels: longest path from the root (ClassHierarchy._make_level_dict)
        self.level: dict[str, int] = {}
        wave = {(root_wnid, 0)}
        while wave:
            nxt = set()
            for n, d in wave:
                self.level[n] = max(d, self.level.get(n, d))
                for c in self.children.get(n, ()):
                    nxt.add((c, d + 1))
            wave = nxt

    def successors(self, n: str) -> set[str]:
        """Children of ``n`` in the pruned graph."""
        return self.children.get(n, set())

    def leaves_reachable(self, n: str) -> set[str]:
        """ImageNet classes below ``n``; the descent stops at ImageNet classes."""
        leaves: set[str] = set()
        todo = {n}
        while todo:
            nxt = set()
            for w in todo:
                for p in self.successors(w):
                    if p in self.leaf_set:
                        leaves.add(p)
                    else:
                        nxt.add(p)
            todo = nxt
        if n in self.leaf_set:
            leaves.add(n)
        return leaves

    def nodes_at_level(self, level: int, ancestor: str | None = None) -> set[str]:
        """Nodes whose level is ``level``, restricted to 20 steps below ``ancestor`` if given."""
        nodes = {n for n, lv in self.level.items() if lv == level}
        if ancestor is not None:
            valid, frontier = set(), [ancestor]
            for _ in range(_TRAVERSE_DEPTH + 1):
                valid.update(frontier)
                frontier = [c for n in frontier for c in self.successors(n)]
            nodes &= valid
        return nodes

    def node_name(self, n: str) -> str:
        """Name of a hierarchy node (its wnid when unnamed)."""
        return self.node_names.get(n, n)

    def get_superclasses(
        self, level: int, n_subclasses: int, ancestor: str | None, random_seed: int = _RANDOM_SEED
    ) -> tuple[list[str], list[list[str]]]:
        """``BreedsDatasetGenerator.get_superclasses`` with ``split=None, balanced=True``.

        Returns
        -------
        superclass_wnids : list of str
            Superclass nodes, sorted by wnid.
        subclass_wnids : list of list of str
            For each superclass, the ``n_subclasses`` ImageNet wnids in the order drawn by
            ``RandomState(random_seed).choice(sorted_leaves, n_subclasses, replace=False)``.
        """
        rng = np.random.RandomState(random_seed)
        rel_nodes = sorted(self.nodes_at_level(level, ancestor=ancestor))
        in_desc = [sorted(self.leaves_reachable(n)) for n in rel_nodes]
        if not rel_nodes or min(len(d) for d in in_desc) == 0:
            raise ValueError(f"no usable superclasses at level {level} below {ancestor}")
        keep = [i for i, d in enumerate(in_desc) if len(d) >= n_subclasses]
        superclasses = [rel_nodes[i] for i in keep]
        drawn = [
            [str(w) for w in rng.choice(in_desc[i], n_subclasses, replace=False)] for i in keep
        ]
        return superclasses, drawn


def build_breeds_with_wnids(
    name: str, info_dir: str | os.PathLike
) -> tuple[Hierarchy, list[list[str]], list[str]]:
    """Like :func:`build_breeds`, also returning the wnids of subclasses and superclasses.

    Parameters
    ----------
    name : {"living17", "nonliving26", "entity13"}
        BREEDS dataset.
    info_dir : str or path-like
        Folder with the BREEDS hierarchy files (see :func:`build_breeds`).

    Returns
    -------
    hierarchy : Hierarchy
        As returned by :func:`build_breeds`.
    wnids : list of list of str
        ``wnids[s][j]`` is the ImageNet wnid of subclass ``hierarchy.groups[s][j]``.
    superclass_wnids : list of str
        WordNet id of each superclass node.
    """
    _check_name(name)
    spec = BREEDS_SPECS[name]
    tree = _BreedsTree(info_dir)
    sup_wnids, drawn = tree.get_superclasses(
        spec["level"], spec["n_subclasses"], spec["ancestor"], random_seed=_RANDOM_SEED
    )
    wnids = [d[: spec["keep"]] for d in drawn]
    n_leaves = max(tree.leaf_num_to_name) + 1
    hierarchy = Hierarchy(
        name=name,
        superclasses=tuple(tree.node_name(w) for w in sup_wnids),
        groups=tuple(tuple(tree.leaf_id_to_num[w] for w in g) for g in wnids),
        subclass_names=tuple(tree.leaf_num_to_name.get(i, str(i)) for i in range(n_leaves)),
    )
    return hierarchy, wnids, list(sup_wnids)


def build_breeds(name: str, info_dir: str | os.PathLike) -> Hierarchy:
    """Derive a BREEDS hierarchy from the BREEDS hierarchy files, as the BREEDS code does.

    Reproduces ``make_<name>(info_dir, split=None)`` of ``robustness.tools.breeds_helpers`` (see the
    module docstring for the algorithm and its arguments) and keeps the full class list (BREEDS'
    source and target subclasses together). For ``"entity13"``, which BREEDS builds with 20
    subclasses per superclass, only the **first 4 in BREEDS order** are kept, as in the paper's
    13 x 4 variant.

    *BREEDS order* of a superclass's subclasses is the order in which BREEDS draws them:
    ``numpy.random.RandomState(2).choice(leaves, 20, replace=False)`` where ``leaves`` are the
    superclass's reachable ImageNet wnids sorted as strings, and one generator is shared by the
    superclasses taken in sorted-wnid order. It is the order of the lists ``make_entity13`` returns;
    with ``split="rand"`` the kept 4 are the first 4 of the 10 *source* subclasses. Superclasses are
    in BREEDS order too (sorted by wnid), so superclass id ``s`` is BREEDS' label ``s``.

    Parameters
    ----------
    name : {"living17", "nonliving26", "entity13"}
        BREEDS dataset.
    info_dir : str or path-like
        Folder holding ``class_hierarchy.txt``, ``dataset_class_info.json`` and ``node_names.txt``
        (BREEDS-Benchmarks ``imagenet_class_hierarchy/modified/``).

    Returns
    -------
    Hierarchy
        Named ``name``; superclass names are the BREEDS node names; ``groups[s]`` are ImageNet class
        indices (0..999) in BREEDS order; ``subclass_names`` are the 1000 ImageNet class names.

    Raises
    ------
    ValueError
        If ``name`` is not a known BREEDS dataset.
    FileNotFoundError
        If a hierarchy file is missing.

    Examples
    --------
    >>> h = build_breeds("living17", "../shared/data/breeds")  # doctest: +SKIP
    >>> h.superclasses[:3]  # doctest: +SKIP
    ('salamander', 'turtle', 'lizard')
    """
    return build_breeds_with_wnids(name, info_dir)[0]


@lru_cache(maxsize=None)
def _shipped(name: str) -> dict:
    text = resources.files("paperlib.resources.breeds").joinpath(f"{name}.json").read_text()
    return json.loads(text)


def load_breeds(name: str) -> Hierarchy:
    """The shipped BREEDS hierarchy ``name`` (``paperlib/resources/breeds/<name>.json``).

    The files are written by ``scripts/make_breeds.py`` with :func:`build_breeds`; no BREEDS files
    are needed at run time. Shuffled variants (``"<name>-shuffled"``) are the caller's job:
    ``load_breeds(name).shuffled(seed)``.

    Parameters
    ----------
    name : {"living17", "nonliving26", "entity13"}
        BREEDS dataset.

    Returns
    -------
    Hierarchy

    Raises
    ------
    ValueError
        If ``name`` is not a known BREEDS dataset.
    """
    _check_name(name)
    return Hierarchy.from_dict(_shipped(name))


@lru_cache(maxsize=1)
def _imagenet_id_to_wnid() -> dict[int, str]:
    table: dict[int, str] = {}
    for name in BREEDS_DATASETS:
        d = _shipped(name)
        for g, ws in zip(d["groups"], d["wnids"]):
            for c, w in zip(g, ws):
                table[int(c)] = w
    return table


def breeds_wnids(h: Hierarchy) -> list[list[str]]:
    """ImageNet wnids of a BREEDS-based hierarchy's subclasses, group by group.

    Works for the shipped hierarchies and for their ``.shuffled(seed)`` variants, since the ids are
    ImageNet class indices; the id -> wnid table comes from the shipped JSON files.

    Parameters
    ----------
    h : Hierarchy
        Hierarchy whose subclass ids are ImageNet class indices of BREEDS classes.

    Returns
    -------
    list of list of str
        ``result[s][j]`` is the wnid of ``h.groups[s][j]``.

    Raises
    ------
    KeyError
        If a subclass id is not a class of any shipped BREEDS dataset.
    """
    table = _imagenet_id_to_wnid()
    unknown = [c for g in h.groups for c in g if c not in table]
    if unknown:
        raise KeyError(
            f"hierarchy {h.name!r}: subclass ids {unknown[:5]} ({len(unknown)} in all) are not "
            f"classes of any shipped BREEDS dataset; pass the wnids explicitly"
        )
    return [[table[c] for c in g] for g in h.groups]


# --------------------------------------------------------------------------- ImageNet folders
def _has_class_dirs(folder: Path) -> bool:
    try:
        return any(e.is_dir() and e.name.startswith("n") for e in os.scandir(folder))
    except OSError:
        return False


def find_imagenet_split(root: str | os.PathLike, split: str) -> Path:
    """Folder holding one ``<wnid>/`` sub-folder per ImageNet class for ``split``.

    Accepted layouts, tried in this order:

    * ``root/<split>/<wnid>/`` (the usual one, and what torchvision's ``ImageNet(root)`` prepares);
    * ``root/ILSVRC/Data/CLS-LOC/<split>/<wnid>/`` (the ILSVRC/Kaggle tree, once ``val`` is sorted
      into class folders);
    * ``root`` itself when it is named ``<split>`` and holds wnid folders.

    Parameters
    ----------
    root : str or path-like
        ImageNet root folder.
    split : {"train", "val"}
        Split.

    Returns
    -------
    pathlib.Path
        The split folder.

    Raises
    ------
    ValueError
        If ``split`` is not ``"train"`` or ``"val"``.
    FileNotFoundError
        If ``root`` or the split folder does not exist; the message states the expected layout.
    """
    if split not in _SPLITS:
        raise ValueError(f"unknown ImageNet split {split!r}; valid: {', '.join(_SPLITS)}")
    root_path = Path(root).expanduser()
    if not root_path.is_dir():
        raise FileNotFoundError(
            f"ImageNet root {str(root_path)!r} does not exist or is not a folder "
            f"(split {split!r}); {_LAYOUT}"
        )
    candidates = [root_path / split, root_path / "ILSVRC" / "Data" / "CLS-LOC" / split]
    for c in candidates:
        if c.is_dir():
            return c
    if root_path.name == split and _has_class_dirs(root_path):
        return root_path
    raise FileNotFoundError(
        f"ImageNet root {str(root_path)!r} has no {split!r} split folder (looked for "
        f"{', '.join(repr(str(c)) for c in candidates)}); {_LAYOUT}"
    )


def _wnid_table(
    hierarchy: Hierarchy, wnids: Sequence[Sequence[str]] | Mapping[int, str] | None
) -> dict[int, str]:
    if wnids is None:
        wnids = breeds_wnids(hierarchy)
    if isinstance(wnids, Mapping):
        table = {int(k): str(v) for k, v in wnids.items()}
        missing = [c for g in hierarchy.groups for c in g if c not in table]
        if missing:
            raise ValueError(f"wnids lack subclass ids {missing[:5]} of {hierarchy.name!r}")
        return {c: table[c] for g in hierarchy.groups for c in g}
    if len(wnids) != len(hierarchy.groups) or any(
        len(w) != len(g) for w, g in zip(wnids, hierarchy.groups)
    ):
        raise ValueError(
            f"wnids must be parallel to the groups of {hierarchy.name!r} "
            f"(sizes {hierarchy.subclasses_per_superclass})"
        )
    return {c: str(w) for g, ws in zip(hierarchy.groups, wnids) for c, w in zip(g, ws)}


def imagenet_samples(
    root: str | os.PathLike,
    split: str,
    hierarchy: Hierarchy,
    wnids: Sequence[Sequence[str]] | Mapping[int, str] | None = None,
) -> tuple[list[str], np.ndarray]:
    """List the images of a hierarchy's classes in a local ImageNet split.

    All class folders are checked before any image is listed, so a wrong root fails fast.

    Parameters
    ----------
    root : str or path-like
        ImageNet root (see :func:`find_imagenet_split` for the accepted layouts).
    split : {"train", "val"}
        Split.
    hierarchy : Hierarchy
        Hierarchy whose subclass ids are ImageNet class indices.
    wnids : list of list of str, or mapping int -> str, optional
        wnids parallel to ``hierarchy.groups`` (as from :func:`breeds_wnids`), or a mapping from
        subclass id to wnid. Default: :func:`breeds_wnids` ``(hierarchy)``.

    Returns
    -------
    paths : list of str
        Image paths, sorted by subclass id, then file name.
    subclass_ids : numpy.ndarray of int64
        Subclass id (ImageNet class index) of each image.

    Raises
    ------
    FileNotFoundError
        If the root, the split folder or some class folders are missing, or a class folder holds
        no image; the message names the root, the split, the first missing wnids, how many are
        missing and the expected layout.
    """
    table = _wnid_table(hierarchy, wnids)
    split_dir = find_imagenet_split(root, split)
    order = sorted(table)
    missing = [table[c] for c in order if not (split_dir / table[c]).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"ImageNet root {str(Path(root))!r}, split {split!r} ({str(split_dir)!r}): "
            f"{len(missing)} of {len(order)} class folders of {hierarchy.name!r} are missing, "
            f"e.g. {', '.join(missing[:5])}; {_LAYOUT}"
        )
    paths: list[str] = []
    labels: list[int] = []
    empty: list[str] = []
    for c in order:
        folder = split_dir / table[c]
        files = sorted(
            e.name
            for e in os.scandir(folder)
            if os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS and e.is_file()
        )
        if not files:
            empty.append(table[c])
        paths.extend(str(folder / f) for f in files)
        labels.extend([c] * len(files))
    if empty:
        raise FileNotFoundError(
            f"ImageNet root {str(Path(root))!r}, split {split!r} ({str(split_dir)!r}): "
            f"{len(empty)} of {len(order)} class folders of {hierarchy.name!r} hold no image, "
            f"e.g. {', '.join(empty[:5])}; {_LAYOUT}"
        )
    return paths, np.asarray(labels, dtype=np.int64)
