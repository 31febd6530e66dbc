"""Two-level label hierarchies: superclasses made of subclasses.

A :class:`Hierarchy` maps every subclass (a fine label, e.g. an ImageNet class or a CIFAR-100 fine
label) to exactly one superclass (the coarse label the models are trained on). Subclass ids are the
dataset's own fine-label ids; superclass ids are positions in :attr:`Hierarchy.superclasses`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Hierarchy:
    """A superclass -> subclasses mapping, validated on construction.

    Parameters
    ----------
    name : str
        Name of the hierarchy, e.g. ``"cifar100"`` or ``"entity13-shuffled"``.
    superclasses : tuple of str
        Superclass names; superclass id ``s`` is ``superclasses[s]``.
    groups : tuple of tuple of int
        ``groups[s]`` are the subclass ids of superclass ``s``. Every subclass id appears exactly once.
    subclass_names : tuple of str, optional
        Names of the subclasses, indexed by subclass id (``max id + 1`` entries); empty if unknown.

    Examples
    --------
    >>> h = Hierarchy("toy", ("a", "b"), ((0, 1), (2, 3)))
    >>> h.superclass_of(2)
    1
    >>> h.shuffled(seed=0).subclasses_per_superclass
    (2, 2)
    """

    name: str
    superclasses: tuple[str, ...]
    groups: tuple[tuple[int, ...], ...]
    subclass_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "superclasses", tuple(str(s) for s in self.superclasses))
        object.__setattr__(self, "groups", tuple(tuple(int(c) for c in g) for g in self.groups))
        object.__setattr__(self, "subclass_names", tuple(str(s) for s in self.subclass_names))
        if len(self.superclasses) != len(self.groups):
            raise ValueError(
                f"hierarchy {self.name!r}: {len(self.superclasses)} superclass names but {len(self.groups)} groups"
            )
        if len(set(self.superclasses)) != len(self.superclasses):
            raise ValueError(f"hierarchy {self.name!r}: duplicate superclass names")
        if any(len(g) == 0 for g in self.groups):
            raise ValueError(f"hierarchy {self.name!r}: every superclass needs at least one subclass")
        flat = [c for g in self.groups for c in g]
        if any(c < 0 for c in flat):
            raise ValueError(f"hierarchy {self.name!r}: subclass ids must be >= 0")
        if len(set(flat)) != len(flat):
            dup = sorted({c for c in flat if flat.count(c) > 1})
            raise ValueError(f"hierarchy {self.name!r}: subclasses {dup[:10]} belong to more than one superclass")
        if self.subclass_names and len(self.subclass_names) <= max(flat):
            raise ValueError(
                f"hierarchy {self.name!r}: {len(self.subclass_names)} subclass names "
                f"do not cover subclass id {max(flat)}"
            )

    # ------------------------------------------------------------------ views
    @property
    def n_superclasses(self) -> int:
        """Number of superclasses."""
        return len(self.groups)

    @property
    def subclasses(self) -> tuple[int, ...]:
        """All subclass ids, sorted."""
        return tuple(sorted(c for g in self.groups for c in g))

    @property
    def n_subclasses(self) -> int:
        """Number of subclasses in the hierarchy."""
        return sum(len(g) for g in self.groups)

    @property
    def subclasses_per_superclass(self) -> tuple[int, ...]:
        """``len(groups[s])`` for every superclass ``s``."""
        return tuple(len(g) for g in self.groups)

    def superclass_of(self, subclass: int) -> int:
        """Superclass id of one subclass id (``KeyError`` if it is not in the hierarchy)."""
        return self.sub_to_super()[int(subclass)]

    def sub_to_super(self) -> dict[int, int]:
        """Mapping ``subclass id -> superclass id``."""
        return {c: s for s, g in enumerate(self.groups) for c in g}

    def lookup(self, size: int | None = None) -> np.ndarray:
        """Dense lookup table from subclass id to superclass id.

        Parameters
        ----------
        size : int, optional
            Length of the table (default ``max subclass id + 1``).

        Returns
        -------
        numpy.ndarray of int64, shape ``(size,)``
            ``table[c]`` is the superclass of subclass ``c``, ``-1`` for ids outside the hierarchy.
        """
        size = max(self.subclasses) + 1 if size is None else size
        table = np.full(size, -1, dtype=np.int64)
        for c, s in self.sub_to_super().items():
            table[c] = s
        return table

    def superclass_labels(self, subclass: np.ndarray) -> np.ndarray:
        """Superclass of every image from its subclass id.

        Parameters
        ----------
        subclass : numpy.ndarray of int, shape ``(n_images,)``

        Returns
        -------
        numpy.ndarray of int64, shape ``(n_images,)``
            ``-1`` for subclasses outside the hierarchy.
        """
        subclass = np.asarray(subclass, dtype=np.int64)
        size = max(int(subclass.max(initial=-1)), max(self.subclasses)) + 1
        return self.lookup(size)[subclass]

    def subclass_name(self, subclass: int) -> str:
        """Name of a subclass id, or ``str(id)`` when names are unknown."""
        return self.subclass_names[subclass] if self.subclass_names else str(subclass)

    # ------------------------------------------------------------ transforms
    def shuffled(self, seed: int) -> Hierarchy:
        """A seeded random re-assignment of subclasses to superclasses (paper Sec. 5.1).

        The number of subclasses per superclass is kept; every subclass lands in exactly one
        superclass. Superclass names become ``"shuffled-<s>"`` since they no longer mean anything.

        Parameters
        ----------
        seed : int
            Seed of the permutation; the same seed always gives the same hierarchy.

        Returns
        -------
        Hierarchy
            Named ``"<name>-shuffled<seed>"``.
        """
        rng = np.random.default_rng(seed)
        flat = np.array([c for g in self.groups for c in g])
        perm = rng.permutation(flat)
        groups, start = [], 0
        for n in self.subclasses_per_superclass:
            groups.append(tuple(sorted(int(c) for c in perm[start : start + n])))
            start += n
        return Hierarchy(
            name=f"{self.name}-shuffled{seed}",
            superclasses=tuple(f"shuffled-{s}" for s in range(len(groups))),
            groups=tuple(groups),
            subclass_names=self.subclass_names,
        )

    def fine(self) -> Hierarchy:
        """Every subclass its own class: the labels of a model trained on subclass labels (paper Sec. 5.2).

        Returns
        -------
        Hierarchy
            Named ``"<name>-subclass"``, one superclass per subclass (named after it when names are known).

        Examples
        --------
        >>> Hierarchy("toy", ("a", "b"), ((0, 1), (2,))).fine().groups
        ((0,), (1,), (2,))
        """
        flat = sorted(c for g in self.groups for c in g)
        names = tuple(self.subclass_names[c] if self.subclass_names else f"subclass-{c}" for c in flat)
        return Hierarchy(
            name=f"{self.name}-subclass",
            superclasses=names,
            groups=tuple((c,) for c in flat),
            subclass_names=self.subclass_names,
        )

    # ------------------------------------------------------------------- io
    def to_dict(self) -> dict:
        """JSON-ready representation (inverse of :meth:`from_dict`)."""
        return {
            "name": self.name,
            "superclasses": list(self.superclasses),
            "groups": [list(g) for g in self.groups],
            "subclass_names": list(self.subclass_names),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Hierarchy:
        """Build from :meth:`to_dict` output."""
        return cls(
            name=d["name"],
            superclasses=tuple(d["superclasses"]),
            groups=tuple(tuple(g) for g in d["groups"]),
            subclass_names=tuple(d.get("subclass_names", ())),
        )

    def to_json(self) -> str:
        """Canonical JSON text (sorted keys), stable across runs: usable in cache keys."""
        return json.dumps(self.to_dict(), sort_keys=True)
