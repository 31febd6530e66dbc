"""Build the BREEDS class hierarchies from the BREEDS hierarchy files (used by ``make_breeds.py``).

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

:mod:`paperlib.breeds` reads the class lists this writes (through ``scripts/make_breeds.py``); nothing
at run time needs this module or the BREEDS files. Import it from ``scripts/`` (``make_breeds.py``
does; the tests load it by path).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from paperlib.breeds import BREEDS_SPECS, check_name
from paperlib.hierarchy import Hierarchy

__all__ = ["build_breeds", "build_breeds_with_wnids"]

_ROOT_WNID = "n00001740"  # "entity"
_RANDOM_SEED = 2
_TRAVERSE_DEPTH = 20  # ClassHierarchy.traverse default depth
_REQUIRED_FILES = ("dataset_class_info.json", "class_hierarchy.txt", "node_names.txt")


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
        edges = [line.split() for line in (info_dir / "class_hierarchy.txt").read_text().splitlines()]
        edges = [e for e in edges if e]
        mapping = [
            line.strip().split("\t") for line in (info_dir / "node_names.txt").read_text().splitlines() if line.strip()
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
        drawn = [[str(w) for w in rng.choice(in_desc[i], n_subclasses, replace=False)] for i in keep]
        return superclasses, drawn


def build_breeds_with_wnids(name: str, info_dir: str | os.PathLike) -> tuple[Hierarchy, list[list[str]], list[str]]:
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
    check_name(name)
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
